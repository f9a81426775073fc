// Child processes of the bench: started on 127.0.0.1 and free ports, all killed on exit.
import { spawn } from 'node:child_process'
import { openSync, closeSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const WATCHDOG = fileURLToPath(new URL('./watchdog.mjs', import.meta.url))
const children = new Set()
/** CPU time (clock ticks) of the children that have been stopped, to tell the bench's own load
 * from other processes' on the machine */
let childTicks = 0

/** Children inherit no proxy settings: every request of the bench stays on loopback. */
export function cleanEnv (extra = {}) {
  const env = { ...process.env, ...extra }
  for (const k of Object.keys(env)) if (/^(https?|no|all)_proxy$/i.test(k)) delete env[k]
  delete env.NODE_OPTIONS
  return env
}

export function killAll (signal = 'SIGKILL') {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill(signal)
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    killAll()
    process.stderr.write(`bench: ${signal}, children killed\n`)
    process.exit(130)
  })
}
process.on('exit', () => killAll())

/**
 * Starts `node [--import watchdog] ...args`; resolves once `ready(stdoutSoFar)` returns a value
 * (or rejects after `timeoutMs`, or when the process exits first). stderr goes to `logFile`.
 */
export function startNode (args, { name, ready, timeoutMs = 15_000, env = cleanEnv(), logFile, nodeArgs = [] }) {
  const errFd = logFile === undefined ? 'ignore' : openSync(logFile, 'a')
  const started = performance.now()
  const child = spawn(process.execPath, [...nodeArgs, '--import', WATCHDOG, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', errFd] })
  if (typeof errFd === 'number') closeSync(errFd)
  children.add(child)
  child.once('exit', () => children.delete(child))
  let out = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${name} not ready after ${timeoutMs} ms`)), timeoutMs)
    const fail = (err) => {
      clearTimeout(timer)
      stop(child)
      const log = logFile === undefined ? '' : tail(logFile)
      reject(new Error(`${err.message}${out === '' ? '' : `\nstdout: ${out.slice(-800)}`}${log === '' ? '' : `\nstderr: ${log}`}`))
    }
    child.once('error', fail)
    child.once('exit', (code, signal) => fail(new Error(`${name} exited (${code ?? signal}) before it was ready`)))
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (d) => {
      out += d
      const value = ready(out)
      if (value === undefined) return
      clearTimeout(timer)
      child.removeAllListeners('exit')
      child.once('exit', () => children.delete(child))
      resolve({ child, pid: child.pid, value, startedAt: started, stop: (graceMs) => stop(child, graceMs) })
    })
  })
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export function stop (child, graceMs = 2000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  childTicks += ticksOf(child.pid)
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    child.once('exit', () => { clearTimeout(timer); resolve() })
    child.kill('SIGTERM')
  })
}

/** Resident set size of a process in bytes (Linux /proc), or undefined. */
export function rssOf (pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? undefined : Number(m[1]) * 1024
  } catch {
    return undefined
  }
}

/** CPU time a process has used so far, in clock ticks (USER_HZ, 100 per second on Linux). */
export function ticksOf (pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(fields[11]) + Number(fields[12])
  } catch {
    return 0
  }
}

/** Machine-wide CPU ticks (busy, total) from /proc/stat. */
export function machineTicks () {
  try {
    const [, ...v] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number)
    const [user, nice, system, idle, iowait, irq, softirq, steal] = v
    const busy = user + nice + system + irq + softirq + steal
    return { busy, total: busy + idle + iowait }
  } catch {
    return { busy: NaN, total: NaN }
  }
}

/** Ticks used by the bench and its stopped children so far (USER_HZ is 100 on Linux). */
export function ownTicks () {
  const { user, system } = process.cpuUsage()
  return childTicks + (user + system) / 10_000
}

function tail (file) {
  try {
    return readFileSync(file, 'utf8').slice(-1500)
  } catch {
    return ''
  }
}

export { ROOT }
