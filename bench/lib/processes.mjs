// Child processes of the bench: started on 127.0.0.1 and free ports, all killed on exit.
import { spawn } from 'node:child_process'
import { openSync, closeSync, readFileSync, readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const WATCHDOG = fileURLToPath(new URL('./watchdog.mjs', import.meta.url))
/** every process the bench started, with the signal that ends it when the bench exits */
const children = new Map()
/** CPU time (clock ticks) of the children that have been stopped, to tell the bench's own load
 * from other processes' on the machine */
let childTicks = 0

/** Children inherit no proxy settings: every request of the bench stays on loopback. */
export function cleanEnv (extra = {}) {
  const env = { ...process.env, ...extra }
  for (const k of Object.keys(env)) if (/^(https?|no|all)_proxy$/i.test(k)) delete env[k]
  delete env.NODE_OPTIONS
  // node reads and parses this CA file at every start (about 100 ms with Debian's bundle): a constant
  // added to every start measured would shrink their ratios, and nothing in the bench speaks TLS
  delete env.NODE_EXTRA_CA_CERTS
  return env
}

export function killAll () {
  for (const [child, signal] of children) if (child.exitCode === null && child.signalCode === null) child.kill(signal)
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
 * `wrap` is a command that execs the rest in the same process (`prlimit --nofile=N:N`).
 */
export function startNode (args, { name, ready, timeoutMs = 15_000, env = cleanEnv(), logFile, nodeArgs = [], wrap = [] }) {
  return startProcess([...wrap, process.execPath, ...nodeArgs, '--import', WATCHDOG, ...args], { name, ready, timeoutMs, env, logFile })
}

/**
 * Starts any command the same way: ready once `ready(stdoutSoFar)` or, for a program that prints
 * nothing, the async `probe()` (polled every 50 ms) returns a value. `killSignal` ends it when the
 * bench exits: SIGKILL for node (the watchdog covers the rest), SIGTERM for a master process that
 * must stop its workers itself.
 */
export function startProcess ([command, ...args], { name, ready = () => undefined, probe, timeoutMs = 15_000, env = cleanEnv(), logFile, killSignal = 'SIGKILL' }) {
  const errFd = logFile === undefined ? 'ignore' : openSync(logFile, 'a')
  const started = performance.now()
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', errFd] })
  if (typeof errFd === 'number') closeSync(errFd)
  children.set(child, killSignal)
  child.once('exit', () => children.delete(child))
  let out = ''
  return new Promise((resolve, reject) => {
    let polling
    const timer = setTimeout(() => fail(new Error(`${name} not ready after ${timeoutMs} ms`)), timeoutMs)
    const fail = (err) => {
      clearTimeout(timer)
      clearTimeout(polling)
      stop(child)
      const log = logFile === undefined ? '' : tail(logFile)
      reject(new Error(`${err.message}${out === '' ? '' : `\nstdout: ${out.slice(-800)}`}${log === '' ? '' : `\nstderr: ${log}`}`))
    }
    child.once('error', fail)
    child.once('exit', (code, signal) => fail(new Error(`${name} exited (${code ?? signal}) before it was ready`)))
    child.stdout.setEncoding('utf8')
    const onData = (d) => {
      out += d
      settle(ready(out))
    }
    const settle = (value) => {
      if (value === undefined) return
      clearTimeout(timer)
      clearTimeout(polling)
      child.removeAllListeners('exit')
      child.once('exit', () => children.delete(child))
      // from here on stdout (a gateway's request log) is read and dropped, not kept
      child.stdout.off('data', onData)
      child.stdout.resume()
      resolve({ child, pid: child.pid, value, startedAt: started, stop: (graceMs) => stop(child, graceMs) })
    }
    child.stdout.on('data', onData)
    if (probe !== undefined) {
      const poll = () => probe().then((value) => {
        if (child.exitCode !== null || child.signalCode !== null || !children.has(child)) return
        if (value === undefined) polling = setTimeout(poll, 50)
        else settle(value)
      })
      polling = setTimeout(poll, 50)
    }
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

/** Peak resident set size of a process so far in bytes (VmHWM), or undefined. */
export function peakRssOf (pid) {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? undefined : Number(m[1]) * 1024
  } catch {
    return undefined
  }
}

/** The processes whose parent is `pid` (Linux /proc). */
export function childPidsOf (pid) {
  const found = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) found.push(Number(entry))
    } catch {}
  }
  return found
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

/**
 * Counts CPU time of a process the bench ran but stop() did not see (a child that exits on its own,
 * a grandchild such as an nginx worker) as the bench's own.
 */
export function countOwnTicks (ticks) {
  childTicks += ticks
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
