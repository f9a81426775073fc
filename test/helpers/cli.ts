import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'

export const CLI = new URL('../../dist/cli.js', import.meta.url).pathname

export interface CliResult { code: number | null, stdout: string, stderr: string }

/** Runs the built CLI (or the bin at `cli`) to completion. */
export function runCli (args: string[], env: Record<string, string> = {}, cli = CLI): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { env: { PATH: process.env.PATH ?? '', ...env } })
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

export interface ServingCli {
  child: ChildProcessWithoutNullStreams
  /** every expose's address line: type, namespace and URL */
  addresses: Array<{ type: string, namespace: string, url: string }>
  /** namespace -> the startup summary's `consumes NAMESPACE -> ...` text after the arrow */
  upstreams: Map<string, string>
  stdout: () => string
  stderr: () => string
  exited: Promise<number | null>
  /** SIGTERM, then waits for the exit code */
  stop: () => Promise<number | null>
}

/**
 * Starts `naftiko run` and resolves once it printed its whole startup summary: `exposes` address
 * lines and a `consumes` line for each of `upstreams` consumed namespaces (printed last).
 */
export function startCliServing (args: string[], env: Record<string, string>, counts: { exposes: number, upstreams: number }, timeoutMs = 20_000): Promise<ServingCli> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env } })
  let stderr = ''
  let out = ''
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  const stop = (): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    return exited
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`naftiko printed no whole startup summary within ${timeoutMs} ms: stdout ${out} stderr ${stderr}`))
    }, timeoutMs)
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      const addresses = [...out.matchAll(/^naftiko: (\w+) (\S+) listening on (\S+)\n/gm)].map((m) => ({ type: m[1] as string, namespace: m[2] as string, url: m[3] as string }))
      const upstreams = new Map([...out.matchAll(/^naftiko: consumes (\S+) -> (.*)\n/gm)].map((m) => [m[1] as string, m[2] as string]))
      if (addresses.length >= counts.exposes && upstreams.size >= counts.upstreams) {
        clearTimeout(timer)
        resolve({ child, addresses, upstreams, stdout: () => out, stderr: () => stderr, exited, stop })
      }
    })
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`naftiko exited with ${String(code)} before its startup summary: ${stderr}`))
    })
  })
}
