import { readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { createServer, get, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { runCli, startCliServing, type ServingCli } from '../helpers/cli.js'
import { closeServer, freePort, listenOnLoopback } from '../helpers/loopback.js'
import { writeCapability } from '../helpers/gateway.js'

/**
 * `naftiko run --workers N`: a primary process checks the capabilities, serves the control port and
 * forks N workers that share the expose ports (node:cluster). Proven here with the built CLI and a
 * loopback upstream: which process answered a request is read from the request's log line (a
 * worker's lines carry its pid), the workers' pids from /proc (the primary's children).
 */
let upstream: Server
let origin: string
const held: ServerResponse[] = []

beforeAll(async () => {
  upstream = createServer((req: IncomingMessage, res: ServerResponse) => {
    if ((req.url ?? '').startsWith('/v1/slow')) {
      held.push(res)
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end('{"ships":["nautilus"]}')
  })
  origin = await listenOnLoopback(upstream)
})
afterAll(async () => {
  for (const res of held.splice(0)) res.destroy()
  await closeServer(upstream)
})

const FLEET = `
naftiko: "1.0.0-alpha2"
info:
  label: Fleet
  version: "1.0.0"
capability:
  consumes:
    - type: http
      namespace: fleet
      baseUri: "http://127.0.0.1:1/v1"
      resources:
        - name: ships
          path: /ships
          operations:
            - { name: list, method: GET }
        - name: slow
          path: /slow
          operations:
            - { name: slow, method: GET }
  exposes:
    - type: rest
      namespace: fleet-rest
      port: 0
      resources:
        - path: /ships
          operations:
            - { method: GET, call: fleet.list }
        - path: /slow
          operations:
            - { method: GET, call: fleet.slow }
`

const running: ServingCli[] = []
afterEach(async () => {
  for (const cli of running.splice(0)) {
    for (const pid of childrenOf(cli.child.pid as number)) kill(pid, 'SIGKILL')
    cli.child.kill('SIGKILL')
    await cli.exited
  }
})

async function startWorkers (extra: string[] = [], file?: string): Promise<ServingCli> {
  file ??= await writeCapability(FLEET)
  const cli = await startCliServing(['run', file, '--workers', '2', '--control-port', '0', '--base-uri', `fleet=${origin}/v1`, ...extra], {}, { exposes: 2, upstreams: 1 }, 30_000)
  running.push(cli)
  return cli
}

const urlOf = (cli: ServingCli, type: string): string => (cli.addresses.find((a) => a.type === type) as { url: string }).url

/** A GET on a connection of its own (no keep-alive agent): the primary hands each new connection to the next worker. */
function call (url: string): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    }).on('error', reject)
  })
}

/** The pids of a process's children (Linux /proc). */
function childrenOf (pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((p) => p !== '').map(Number)
  } catch {
    return []
  }
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

function kill (pid: number, signal: NodeJS.Signals): void {
  try { process.kill(pid, signal) } catch {}
}

/** The JSON log lines every process of the gateway wrote to the shared stderr. */
function logLines (cli: ServingCli): Array<Record<string, unknown>> {
  return cli.stderr().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
}

/** The pids of the log lines of requests to `route` on the REST expose. */
function servedBy (cli: ServingCli, route: string): number[] {
  return logLines(cli).filter((l) => l.msg === 'request' && l.expose === 'fleet-rest' && l.route === route).map((l) => l.pid as number)
}

