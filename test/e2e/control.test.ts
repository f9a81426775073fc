import { createServer, type Server } from 'node:http'
import { existsSync } from 'node:fs'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeServer, listenOnLoopback } from '../helpers/loopback.js'
import { startGateway, writeCapability, type Gateway } from '../helpers/gateway.js'

/**
 * The control port (a `type: control` expose, or `--control-port`): liveness, readiness that follows
 * startup and draining, Prometheus metrics of the requests every expose answers, and the status.
 */
let upstream: Server
let origin: string
let release: (() => void) | undefined

beforeAll(async () => {
  upstream = createServer((req, res) => {
    if ((req.url ?? '').startsWith('/v1/slow')) {
      release = () => { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"slow":true}') }
      return
    }
    if ((req.url ?? '').startsWith('/v1/broken')) {
      res.writeHead(503, { 'content-type': 'application/json' })
      res.end('{"error":{"message":"down","code":"overloaded"}}')
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end('{"ships":[]}')
  })
  origin = await listenOnLoopback(upstream)
})
afterAll(async () => { await closeServer(upstream) })

const capability = (control: string): string => `
naftiko: "1.0.0-alpha2"
info:
  label: Fleet
  version: "3.1.0"
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
        - name: broken
          path: /broken
          operations:
            - { name: broken, method: GET }
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
        - path: /broken
          operations:
            - { method: GET, call: fleet.broken }
    - type: mcp
      namespace: fleet-mcp
      port: 0
      tools:
        - { name: list-ships, description: List ships, call: fleet.list }
${control}
`

const getJson = async (url: string): Promise<{ status: number, body: any }> => {
  const answer = await request(url)
  return { status: answer.statusCode, body: await answer.body.json() }
}

const toolCall = (mcp: string, name: string): Promise<unknown> => request(mcp, {
  method: 'POST',
  headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
  body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: {} } }),
}).then(async (r) => await r.body.text())

describe('a capability\'s control expose', () => {
  let gateway: Gateway
  let control: string
  beforeAll(async () => {
    gateway = await startGateway(await writeCapability(capability(`    - type: control
      port: 0
      management:
        health: true
        info: true`)), { flags: { port: ['fleet-rest=0', 'fleet-mcp=0', 'control=0'], 'base-uri': [`fleet=${origin}/v1`] } })
    control = gateway.url('control')
  })
  afterAll(async () => { await gateway.close() })

  it('binds to loopback and answers liveness and readiness once every expose listens', async () => {
    expect(control).toMatch(/^http:\/\/(127\.0\.0\.1|localhost|\[::1\]):\d+/)
    expect(await getJson(`${control}/health/live`)).toEqual({ status: 200, body: { status: 'UP' } })
    expect(await getJson(`${control}/health/ready`)).toEqual({ status: 200, body: { status: 'UP' } })
  })

  it('reports the status: the capability, its exposes and addresses, the version', async () => {
    const { body } = await getJson(`${control}/status`)
    expect(body.capability).toMatchObject({ label: 'Fleet', version: '3.1.0' })
    expect(body.exposes.map((e: { type: string, namespace: string }) => `${e.type} ${e.namespace}`)).toEqual(['rest fleet-rest', 'mcp fleet-mcp', 'control control'])
    expect(body.ready).toBe(true)
    expect(typeof body.naftiko).toBe('string')
  })

  it('counts requests by expose, route or tool and status, with durations and upstream errors', async () => {
    for (let i = 0; i < 3; i++) await (await request(`${gateway.url('rest')}/ships`)).body.dump()
    await (await request(`${gateway.url('rest')}/broken`)).body.dump()
    await toolCall(gateway.url('mcp'), 'list-ships')
    await toolCall(gateway.url('mcp'), 'no-such-tool-' + 'x'.repeat(40))
    const answer = await request(`${control}/metrics`)
    expect(answer.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/)
    const text = await answer.body.text()
    expect(text).toContain('naftiko_requests_total{expose="fleet-rest",route="/ships",status="200"} 3')
    expect(text).toContain('naftiko_requests_total{expose="fleet-rest",route="/broken",status="503"} 1')
    expect(text).toContain('naftiko_upstream_errors_total{expose="fleet-rest",kind="status_503"} 1')
    expect(text).toContain('naftiko_requests_total{expose="fleet-mcp",route="tools/call list-ships",status="200"} 1')
    // a name a client makes up is never a label of its own
    expect(text).toContain('route="tools/call (unknown tool)"')
    expect(text).not.toContain('no-such-tool')
    expect(text).toMatch(/naftiko_request_duration_seconds_count\{expose="fleet-rest",route="\/ships"\} 3/)
    expect(text).toMatch(/naftiko_upstream_duration_seconds_count\{expose="fleet-rest",route="\/ships"\} 3/)
    expect(text).toMatch(/naftiko_process_cpu_seconds_total \d/)
  })

  it('counts each failed request once, however many fail at the same time', async () => {
    const before = await (await request(`${control}/metrics`)).body.text()
    const brokenBefore = Number(/naftiko_upstream_errors_total\{expose="fleet-rest",kind="status_503"\} (\d+)/.exec(before)?.[1])
    await Promise.all(Array.from({ length: 24 }, async (_, i) => (await request(`${gateway.url('rest')}${i % 2 === 0 ? '/broken' : '/ships'}`)).body.dump()))
    const text = await (await request(`${control}/metrics`)).body.text()
    const failed = brokenBefore + 12
    expect(text).toContain(`naftiko_requests_total{expose="fleet-rest",route="/broken",status="503"} ${failed}`)
    expect(text).toContain(`naftiko_upstream_errors_total{expose="fleet-rest",kind="status_503"} ${failed}`)
    const { body } = await getJson(`${control}/dashboard/data`)
    const row = (body.rows as Array<{ expose: string, name: string, requests: number, errors: number }>).find((r) => r.expose === 'fleet-rest' && r.name === 'GET /broken')
    expect(row).toMatchObject({ requests: failed, errors: failed })
    expect((body.recentErrors as Array<{ route: string }>).filter((e) => e.route === '/broken')).toHaveLength(failed)
  })

  it('answers other paths 404 and other methods 405, as envelopes', async () => {
    expect((await getJson(`${control}/config/reload`)).status).toBe(404)
    const post = await request(`${control}/health/live`, { method: 'POST' })
    expect(post.statusCode).toBe(405)
    await post.body.dump()
  })
})

