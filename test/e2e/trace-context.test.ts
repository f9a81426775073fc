import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, writeCapability, type Gateway } from '../helpers/gateway.js'
import { closeServer, listenOnLoopback } from '../helpers/loopback.js'

/**
 * W3C trace context: a client's `traceparent` (and `tracestate`) is accepted and the upstream call
 * joins its trace with the gateway's own span id, on REST, MCP (direct and SDK paths) and forward; an
 * invalid one is dropped, never passed on.
 */
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736'
const PARENT = '00f067aa0ba902b7'
const TRACEPARENT = `00-${TRACE_ID}-${PARENT}-01`

let upstream: Server
let origin: string
const seen: IncomingHttpHeaders[] = []

beforeAll(async () => {
  upstream = createServer((req, res) => {
    seen.push(req.headers)
    req.resume()
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end('{"ok":true}')
  })
  origin = await listenOnLoopback(upstream)
})
afterAll(async () => { await closeServer(upstream) })

const CAPABILITY = `
naftiko: "1.0.0-alpha2"
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
  exposes:
    - type: rest
      namespace: fleet-rest
      port: 0
      resources:
        - path: /ships
          operations:
            - { method: GET, call: fleet.list }
        - path: /raw/{{rest}}
          forward: { targetNamespace: fleet }
    - type: mcp
      namespace: fleet-mcp
      port: 0
      tools:
        - { name: list-ships, description: List ships, call: fleet.list }
      resources:
        - { name: ships, uri: "fleet://ships", description: The ships, call: fleet.list }
`

describe('trace context', () => {
  let gateway: Gateway
  beforeAll(async () => {
    gateway = await startGateway(await writeCapability(CAPABILITY), { flags: { port: ['fleet-rest=0', 'fleet-mcp=0'], 'base-uri': [`fleet=${origin}/v1`] } })
  })
  afterAll(async () => { await gateway.close() })

  const lastSeen = (): IncomingHttpHeaders => seen[seen.length - 1] as IncomingHttpHeaders
  const expectJoined = (headers: IncomingHttpHeaders): void => {
    const [version, traceId, parent, flags] = String(headers.traceparent).split('-')
    expect([version, traceId, flags]).toEqual(['00', TRACE_ID, '01'])
    expect(parent).toMatch(/^[0-9a-f]{16}$/)
    expect(parent).not.toBe(PARENT)
  }
  const mcpRequest = (method: string, params: Record<string, unknown>): Promise<string> => request(gateway.url('mcp'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25', traceparent: TRACEPARENT },
    body: JSON.stringify({ jsonrpc: '2.0', id: 7, method, params }),
  }).then(async (r) => await r.body.text())
  const mcpCall = (meta: Record<string, unknown> = {}): Promise<string> => mcpRequest('tools/call', { name: 'list-ships', arguments: {}, _meta: meta })

  it('REST: the upstream call joins the caller\'s trace with the gateway\'s span, tracestate kept', async () => {
    await (await request(`${gateway.url('rest')}/ships`, { headers: { traceparent: TRACEPARENT, tracestate: 'vendor=abc' } })).body.dump()
    expectJoined(lastSeen())
    expect(lastSeen().tracestate).toBe('vendor=abc')
  })

  it('MCP: a plain tools/call and one with progress (the SDK path) join it too', async () => {
    await mcpCall()
    expectJoined(lastSeen())
    expect(await mcpCall({ progressToken: 'p1' })).toContain('"ok":true')
    expectJoined(lastSeen())
  })

  it('MCP: reading a resource served by an upstream call joins it', async () => {
    const before = seen.length
    expect(await mcpRequest('resources/read', { uri: 'fleet://ships' })).toContain('ok')
    expect(seen.length).toBe(before + 1)
    expectJoined(lastSeen())
  })

  it('forward: the relayed request joins it', async () => {
    await (await request(`${gateway.url('rest')}/raw/ships`, { headers: { traceparent: TRACEPARENT } })).body.dump()
    expectJoined(lastSeen())
  })

  it('drops a missing or invalid trace context rather than pass it on', async () => {
    for (const traceparent of [undefined, `00-${'0'.repeat(32)}-${PARENT}-01`, `ff-${TRACE_ID}-${PARENT}-01`, `00-${TRACE_ID}-${PARENT}-01-extra`, 'garbage']) {
      await (await request(`${gateway.url('rest')}/ships`, { headers: traceparent === undefined ? {} : { traceparent } })).body.dump()
      expect(lastSeen().traceparent, String(traceparent)).toBeUndefined()
    }
  })
})
