import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { StartupError } from '../../src/errors/startup-error.js'
import { startGateway, writeCapability, type Gateway } from '../helpers/gateway.js'
import { connectModernClient, type McpTestClient } from '../helpers/mcp-clients.js'

/**
 * Orchestration steps and aggregate refs over real sockets: a node:http upstream that records
 * every request and delays the ship and crew answers by 150 ms each, and the real runtime.
 */
const DELAY = 150

interface Upstream { url: string, hits: string[], server: Server, inFlight: { now: number, max: number } }

async function startUpstream (): Promise<Upstream> {
  const hits: string[] = []
  // delayed answers under way at once: 2 shows two steps called concurrently, whatever the machine's load
  const inFlight = { now: 0, max: 0 }
  const json = (res: ServerResponse, status: number, value: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value))
  }
  const later = (fn: () => void): void => {
    inFlight.max = Math.max(inFlight.max, ++inFlight.now)
    setTimeout(() => { inFlight.now--; fn() }, DELAY)
  }
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://upstream')
    hits.push(`${req.method ?? ''} ${url.pathname}${url.search}`)
    const ship = /^\/ships\/([^/]+)$/.exec(url.pathname)
    if (ship !== null) { later(() => json(res, 200, { imo_number: ship[1], vessel_name: 'Aurora', flag_code: 'NO', assignedCrew: ['C2', 'C1'] })); return }
    switch (url.pathname) {
      case '/crew': later(() => json(res, 200, [{ crewId: 'C1', fullName: 'Ada', role: 'captain' }, { crewId: 'C2', fullName: 'Bo', role: 'cook' }])); return
      case '/echo': json(res, 200, { id: url.searchParams.get('id') }); return
      case '/fail': json(res, 500, { error: { message: 'registry is down', code: 'down' } }); return
      case '/after': json(res, 200, {}); return
      case '/v1/forecast': json(res, 200, { forecast: 'sunny' }); return
      case '/v1/items': json(res, 200, { items: 'a,b' }); return
      case '/voyages/V1': json(res, 200, { voyageId: 'V1', status: 'planned' }); return
      default: json(res, 404, { error: { message: 'no such route' } })
    }
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits, server, inFlight }
}

/** A YAML block re-indented to sit at `spaces` under its parent. */
const at = (block: string, spaces: number): string => block.replaceAll('\n', `\n${' '.repeat(spaces)}`)

const STEPS = `
steps:
- {type: call, name: ship, call: up.get-ship, with: {imo_number: '{{imo}}'}}
- {type: call, name: crew, call: up.list-crew}
- {type: lookup, name: resolve, index: crew, match: crewId, lookupValue: $.ship.assignedCrew, outputParameters: [fullName, role]}
mappings:
- {targetName: imo, value: $.ship.imo_number}
- {targetName: vessel.name, value: $.ship.vessel_name}
- {targetName: vessel.flag, value: $.ship.flag_code}
- {targetName: crew, value: $.resolve}`
const CHAIN = `
steps:
- {type: call, name: ship, call: up.get-ship, with: {imo_number: '{{imo}}'}}
- {type: call, name: echo, call: up.echo, with: {id: 'seen-{{ship.imo_number}}'}}
mappings:
- {targetName: echoed, value: $.echo.id}`
const FAILING = `
steps:
- {type: call, name: ship, call: up.get-ship, with: {imo_number: '{{imo}}'}}
- {type: call, name: registry, call: up.fail, with: {imo: '{{ship.imo_number}}'}}
- {type: call, name: notify, call: up.after, with: {id: '{{registry.id}}'}}`

const CAPABILITY = `naftiko: 1.0.0-alpha2
capability:
  consumes:
  - type: http
    namespace: up
    baseUri: http://upstream.invalid
    resources:
    - name: ships
      path: /ships/{{imo_number}}
      operations:
      - {name: get-ship, method: GET}
    - name: crew
      path: /crew
      operations:
      - {name: list-crew, method: GET}
    - name: echo
      path: /echo
      operations:
      - name: echo
        method: GET
        inputParameters:
        - {name: id, in: query}
    - name: fail
      path: /fail
      operations:
      - {name: fail, method: GET}
    - name: after
      path: /after
      operations:
      - {name: after, method: GET}
  exposes:
  - type: rest
    namespace: api
    port: 0
    resources:
    - path: /ships/{imo}/crew
      operations:
      - name: ship-with-crew
        method: GET${at(STEPS, 8)}
    - path: /chain/{imo}
      operations:
      - name: chain
        method: GET${at(CHAIN, 8)}
    - path: /failing/{imo}
      operations:
      - name: failing
        method: GET${at(FAILING, 8)}
  - type: mcp
    namespace: tools
    port: 0
    tools:
    - name: ship-with-crew
      description: A ship and its crew
      inputParameters:
      - {name: imo, type: string, description: IMO number}${at(STEPS, 6)}
    - name: chain
      description: A chain
      inputParameters:
      - {name: imo, type: string, description: IMO number}${at(CHAIN, 6)}
    - name: failing
      description: Fails at its second step
      inputParameters:
      - {name: imo, type: string, description: IMO number}${at(FAILING, 6)}
`

