import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import { Client } from '@modelcontextprotocol/client'
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio'
import { request } from 'undici'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startCliServing } from '../helpers/cli.js'
import { startGateway, writeCapability, type Gateway } from '../helpers/gateway.js'
import { closeServer, listenOnLoopback } from '../helpers/loopback.js'

/**
 * Span export: with an OTLP endpoint (the environment or the control expose's `observability`
 * block), each REST and MCP request has a SERVER span, child of the caller's span, and each
 * upstream call a CLIENT span under it whose id the upstream's `traceparent` carries. The spans go
 * to a real OTLP/HTTP collector on loopback (JSON); no secret is in any exported byte; without an
 * endpoint nothing is sent.
 */
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736'
const PARENT = '00f067aa0ba902b7'
const TRACEPARENT = `00-${TRACE_ID}-${PARENT}-01`
const SECRET = 'fleet-key-9f8e7d6c5b4a'
const CLI = new URL('../../dist/cli.js', import.meta.url).pathname
const STDIO_FIXTURE = new URL('../fixtures/capabilities/valid/chat-stdio.yaml', import.meta.url).pathname

interface OtlpSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  kind: number
  status?: { code?: number }
  attributes?: Array<{ key: string, value: { stringValue?: string, intValue?: number | string } }>
}
const SERVER = 2
const CLIENT = 3
const ERROR = 2

/** An OTLP/HTTP collector: every POST /v1/traces body, as received. */
let collector: Server
let collectorOrigin: string
const exports: Array<{ contentType: string | undefined, body: string }> = []
/** The upstream: each request's URL and headers. */
let upstream: Server
let upstreamOrigin: string
const seen: Array<{ url: string, headers: IncomingHttpHeaders }> = []

beforeAll(async () => {
  collector = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/traces') exports.push({ contentType: req.headers['content-type'], body: Buffer.concat(chunks).toString('utf8') })
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{}')
    })
  })
  collectorOrigin = await listenOnLoopback(collector)
  upstream = createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers })
    req.resume()
    if ((req.url ?? '').startsWith('/v1/broken')) {
      res.writeHead(503, { 'content-type': 'application/json' })
      res.end('{"error":{"message":"down","code":"overloaded"}}')
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end('{"ships":[]}')
  })
  upstreamOrigin = await listenOnLoopback(upstream)
})
afterAll(async () => {
  collector.closeAllConnections()
  await Promise.all([closeServer(collector), closeServer(upstream)])
})

const capability = (control = ''): string => `
naftiko: "1.0.0-alpha2"
info:
  label: Fleet
binds:
- namespace: env
  keys:
    FLEET_KEY: FLEET_KEY
capability:
  consumes:
    - type: http
      namespace: fleet
      baseUri: "http://127.0.0.1:1/v1"
      authentication: { type: apikey, key: api_key, value: "{{FLEET_KEY}}", placement: query }
      resources:
        - name: ships
          path: /ships
          operations:
            - { name: list, method: GET }
        - name: broken
          path: /broken
          operations:
            - { name: broken, method: GET }
    - type: http
      namespace: gone
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
        - path: /broken
          operations:
            - { method: GET, call: fleet.broken }
        - path: /gone
          operations:
            - { method: GET, call: gone.list }
        - path: /raw/{{rest}}
          forward: { targetNamespace: fleet }
    - type: mcp
      namespace: fleet-mcp
      port: 0
      tools:
        - { name: list-ships, description: List ships, call: fleet.list }
        - { name: broken-ships, description: Fails, call: fleet.broken }
${control}
`

const flags = (): { port: string[], 'base-uri': string[] } => ({ port: ['fleet-rest=0', 'fleet-mcp=0', 'control=0'], 'base-uri': [`fleet=${upstreamOrigin}/v1`] })

const spans = (): OtlpSpan[] => exports.flatMap(({ body }) => {
  const parsed = JSON.parse(body) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }> }
  return parsed.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans))
})
const attribute = (span: OtlpSpan, key: string): string | number | undefined => {
  const value = span.attributes?.find((a) => a.key === key)?.value
  return value?.stringValue ?? (value?.intValue === undefined ? undefined : Number(value.intValue))
}

/** Waits until the collector holds spans that satisfy `found`, and returns them. */
async function spansWhere (found: (all: OtlpSpan[]) => boolean, timeoutMs = 8000): Promise<OtlpSpan[]> {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    const all = spans()
    if (found(all)) return all
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  throw new Error(`the collector received no such spans within ${timeoutMs} ms: ${JSON.stringify(spans().map((s) => s.name))}`)
}