describe('--control-port', () => {
  it('adds a control port to a capability that has none; it says "not ready" while in-flight requests drain', async () => {
    const gateway = await startGateway(await writeCapability(capability('')), {
      flags: { port: ['fleet-rest=0', 'fleet-mcp=0'], 'base-uri': [`fleet=${origin}/v1`], 'control-port': '0', 'shutdown-timeout': '5000' },
    })
    const control = gateway.url('control')
    expect((await getJson(`${control}/health/ready`)).status).toBe(200)
    const slow = request(`${gateway.url('rest')}/slow`)
    const arrived = (): boolean => release !== undefined
    for (let i = 0; i < 100 && !arrived(); i++) await new Promise((resolve) => setTimeout(resolve, 10))
    const closing = gateway.close()
    expect(await getJson(`${control}/health/ready`)).toEqual({ status: 503, body: { status: 'DOWN', reason: 'draining' } })
    release?.()
    expect(await (await slow).body.json()).toEqual({ slow: true })
    await closing
  })

  it('is not there unless asked for: no control port, no metrics recorded', async () => {
    const gateway = await startGateway(await writeCapability(capability('')), { flags: { port: ['fleet-rest=0', 'fleet-mcp=0'], 'base-uri': [`fleet=${origin}/v1`] } })
    try {
      expect(gateway.runtime.addresses.map((a) => a.type)).toEqual(['rest', 'mcp'])
    } finally {
      await gateway.close()
    }
  })
})

const OFFICIAL = new URL('../../../shared/corpus/naftiko-alpha2/src/test/resources/control/control-capability.yaml', import.meta.url).pathname

describe.skipIf(!existsSync(OFFICIAL))('the engine\'s control feature file', () => {
  it('serves health and status on its control port; what it does not serve yet is a warning', async () => {
    const gateway = await startGateway(OFFICIAL, { flags: { port: ['control=0'] } })
    try {
      const control = gateway.url('control')
      expect((await getJson(`${control}/health/live`)).body).toEqual({ status: 'UP' })
      expect((await getJson(`${control}/status`)).body.capability.label).toBe('Control Port Test Capability')
      expect(gateway.runtime.warnings.map((w) => w.message)).toContain('control observability.traces.local is not yet supported by this runtime; it loads, but is not served')
    } finally {
      await gateway.close()
    }
  })
})
