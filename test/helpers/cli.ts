import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'

export const CLI = new URL('../../dist/cli.js', import.meta.url).pathname

export interface CliResult { code: number | null, stdout: string, stderr: string }

/** Runs the built CLI to completion. */
export function runCli (args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

export interface RunningCli {
  child: ChildProcessWithoutNullStreams
  /** address lines printed by `naftiko run`, by expose type */
  urls: Map<string, string>
  stderr: () => string
  exited: Promise<number | null>
}

/** Starts `naftiko run` and resolves once every expose printed its address. */
export function startCli (args: string[], env: Record<string, string>, exposes: number): Promise<RunningCli> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env } })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  return new Promise((resolve, reject) => {
    const urls = new Map<string, string>()
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      for (const m of out.matchAll(/naftiko: (\w+) \S+ listening on (\S+)/g)) urls.set(m[1] as string, m[2] as string)
      if (urls.size >= exposes) resolve({ child, urls, stderr: () => stderr, exited })
    })
    void exited.then((code) => reject(new Error(`naftiko exited with ${String(code)} before listening: ${stderr}`)))
  })
}
