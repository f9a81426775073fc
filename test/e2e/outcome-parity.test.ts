import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { once } from 'node:events'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, writeCapability, type Gateway } from '../helpers/gateway.js'
import { connectModernClient, type McpTestClient } from '../helpers/mcp-clients.js'

/**
 * One upstream answer, two exposers, one meaning (DESIGN 2.1, 3; STYLE "one call, one outcome"):
 * every scenario is a consumed operation of the same upstream, exposed as `POST /s/<scenario>` and
 * as the MCP tool `<scenario>`, and each row states what both exposers must make of that answer.
 */
const SECRET = 'sk-parity-secret-0123456789abcdef'
const SECRET_BASE64 = Buffer.from(SECRET).toString('base64')

const RATE_LIMITED = { error: { message: 'slow down', type: 'rate_limit_error', param: null, code: 'rate_limit_exceeded' } }

/** The scenarios, with the consumed operation each one calls and whether it maps `$.answer`. */
const SCENARIOS = [
  { scenario: 'json', operation: 'json', path: '/json', mapped: true },
  { scenario: 'echo', operation: 'echo', path: '/echo', mapped: false },
  { scenario: 'error', operation: 'error', path: '/error', mapped: false },
  { scenario: 'error-echo', operation: 'errorecho', path: '/error-echo', mapped: false },
  { scenario: 'invalid-json', operation: 'invalidjson', path: '/invalid-json', mapped: false },
  { scenario: 'invalid-json-mapped', operation: 'invalidjson', path: '/invalid-json', mapped: true },
  { scenario: 'sse', operation: 'sse', path: '/sse', mapped: false },
  { scenario: 'sse-broken', operation: 'ssebroken', path: '/sse-broken', mapped: false },
  { scenario: 'sse-echo', operation: 'sseecho', path: '/sse-echo', mapped: false },
  { scenario: 'slow', operation: 'slow', path: '/slow', mapped: false },
] as const

type Scenario = typeof SCENARIOS[number]['scenario']

function capabilityYaml (): string {
  const operations = [...new Set(SCENARIOS.map((s) => s.operation))]
  const consumed = operations.map((operation) => {
    const path = SCENARIOS.find((s) => s.operation === operation)?.path ?? ''
    return `    - name: ${operation}
      path: ${path}
      operations:
      - name: ${operation}
        method: POST
        inputParameters:
        - name: body
          in: body
`
  }).join('')
  const mapping = (indent: string): string => `${indent}outputParameters:
${indent}- type: object
${indent}  properties:
${indent}    answer:
${indent}      type: string
${indent}      mapping: $.answer
`
  const routes = SCENARIOS.map((s) => `    - path: /s/${s.scenario}
      operations:
      - method: POST
        call: up.${s.operation}
        with:
          body: rest.body
${s.mapped ? mapping('        ') : ''}`).join('')
  const tools = SCENARIOS.map((s) => `    - name: ${s.scenario}
      description: Calls the ${s.scenario} scenario of the upstream
      call: up.${s.operation}
      with:
        body: tools.body
${s.mapped ? mapping('      ') : ''}`).join('')
  return `naftiko: 1.0.0-alpha2
binds:
- namespace: env
  keys:
    PARITY_KEY: PARITY_KEY
capability:
  consumes:
  - type: http
    namespace: up
    baseUri: https://up.example
    authentication:
      type: bearer
      token: '{{env.PARITY_KEY}}'
    resources:
${consumed}  exposes:
  - type: rest
    namespace: api
    port: 0
    resources:
${routes}  - type: mcp
    namespace: tools
    port: 0
    tools:
${tools}`
}

/** An OpenAI-style chat completion chunk event. */
function chunkEvent (content: string, finish: string | null = null): string {
  return `data: ${JSON.stringify({ id: 'chatcmpl-parity', object: 'chat.completion.chunk', created: 1, model: 'parity', choices: [{ index: 0, delta: { content }, finish_reason: finish }] })}\n\n`
}

const DONE_EVENT = 'data: [DONE]\n\n'
const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' }

function sendJson (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(body))
}