/** The server span named `name` in the client's trace, and the client span under it. */
async function requestSpans (name: string, traceId = TRACE_ID): Promise<{ server: OtlpSpan, client: OtlpSpan }> {
  let server: OtlpSpan | undefined
  let client: OtlpSpan | undefined
  await spansWhere((all) => {
    server = all.find((s) => s.traceId === traceId && s.kind === SERVER && s.name === name)
    client = all.find((s) => server !== undefined && s.kind === CLIENT && s.parentSpanId === server.spanId)
    return client !== undefined
  })
  return { server: server as OtlpSpan, client: client as OtlpSpan }
}

const mcpCall = (url: string, tool: string, meta: Record<string, unknown> = {}, traceparent = TRACEPARENT): Promise<string> => request(url, {
  method: 'POST',
  headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25', traceparent },
  body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: tool, arguments: {}, _meta: meta } }),
}).then(async (r) => await r.body.text())

const traceparentOf = (client: OtlpSpan): string => `00-${client.traceId}-${client.spanId}-01`
const seenWith = (traceparent: string): { url: string, headers: IncomingHttpHeaders } | undefined => seen.find((s) => s.headers.traceparent === traceparent)

describe('spans exported to the OTLP endpoint of the environment', () => {
  let gateway: Gateway
  beforeAll(async () => {
    gateway = await startGateway(await writeCapability(capability()), {
      flags: flags(),
      env: { FLEET_KEY: SECRET, OTEL_EXPORTER_OTLP_ENDPOINT: collectorOrigin, OTEL_BSP_SCHEDULE_DELAY: '50', OTEL_SERVICE_NAME: 'fleet-gateway' },
    })
  })
  afterAll(async () => { await gateway.close() })

  it('REST: the server span continues the caller\'s trace, the client span is its child, and the upstream sees the client span\'s id', async () => {
    const answer = await request(`${gateway.url('rest')}/ships`, { headers: { traceparent: TRACEPARENT, tracestate: 'vendor=abc' } })
    expect(answer.statusCode).toBe(200)
    await answer.body.dump()
    const { server, client } = await requestSpans('GET /ships')
    expect(server.parentSpanId).toBe(PARENT)
    expect(attribute(server, 'http.request.method')).toBe('GET')
    expect(attribute(server, 'http.route')).toBe('/ships')
    expect(attribute(server, 'http.response.status_code')).toBe(200)
    expect(client.traceId).toBe(TRACE_ID)
    expect(client.name).toBe('GET')
    expect(attribute(client, 'http.response.status_code')).toBe(200)
    expect(attribute(client, 'server.address')).toBe('127.0.0.1')
    expect(attribute(client, 'url.full')).toBe(`${upstreamOrigin}/v1/ships?api_key=REDACTED`)
    const call = seenWith(traceparentOf(client))
    expect(call, `upstream traceparents: ${seen.map((s) => String(s.headers.traceparent)).join(', ')}`).toBeDefined()
    expect(call?.headers.tracestate).toBe('vendor=abc')
    // the credential still went to the upstream: only the exported copy is redacted
    expect(call?.url).toBe(`/v1/ships?api_key=${SECRET}`)
    expect(exports.every((e) => e.contentType === 'application/json')).toBe(true)
    expect(exports[0]?.body).toContain('"fleet-gateway"')
  })

  it('forward: the relayed request has its client span too; a request no route answers has a server span of its own', async () => {
    const forward = '66666666666666666666666666666666'
    await (await request(`${gateway.url('rest')}/raw/ships`, { headers: { traceparent: `00-${forward}-${PARENT}-01` } })).body.dump()
    const { server, client } = await requestSpans('GET /raw/{{rest}}', forward)
    expect(server.parentSpanId).toBe(PARENT)
    expect(seenWith(traceparentOf(client))?.url).toBe(`/v1/ships?api_key=${SECRET}`)

    const nowhere = '77777777777777777777777777777777'
    expect((await request(`${gateway.url('rest')}/nowhere`, { headers: { traceparent: `00-${nowhere}-${PARENT}-01` } })).statusCode).toBe(404)
    const [unrouted] = (await spansWhere((all) => all.some((s) => s.traceId === nowhere))).filter((s) => s.traceId === nowhere)
    expect(unrouted?.name).toBe('GET')
    expect(attribute(unrouted as OtlpSpan, 'http.response.status_code')).toBe(404)
    expect(attribute(unrouted as OtlpSpan, 'http.route')).toBeUndefined()
  })

  it('MCP: a tools/call (direct path, then the SDK path with progress) has a server span named for the tool, and a client span the upstream sees', async () => {
    expect(await mcpCall(gateway.url('mcp'), 'list-ships')).toContain('ships')
    const direct = await requestSpans('tools/call list-ships')
    expect(direct.server.parentSpanId).toBe(PARENT)
    expect(attribute(direct.server, 'mcp.method.name')).toBe('tools/call')
    expect(attribute(direct.server, 'gen_ai.tool.name')).toBe('list-ships')
    expect(seenWith(traceparentOf(direct.client))).toBeDefined()

    const other = '0af7651916cd43dd8448eb211c80319c'
    expect(await mcpCall(gateway.url('mcp'), 'list-ships', { progressToken: 'p1' }, `00-${other}-${PARENT}-01`)).toContain('ships')
    const sdk = await requestSpans('tools/call list-ships', other)
    expect(sdk.server.parentSpanId).toBe(PARENT)
    expect(seenWith(traceparentOf(sdk.client))).toBeDefined()
  })

  it('marks the spans ERROR when the upstream answers 5xx or cannot be reached, on REST and MCP', async () => {
    const broken = '11111111111111111111111111111111'
    await (await request(`${gateway.url('rest')}/broken`, { headers: { traceparent: `00-${broken}-${PARENT}-01` } })).body.dump()
    const rest = await requestSpans('GET /broken', broken)
    expect(rest.client.status?.code).toBe(ERROR)
    expect(attribute(rest.client, 'error.type')).toBe('503')
    expect(attribute(rest.client, 'http.response.status_code')).toBe(503)
    expect(rest.server.status?.code).toBe(ERROR)

    const gone = '22222222222222222222222222222222'
    expect((await request(`${gateway.url('rest')}/gone`, { headers: { traceparent: `00-${gone}-${PARENT}-01` } })).statusCode).toBe(502)
    const unreachable = await requestSpans('GET /gone', gone)
    expect(unreachable.client.status?.code).toBe(ERROR)
    expect(attribute(unreachable.client, 'error.type')).toBe('upstream_unreachable')
    expect(unreachable.server.status?.code).toBe(ERROR)
    expect(attribute(unreachable.server, 'error.type')).toBe('upstream_unreachable')

    const tool = '33333333333333333333333333333333'
    expect(await mcpCall(gateway.url('mcp'), 'broken-ships', {}, `00-${tool}-${PARENT}-01`)).toContain('isError')
    const mcp = await requestSpans('tools/call broken-ships', tool)
    expect(mcp.client.status?.code).toBe(ERROR)
    expect(mcp.server.status?.code).toBe(ERROR)
    expect(attribute(mcp.server, 'error.type')).toBe('tool_error')
  })

  it('starts a trace of its own for a caller that sent none; the upstream joins it', async () => {
    const before = seen.length
    await (await request(`${gateway.url('rest')}/ships`)).body.dump()
    const traceparent = String(seen[before]?.headers.traceparent)
    const [, traceId, spanId] = traceparent.split('-')
    const all = await spansWhere((s) => s.some((span) => span.spanId === spanId))
    const client = all.find((span) => span.spanId === spanId) as OtlpSpan
    const server = all.find((span) => span.spanId === client.parentSpanId) as OtlpSpan
    expect(client.traceId).toBe(traceId)
    expect(server.name).toBe('GET /ships')
    expect(server.parentSpanId ?? '').toBe('')
  })

  it('puts no secret in any exported byte', () => {
    expect(exports.length).toBeGreaterThan(0)
    for (const { body } of exports) {
      for (const form of [SECRET, encodeURIComponent(SECRET), Buffer.from(SECRET).toString('base64')]) expect(body).not.toContain(form)
    }
  })
})