const EXPECTED = { imo: 'IMO1', vessel: { name: 'Aurora', flag: 'NO' }, crew: [{ fullName: 'Bo', role: 'cook' }, { fullName: 'Ada', role: 'captain' }] }

let upstream: Upstream
let gateway: Gateway
let client: McpTestClient

beforeAll(async () => {
  upstream = await startUpstream()
  gateway = await startGateway(await writeCapability(CAPABILITY), { flags: { 'base-uri': [`up=${upstream.url}`] } })
  client = await connectModernClient(gateway.url('mcp'))
})

afterAll(async () => {
  await client?.close()
  await gateway?.close()
  upstream?.server.close()
})

const rest = async (path: string): Promise<{ status: number, body: unknown, ms: number }> => {
  const started = performance.now()
  const res = await fetch(`${gateway.url('rest')}${path}`)
  const body = await res.json() as unknown
  return { status: res.status, body, ms: performance.now() - started }
}

const textOf = (result: Record<string, unknown>): string =>
  (result.content as Array<{ type: string, text: string }>).map((c) => c.text).join('')

describe('orchestration over REST', () => {
  it('runs two independent call steps at once (both answers under way together; two 150 ms answers take under the 300 ms of a run in order), and the answer is the one of declaration order', async () => {
    await rest('/ships/IMO0/crew') // a warm connection pool, so that the timing is the steps'
    upstream.inFlight.max = 0
    // the best of three: one slow turn of a loaded machine is not the orchestration's time
    const times: number[] = []
    for (let i = 0; i < 3; i++) {
      const { status, body, ms } = await rest('/ships/IMO1/crew')
      expect(status).toBe(200)
      expect(body).toEqual(EXPECTED)
      times.push(ms)
    }
    expect(upstream.inFlight.max).toBe(2)
    expect(Math.min(...times)).toBeGreaterThanOrEqual(DELAY - 5)
    expect(Math.min(...times)).toBeLessThan(2 * DELAY)
  })

  it('makes a step that reads another step wait for it and passes the value on', async () => {
    upstream.hits.length = 0
    const { status, body } = await rest('/chain/IMO7')
    expect(status).toBe(200)
    expect(body).toEqual({ echoed: 'seen-IMO7' })
    expect(upstream.hits).toEqual(['GET /ships/IMO7', 'GET /echo?id=seen-IMO7'])
  })

  it('stops at a failing step: the answer names the step and the upstream status, and the next step is never called', async () => {
    upstream.hits.length = 0
    const { status, body } = await rest('/failing/IMO1')
    expect(status).toBe(500)
    const error = (body as { error: { message: string, code: string } }).error
    expect(error.message).toContain('step "registry" (up.fail)')
    expect(error.message).toContain('500')
    expect(error.message).toContain('registry is down')
    expect(error.code).toBe('down')
    expect(upstream.hits).toEqual(['GET /ships/IMO1', 'GET /fail'])
  })
})

describe('orchestration over MCP', () => {
  it('answers the same mapped object, concurrently', async () => {
    await client.callTool('ship-with-crew', { imo: 'IMO0' }) // the MCP path warm, so that the timing is the steps'
    upstream.inFlight.max = 0
    const times: number[] = []
    let result: Record<string, unknown> = {}
    for (let i = 0; i < 3; i++) {
      const started = performance.now()
      result = await client.callTool('ship-with-crew', { imo: 'IMO1' })
      times.push(performance.now() - started)
    }
    expect(upstream.inFlight.max).toBe(2)
    expect(Math.min(...times)).toBeLessThan(2 * DELAY)
    expect(result.isError).toBeFalsy()
    expect(result.structuredContent).toEqual(EXPECTED)
    expect(JSON.parse(textOf(result))).toEqual(EXPECTED)
  })

  it('passes one step\'s output to the next', async () => {
    const result = await client.callTool('chain', { imo: 'IMO8' })
    expect(result.structuredContent).toEqual({ echoed: 'seen-IMO8' })
  })

  it('answers an error result that names the failing step and status, without calling the next step', async () => {
    upstream.hits.length = 0
    const result = await client.callTool('failing', { imo: 'IMO1' })
    expect(result.isError).toBe(true)
    expect(textOf(result)).toMatch(/Upstream answered 500 \(down\): step "registry" \(up\.fail\) failed/)
    expect(upstream.hits).toEqual(['GET /ships/IMO1', 'GET /fail'])
  })
})