/** The upstream: what it answers depends on the path; it records every request it received. */
function answerScenario (req: IncomingMessage, res: ServerResponse): void {
  const auth = req.headers.authorization ?? ''
  switch (new URL(req.url ?? '/', 'http://upstream').pathname) {
    case '/json':
      return sendJson(res, 200, { answer: 'hello' })
    case '/echo':
      return sendJson(res, 200, { answer: 'echoed', authorization: auth }, { 'x-echo': auth })
    case '/error':
      return sendJson(res, 429, RATE_LIMITED, { 'retry-after': '7' })
    case '/error-echo':
      return sendJson(res, 401, { error: { message: `Incorrect API key provided: ${auth}`, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } })
    case '/invalid-json':
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{not json')
      return
    case '/sse':
      res.writeHead(200, SSE_HEADERS)
      res.write(chunkEvent('Hel'))
      res.write(chunkEvent('lo', 'stop'))
      res.end(DONE_EVENT)
      return
    case '/sse-broken':
      res.writeHead(200, SSE_HEADERS)
      res.write(chunkEvent('Hel'))
      // a reset mid-stream: no terminator, no clean end of the chunked body
      setTimeout(() => res.socket?.destroy(), 20)
      return
    case '/sse-echo': {
      const event = chunkEvent(auth)
      const at = event.indexOf(SECRET)
      const cut = at === -1 ? Math.floor(event.length / 2) : at + Math.floor(SECRET.length / 2)
      res.writeHead(200, SSE_HEADERS)
      res.write(event.slice(0, cut))
      setTimeout(() => {
        res.write(event.slice(cut))
        res.end(DONE_EVENT)
      }, 20)
      return
    }
    case '/slow':
      return // never answers
    default:
      return sendJson(res, 404, { error: { message: 'no such scenario', type: 'invalid_request_error', param: null, code: null } })
  }
}

let upstream: Server
const received: Array<{ path: string, authorization: string | undefined }> = []
let gateway: Gateway
let mcp: McpTestClient

beforeAll(async () => {
  upstream = createServer((req, res) => {
    received.push({ path: req.url ?? '', authorization: req.headers.authorization })
    req.resume()
    req.on('end', () => answerScenario(req, res))
  })
  upstream.listen(0, '127.0.0.1')
  await once(upstream, 'listening')
  const address = upstream.address()
  const origin = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
  const file = await writeCapability(capabilityYaml())
  // every other scenario answers within milliseconds, so one gateway with a short timeout serves all rows
  gateway = await startGateway(file, { flags: { 'base-uri': [`up=${origin}`], 'upstream-timeout': '300' }, env: { PARITY_KEY: SECRET } })
  mcp = await connectModernClient(gateway.url('mcp'))
})

afterAll(async () => {
  await mcp?.close()
  await gateway?.close()
  upstream?.closeAllConnections()
  upstream?.close()
})

interface RestAnswer {
  status: number
  headers: Headers
  text: string
  /** reading the body failed (the gateway cut the response) */
  broken: boolean
}

interface ToolResult {
  isError?: boolean
  content?: Array<{ type: string, text?: string }>
  structuredContent?: Record<string, unknown>
}

async function callRest (scenario: Scenario): Promise<RestAnswer> {
  const response = await fetch(`${gateway.url('rest')}/s/${scenario}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ question: scenario }),
  })
  let text = ''
  let broken = false
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) text += Buffer.from(chunk).toString('utf8')
  } catch {
    broken = true
  }
  return { status: response.status, headers: response.headers, text, broken }
}

async function callMcp (scenario: Scenario): Promise<ToolResult> {
  return await mcp.callTool(scenario, { body: { question: scenario } }) as ToolResult
}

function textOf (result: ToolResult): string {
  return (result.content ?? []).map((c) => c.text ?? '').join('\n')
}

function expectNoSecret (text: string): void {
  expect(text).not.toContain(SECRET)
  expect(text).not.toContain(SECRET_BASE64)
}

function expectNoSecretInHeaders (headers: Headers): void {
  for (const [name, value] of headers) {
    expect(value, `response header ${name}`).not.toContain(SECRET)
    expect(value, `response header ${name}`).not.toContain(SECRET_BASE64)
  }
}

function errorCode (text: string): unknown {
  return (JSON.parse(text) as { error?: { code?: unknown } }).error?.code
}

interface Row {
  scenario: Scenario
  meaning: string
  rest: (answer: RestAnswer) => void
  mcp: (result: ToolResult) => void
}

const ROWS: Row[] = [
  {
    scenario: 'json',
    meaning: 'a mapped 200 JSON answer is the same JSON',
    rest: (a) => {
      expect(a.status).toBe(200)
      expect(JSON.parse(a.text)).toEqual({ answer: 'hello' })
    },
    mcp: (r) => {
      expect(r.isError, textOf(r)).toBeFalsy()
      expect(r.structuredContent).toEqual({ answer: 'hello' })
    },
  },
  {
    scenario: 'echo',
    meaning: 'a 200 answer that echoes the credential never shows the bound secret',
    rest: (a) => {
      expect(a.status).toBe(200)
      expectNoSecret(a.text)
      expectNoSecretInHeaders(a.headers)
    },
    mcp: (r) => {
      expect(r.isError, textOf(r)).toBeFalsy()
      expectNoSecret(JSON.stringify(r))
    },
  },
  {
    scenario: 'error',
    meaning: 'an upstream 429 keeps its status, its OpenAI envelope and retry-after',
    rest: (a) => {
      expect(a.status).toBe(429)
      expect(JSON.parse(a.text)).toEqual(RATE_LIMITED)
      expect(a.headers.get('retry-after')).toBe('7')
    },
    mcp: (r) => {
      expect(r.isError, textOf(r)).toBe(true)
      expect(textOf(r)).toContain('429')
      expect(textOf(r)).toContain('slow down')
    },
  },
  {
    scenario: 'error-echo',
    meaning: 'an upstream 401 that echoes the credential stays an error and never shows the bound secret',
    rest: (a) => {
      expect(a.status).toBe(401)
      expectNoSecret(a.text)
      expectNoSecretInHeaders(a.headers)
    },
    mcp: (r) => {
      expect(r.isError, textOf(r)).toBe(true)
      expectNoSecret(JSON.stringify(r))
    },
  },
  {
    scenario: 'invalid-json',
    meaning: 'an unmapped 200 answer that is not JSON is the answer as it is',
    rest: (a) => {
      expect(a.status).toBe(200)
      expect(a.text).toBe('{not json')
    },
    mcp: (r) => {
      expect(r.isError, textOf(r)).toBeFalsy()
      expect(textOf(r)).toBe('{not json')
    },
  },
  {
    scenario: 'invalid-json-mapped',
    meaning: 'a mapped 200 answer that is not JSON is upstream_invalid_response',
    rest: (a) => {
      expect(a.status).toBe(502)
      expect(errorCode(a.text)).toBe('upstream_invalid_response')
    },
    mcp: (r) => {
      expect(r.isError, textOf(r)).toBe(true)
      expect(textOf(r)).toContain('upstream_invalid_response')
    },
  },
  {
    scenario: 'sse',
    meaning: 'a complete chat completion stream is the whole completion',
    rest: (a) => {
      expect(a.status).toBe(200)
      expect(a.broken).toBe(false)
      expect(a.text).toContain(chunkEvent('Hel').trim())
      expect(a.text).toContain(chunkEvent('lo', 'stop').trim())
      expect(a.text).toContain('data: [DONE]')
    },
    mcp: (r) => {
      expect(r.isError, textOf(r)).toBeFalsy()
      const completion = r.structuredContent as { choices?: Array<{ message?: { content?: unknown } }> } | undefined
      expect(completion?.choices?.[0]?.message?.content).toBe('Hello')
    },
  },
  {
    scenario: 'sse-broken',
    meaning: 'a stream the upstream breaks off is upstream_stream_broken, never a clean end',
    rest: (a) => {
      expect(a.text).not.toContain('[DONE]')
      expect(a.broken || a.text.includes('upstream_stream_broken'), `neither cut nor an upstream_stream_broken event: ${a.text}`).toBe(true)
    },
    mcp: (r) => {
      expect(r.isError, textOf(r)).toBe(true)
      expect(textOf(r)).toContain('upstream_stream_broken')
    },
  },
  {
    scenario: 'sse-echo',
    meaning: 'a stream that echoes the credential across two writes never shows the bound secret',
    rest: (a) => {
      expect(a.status).toBe(200)
      expectNoSecret(a.text)
      expectNoSecretInHeaders(a.headers)
    },
    mcp: (r) => {
      expectNoSecret(JSON.stringify(r))
    },
  },
  {
    scenario: 'slow',
    meaning: 'an upstream that never answers is upstream_timeout',
    rest: (a) => {
      expect(a.status).toBe(504)
      expect(errorCode(a.text)).toBe('upstream_timeout')
    },
    mcp: (r) => {
      expect(r.isError, textOf(r)).toBe(true)
      expect(textOf(r)).toContain('upstream_timeout')
    },
  },
]

/** The call really carried the bound secret upstream, so a clean answer is the gateway's doing. */
function expectSecretSentUpstream (scenario: Scenario, since: number): void {
  const path = SCENARIOS.find((s) => s.scenario === scenario)?.path
  const calls = received.slice(since).filter((r) => r.path === path)
  expect(calls.length).toBeGreaterThan(0)
  expect(calls.every((c) => c.authorization === `Bearer ${SECRET}`)).toBe(true)
}

describe('one upstream answer means the same over REST and MCP', () => {
  it.each(ROWS)('$scenario over REST: $meaning', async (row) => {
    const since = received.length
    const answer = await callRest(row.scenario)
    expectSecretSentUpstream(row.scenario, since)
    row.rest(answer)
  })

  it.each(ROWS)('$scenario over MCP: $meaning', async (row) => {
    const since = received.length
    const result = await callMcp(row.scenario)
    expectSecretSentUpstream(row.scenario, since)
    row.mcp(result)
  })
})