describe('span export switched by the capability', () => {
  beforeEach(() => { exports.length = 0 })

  it('the control expose\'s observability block (its endpoint a bound value) exports spans; shutdown sends the last ones', async () => {
    const yaml = capability(`    - type: control
      port: 0
      observability:
        exporters:
          otlp:
            endpoint: "{{OTLP_ENDPOINT}}"`).replace('    FLEET_KEY: FLEET_KEY', '    FLEET_KEY: FLEET_KEY\n    OTLP_ENDPOINT: OTLP_ENDPOINT')
    const cli = await startCliServing(['run', await writeCapability(yaml), '--port', 'fleet-rest=0', '--port', 'fleet-mcp=0', '--port', 'control=0', '--base-uri', `fleet=${upstreamOrigin}/v1`],
      { FLEET_KEY: SECRET, OTLP_ENDPOINT: collectorOrigin }, { exposes: 3, upstreams: 2 })
    const rest = cli.addresses.find((a) => a.type === 'rest')?.url as string
    const trace = '44444444444444444444444444444444'
    await (await request(`${rest}/ships`, { headers: { traceparent: `00-${trace}-${PARENT}-01` } })).body.dump()
    // the batch waits 5 s by default: the spans leave when the gateway stops
    expect(await cli.stop()).toBe(0)
    const { server, client } = await requestSpans('GET /ships', trace)
    expect(server.parentSpanId).toBe(PARENT)
    expect(seenWith(traceparentOf(client))).toBeDefined()
    expect(exports.map((e) => e.body).join('')).not.toContain(SECRET)
  })

  it('`enabled: false` keeps spans in, whatever the environment says; sampling 0 exports only traces a caller sampled', async () => {
    const off = await startGateway(await writeCapability(capability(`    - type: control
      port: 0
      observability:
        enabled: false`)), { flags: flags(), env: { FLEET_KEY: SECRET, OTEL_EXPORTER_OTLP_ENDPOINT: collectorOrigin, OTEL_BSP_SCHEDULE_DELAY: '10' } })
    await (await request(`${off.url('rest')}/ships`, { headers: { traceparent: TRACEPARENT } })).body.dump()
    await off.close()
    expect(exports).toEqual([])

    const sampled = await startGateway(await writeCapability(capability(`    - type: control
      port: 0
      observability:
        traces:
          sampling: 0`)), { flags: flags(), env: { FLEET_KEY: SECRET, OTEL_EXPORTER_OTLP_ENDPOINT: collectorOrigin, OTEL_BSP_SCHEDULE_DELAY: '10' } })
    await (await request(`${sampled.url('rest')}/ships`)).body.dump()
    const trace = '55555555555555555555555555555555'
    await (await request(`${sampled.url('rest')}/ships`, { headers: { traceparent: `00-${trace}-${PARENT}-01` } })).body.dump()
    await sampled.close()
    expect(spans().length).toBe(2)
    expect(spans().every((s) => s.traceId === trace)).toBe(true)
  })

  it('without an endpoint, the collector hears nothing', async () => {
    const gateway = await startGateway(await writeCapability(capability()), { flags: flags(), env: { FLEET_KEY: SECRET, OTEL_BSP_SCHEDULE_DELAY: '10' } })
    const before = seen.length
    await (await request(`${gateway.url('rest')}/ships`, { headers: { traceparent: TRACEPARENT } })).body.dump()
    await mcpCall(gateway.url('mcp'), 'list-ships')
    await gateway.close()
    expect(exports).toEqual([])
    // the upstream still joins the caller's trace, with a span id of the gateway's
    expect(seen.slice(before).map((s) => String(s.headers.traceparent).split('-')[1])).toEqual([TRACE_ID, TRACE_ID])
  })
})