async function until<T> (what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** Two ready workers, told apart from a worker still starting by the readiness of the control port. */
async function twoReadyWorkers (cli: ServingCli): Promise<number[]> {
  return until('two ready workers', async () => {
    const ready = await call(`${urlOf(cli, 'control')}/health/ready`)
    const pids = childrenOf(cli.child.pid as number)
    return ready.status === 200 && pids.length === 2 ? pids : undefined
  })
}

async function requestsCounted (cli: ServingCli): Promise<number> {
  const text = (await call(`${urlOf(cli, 'control')}/metrics`)).body
  return [...text.matchAll(/^naftiko_requests_total\{expose="fleet-rest",[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0)
}

describe('run --workers 2', () => {
  it('serves one port from both workers, prints the startup once, and /metrics merges their counts', async () => {
    const cli = await startWorkers()
    const workers = await twoReadyWorkers(cli)
    expect(cli.stdout().match(/rest fleet-rest listening on/g)).toHaveLength(1)
    expect(cli.stdout().match(/control control listening on/g)).toHaveLength(1)
    expect(cli.stdout()).toMatch(/^naftiko: 2 worker processes share these ports/m)
    expect(urlOf(cli, 'rest')).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)

    const answers = []
    for (let i = 0; i < 40; i++) answers.push(await call(`${urlOf(cli, 'rest')}/ships`))
    expect(answers.every((a) => a.status === 200 && a.body === '{"ships":["nautilus"]}')).toBe(true)

    // a worker's log lines reach stderr within a second
    const pids = await until('40 request log lines', () => { const p = servedBy(cli, '/ships'); return p.length === 40 ? p : undefined })
    expect(new Set(pids)).toEqual(new Set(workers))
    expect(pids.filter((p) => p === workers[0]).length).toBeGreaterThanOrEqual(10)
    expect(pids.filter((p) => p === workers[1]).length).toBeGreaterThanOrEqual(10)
    expect(await until('the merged count', async () => { const n = await requestsCounted(cli); return n === 40 ? n : undefined }, 3_000)).toBe(40)

    const status = JSON.parse((await call(`${urlOf(cli, 'control')}/status`)).body) as { workers: unknown, ready: boolean, exposes: unknown[] }
    expect(status).toMatchObject({ ready: true, workers: { configured: 2, ready: 2 } })
    expect(status.exposes).toHaveLength(2)
    expect(await cli.stop()).toBe(0)
  })

  it('starts another worker for one killed with SIGKILL; calls keep succeeding and both serve again', async () => {
    const cli = await startWorkers()
    const [victim, survivor] = await twoReadyWorkers(cli) as [number, number]
    process.kill(victim, 'SIGKILL')
    await until('the victim to be gone', () => !alive(victim) && !childrenOf(cli.child.pid as number).includes(victim))
    // while the replacement starts, the survivor serves every new connection
    for (let i = 0; i < 10; i++) expect((await call(`${urlOf(cli, 'rest')}/ships`)).status).toBe(200)
    const after = await twoReadyWorkers(cli)
    expect(after).toContain(survivor)
    const replacement = after.find((p) => p !== survivor) as number
    expect(replacement).not.toBe(victim)

    // log lines reach stderr in batches (at least every second): count once the earlier calls' lines are in
    let before = -1
    for (let seen = servedBy(cli, '/ships').length; seen !== before; seen = servedBy(cli, '/ships').length) {
      before = seen
      await new Promise((resolve) => setTimeout(resolve, 1200))
    }
    for (let i = 0; i < 20; i++) expect((await call(`${urlOf(cli, 'rest')}/ships`)).status).toBe(200)
    const pids = await until('30 request log lines', () => { const p = servedBy(cli, '/ships'); return p.length === before + 20 ? p.slice(before) : undefined })
    expect(new Set(pids)).toEqual(new Set([survivor, replacement]))
    const exited = await until('the log line of the restart', () => logLines(cli).find((l) => l.msg === 'worker exited unexpectedly: starting another'))
    expect(exited).toMatchObject({ workerPid: victim, signal: 'SIGKILL', pid: cli.child.pid })
    expect((await call(`${urlOf(cli, 'control')}/metrics`)).body).toMatch(/^naftiko_worker_restarts_total 1$/m)
    expect(await cli.stop()).toBe(0)
  })

  it('keeps the printed port when every worker dies at once (port 0 is chosen once)', async () => {
    const cli = await startWorkers()
    const workers = await twoReadyWorkers(cli)
    for (const pid of workers) process.kill(pid, 'SIGKILL')
    await until('both to be gone', () => !workers.some(alive))
    const after = await twoReadyWorkers(cli)
    expect(after.some((p) => workers.includes(p))).toBe(false)
    expect(await call(`${urlOf(cli, 'rest')}/ships`)).toEqual({ status: 200, body: '{"ships":["nautilus"]}' })
    expect(await cli.stop()).toBe(0)
  })

  it('forwards SIGHUP to every worker, which reloads its capability and stays up; /status shows what is served now', async () => {
    const file = await writeCapability(FLEET)
    const cli = await startWorkers([], file)
    const workers = await twoReadyWorkers(cli)
    const port = await freePort()
    await writeFile(file, FLEET.replace('version: "1.0.0"', 'version: "1.1.0"').replace('port: 0', `port: ${port}`))
    cli.child.kill('SIGHUP')
    const heard = await until('both workers to reload', () => {
      const pids = logLines(cli).filter((l) => String(l.msg).startsWith('capability reloaded')).map((l) => l.pid)
      return pids.length === 2 ? pids : undefined
    })
    expect(new Set(heard)).toEqual(new Set(workers))
    expect(childrenOf(cli.child.pid as number).sort()).toEqual([...workers].sort())
    expect(logLines(cli).some((l) => l.msg === 'worker exited unexpectedly: starting another')).toBe(false)
    const moved = `http://127.0.0.1:${port}`
    expect((await call(`${moved}/ships`)).status).toBe(200)
    const status = await until('the status to show the reload', async () => {
      const body = JSON.parse((await call(`${urlOf(cli, 'control')}/status`)).body) as { capability: { version: string }, exposes: Array<{ type: string, url: string }> }
      return body.capability.version === '1.1.0' ? body : undefined
    })
    expect(status.exposes.find((e) => e.type === 'rest')?.url).toBe(moved)
    expect(await cli.stop()).toBe(0)
  })

  it('on SIGTERM lets the slow calls in flight on both workers finish, then every process exits 0', async () => {
    const cli = await startWorkers()
    const workers = await twoReadyWorkers(cli)
    const slow = Array.from({ length: 6 }, async () => await call(`${urlOf(cli, 'rest')}/slow`))
    await until('6 calls held by the upstream', () => held.length === 6)
    cli.child.kill('SIGTERM')
    // draining: the control port, which closes last, says so
    const ready = await until('readiness to drop', async () => { const r = await call(`${urlOf(cli, 'control')}/health/ready`); return r.status === 503 ? r : undefined })
    expect(JSON.parse(ready.body)).toEqual({ status: 'DOWN', reason: 'draining' })
    expect(workers.every(alive)).toBe(true)
    for (const res of held.splice(0)) {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{"slow":true}')
    }
    const answers = await Promise.all(slow)
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200])
    expect(answers.every((a) => a.body === '{"slow":true}')).toBe(true)
    expect(await cli.exited).toBe(0)
    expect(workers.some(alive)).toBe(false)
    expect(new Set(servedBy(cli, '/slow'))).toEqual(new Set(workers))
  })

  it('stops with exit 1 and a clear error when workers keep dying', async () => {
    const cli = await startWorkers()
    const killed = new Set<number>()
    while (cli.child.exitCode === null && killed.size < 12) {
      const pids = await until('a worker to kill', () => {
        if (cli.child.exitCode !== null) return []
        const fresh = childrenOf(cli.child.pid as number).filter((p) => !killed.has(p))
        return fresh.length > 0 ? fresh : undefined
      })
      for (const pid of pids) {
        killed.add(pid)
        kill(pid, 'SIGKILL')
      }
    }
    expect(await cli.exited).toBe(1)
    // the sixth exit within the minute stops the gateway (a replacement forked just before may be killed too)
    expect(killed.size).toBeGreaterThanOrEqual(6)
    expect(logLines(cli).find((l) => l.level === 50)).toMatchObject({ msg: 'workers exited 6 times within 60 s: stopping the gateway' })
    expect([...killed].some(alive)).toBe(false)
  })
})

describe('run --workers: refused before any worker starts', () => {
  it('reports a bad capability once and exits 1', async () => {
    const bad = await writeCapability(FLEET.replace('call: fleet.list', 'call: fleet.lsit'))
    const result = await runCli(['run', bad, '--workers', '2', '--base-uri', `fleet=${origin}/v1`])
    expect(result.code).toBe(1)
    expect(result.stderr.match(/fleet\.lsit/g)).toHaveLength(1)
    expect(result.stderr).toMatch(/\.yaml:\d+:\d+: /)
    expect(result.stderr).not.toMatch(/starting workers|worker ready/)
    expect(result.stdout).toBe('')
  })

  it('is a usage error naming --workers for 0, abc, and NAFTIKO_WORKERS=abc', async () => {
    const file = await writeCapability(FLEET)
    const zero = await runCli(['run', file, '--workers', '0'])
    expect(zero.code).toBe(2)
    expect(zero.stderr).toMatch(/--workers must be between 1 and 1024, got 0/)
    const word = await runCli(['run', file, '--workers', 'abc'])
    expect(word.code).toBe(2)
    expect(word.stderr).toMatch(/--workers expects a whole number or auto, got "abc"/)
    const env = await runCli(['run', file], { NAFTIKO_WORKERS: 'abc' })
    expect(env.code).toBe(2)
    expect(env.stderr).toMatch(/--workers expects a whole number or auto/)
  })

  it('is a usage error for an MCP stdio expose', async () => {
    const file = await writeCapability(FLEET.replace(`        - path: /slow
          operations:
            - { method: GET, call: fleet.slow }
`, `        - path: /slow
          operations:
            - { method: GET, call: fleet.slow }
    - type: mcp
      namespace: fleet-stdio
      transport: stdio
      tools:
        - { name: list-ships, description: List ships, call: fleet.list }
`))
    const result = await runCli(['run', file, '--workers', '2', '--base-uri', `fleet=${origin}/v1`])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/--workers 2 cannot serve the MCP stdio expose "fleet-stdio"/)
    expect(result.stderr).not.toMatch(/starting workers/)
  })
})
