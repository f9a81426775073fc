import { Writable } from 'node:stream'
import { writeFile, mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { resolveOptions, type RuntimeFlags } from '../../src/options.js'
import { startRuntime, type Runtime } from '../../src/runtime.js'

/** Collects the runtime's log lines from a real pino stream. */
export class LogSink extends Writable {
  readonly lines: string[] = []
  private partial = ''
  override _write (chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    const text = this.partial + chunk.toString('utf8')
    const parts = text.split('\n')
    this.partial = parts.pop() ?? ''
    this.lines.push(...parts.filter((l) => l !== ''))
    done()
  }

  get text (): string { return this.lines.join('\n') + this.partial }
  entries (): Array<Record<string, unknown>> { return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>) }
}

export interface Gateway {
  runtime: Runtime
  logs: LogSink
  /** base URL of the first expose of that type */
  url (type?: string): string
  close (): Promise<void>
}

/** Starts the real runtime in this process on free loopback ports. */
export async function startGateway (file: string, options: { flags?: RuntimeFlags, env?: NodeJS.ProcessEnv } = {}): Promise<Gateway> {
  const logs = new LogSink()
  const flags: RuntimeFlags = { port: ['rest=0', 'mcp=0'], 'log-level': 'info', ...options.flags }
  const runtime = await startRuntime(file, resolveOptions(flags, options.env ?? {}), logs)
  return {
    runtime,
    logs,
    url (type = 'rest') {
      const found = runtime.addresses.find((a) => a.type === type)
      if (found === undefined) throw new Error(`no ${type} expose`)
      return found.url
    },
    close: () => runtime.close(),
  }
}

/** Writes a capability to a temporary folder and returns its path. */
export async function writeCapability (yaml: string, name = 'capability.yaml'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'naftiko-test-'))
  const file = join(dir, name)
  await writeFile(file, yaml)
  return file
}

export const CHAT_CAPABILITY = new URL('../../capabilities/chat-completions.yaml', import.meta.url).pathname
export const CHAT_NAMESPACE = 'chat-completions-chat-completions'