describe('the upstream duration metric', () => {
  it('counts MCP tool calls (direct and SDK paths) like REST routes', async () => {
    const gateway = await startGateway(await writeCapability(capability()), { flags: { ...flags(), 'control-port': '0' }, env: { FLEET_KEY: SECRET } })
    try {
      await mcpCall(gateway.url('mcp'), 'list-ships')
      await mcpCall(gateway.url('mcp'), 'list-ships', { progressToken: 'p1' })
      await (await request(`${gateway.url('rest')}/ships`)).body.dump()
      const text = await (await request(`${gateway.url('control')}/metrics`)).body.text()
      expect(text).toMatch(/naftiko_upstream_duration_seconds_count\{expose="fleet-mcp",route="tools\/call list-ships"\} 2/)
      expect(text).toMatch(/naftiko_upstream_duration_seconds_count\{expose="fleet-rest",route="\/ships"\} 1/)
    } finally {
      await gateway.close()
    }
  })
})

describe('spans of MCP over stdio', () => {
  it('gives each tool call a server span, child of the trace context in the request\'s _meta, and the upstream call a client span', async () => {
    const client = new Client({ name: 'stdio-traced', version: '1.0.0' })
    await client.connect(new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'run', STDIO_FIXTURE, '--base-uri', `openai=${upstreamOrigin}/v1`],
      env: { PATH: process.env.PATH ?? '', CHATGPT_API_KEY: SECRET, OTEL_EXPORTER_OTLP_ENDPOINT: collectorOrigin, OTEL_BSP_SCHEDULE_DELAY: '50' },
      stderr: 'pipe',
    }))
    try {
      const trace = '5bf92f3577b34da6a3ce929d0e0e4737'
      const result = await client.callTool({ name: 'create-chat-completion', arguments: { body: { model: 'm', messages: [] } }, _meta: { traceparent: `00-${trace}-${PARENT}-01` } })
      expect(result.isError).toBeFalsy()
      const { server, client: call } = await requestSpans('tools/call create-chat-completion', trace)
      expect(server.parentSpanId).toBe(PARENT)
      expect(attribute(server, 'gen_ai.tool.name')).toBe('create-chat-completion')
      expect(seenWith(traceparentOf(call))).toBeDefined()
      expect(JSON.stringify(spans())).not.toContain(SECRET)
    } finally {
      await client.close()
    }
  })
})