const ENGINE = new URL('../../../shared/corpus/naftiko-alpha2/src/test/resources/', import.meta.url).pathname

describe('aggregates: the engine\'s files, run for real', () => {
  const started: Gateway[] = []
  const clients: McpTestClient[] = []
  afterAll(async () => {
    for (const c of clients) await c.close()
    for (const g of started) await g.close()
  })
  const run = async (file: string, namespace?: string, base = ''): Promise<{ gw: Gateway, mcp: McpTestClient }> => {
    const gw = await startGateway(`${ENGINE}${file}`, namespace === undefined ? {} : { flags: { 'base-uri': [`${namespace}=${upstream.url}${base}`] } })
    started.push(gw)
    const mcp = await connectModernClient(gw.url('mcp'))
    clients.push(mcp)
    return { gw, mcp }
  }

  it('aggregate-basic: one function serves a tool, a tool that inherits its description, and REST routes', async () => {
    const { gw, mcp } = await run('aggregates/aggregate-basic.yaml', 'weather-api', '/v1')
    const { tools } = await mcp.listTools()
    expect(tools.find((t) => t.name === 'get-forecast')?.description).toBe('Get the weather forecast.')
    expect(tools.find((t) => t.name === 'get-forecast-inherited')?.description).toBe('Fetch current weather forecast for a location.')
    expect(tools.find((t) => t.name === 'get-forecast')?.annotations).toEqual({ readOnlyHint: true, destructiveHint: false, idempotentHint: true })
    for (const name of ['get-forecast', 'get-forecast-inherited']) {
      expect((await mcp.callTool(name, { location: 'Paris' })).structuredContent).toEqual({ result: 'sunny' })
    }
    const res = await fetch(`${gw.url('rest')}/forecast/Paris`)
    expect(res.status).toBe(200)
    expect(await res.json()).toBe('sunny')
  })

  it('aggregate-hints-override: hints derive from semantics, an explicit hint wins field by field', async () => {
    const { mcp } = await run('aggregates/aggregate-hints-override.yaml', 'mock-api', '/v1')
    const { tools } = await mcp.listTools()
    const hints = Object.fromEntries(tools.map((t) => [t.name, t.annotations]))
    expect(hints).toEqual({
      'read-items': { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
      'read-items-open': { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
      'delete-item': { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
      'plain-tool': undefined,
    })
    expect((await mcp.callTool('read-items', {})).structuredContent).toEqual({ result: 'a,b' })
  })

  it('aggregate-shared-mock: a mock function answers over MCP and REST alike', async () => {
    const { gw, mcp } = await run('aggregates/aggregate-shared-mock.yaml')
    const expected = { message: 'Hello, Ada!', source: 'aggregate-mock' }
    expect((await mcp.callTool('hello', { name: 'Ada' })).structuredContent).toEqual(expected)
    const res = await fetch(`${gw.url('rest')}/hello?name=Ada`)
    expect(await res.json()).toEqual(expected)
  })

  it('aggregate-step-with-namespace: a function\'s steps read its inputs by the aggregate namespace', async () => {
    upstream.hits.length = 0
    const { mcp } = await run('aggregates/aggregate-step-with-namespace.yaml', 'registry')
    const result = await mcp.callTool('get-voyage-manifest', { 'voyage-id': 'V1' })
    expect(result.structuredContent).toEqual({ 'voyage-id': 'V1' })
    expect(upstream.hits).toEqual(['GET /voyages/V1'])
  })

  it('aggregate-invalid-ref: refused at load, naming the ref and its place', async () => {
    const err = await startGateway(`${ENGINE}aggregates/aggregate-invalid-ref.yaml`).then(() => undefined, (e: unknown) => e as StartupError)
    expect(err?.diagnostics.map((d) => `${d.line}: ${d.message}`)).toEqual([
      '32: ref "unknown.nonexistent" does not name an aggregate function (namespace.function); declared: data.read-items',
    ])
  })
})
