import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.js'
import { CHAT_CAPABILITY, CHAT_NAMESPACE, startGateway, writeCapability, type Gateway } from '../helpers/gateway.js'

const KEY = 'sk-limits-upstream'
let upstream: FakeOpenAI
let gateway: Gateway

beforeAll(async () => {
  upstream = await startFakeOpenAI({ apiKey: KEY })
  gateway = await startGateway(CHAT_CAPABILITY, {
    flags: { 'base-uri': [`${CHAT_NAMESPACE}=${upstream.url}`], 'body-limit': '4096' },
    env: { CHATGPT_API_KEY: KEY },
  })
})

afterAll(async () => {
  await gateway?.close()
  await upstream?.close()
})

const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' }
const toolCall = (content: string, model = 'gpt-4o-mini'): string => JSON.stringify({
  jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'chatgpt-create-chat-completion', arguments: { body: { model, messages: [{ role: 'user', content }] } } },
})

describe('limits on the MCP endpoint', () => {
  it('answers a body over --body-limit 413 with a JSON-RPC error, and keeps serving', async () => {
    const response = await fetch(gateway.url('mcp'), { method: 'POST', headers: MCP_HEADERS, body: toolCall('x'.repeat(10_000)) })
    expect(response.status).toBe(413)
    expect(await response.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32600, message: expect.stringMatching(/size limit/) as unknown }, id: null })
    const next = await fetch(gateway.url('mcp'), { method: 'POST', headers: MCP_HEADERS, body: toolCall('small') })
    expect(next.status).toBe(200)
    expect(await next.text()).toContain('echo: small')
  })

  it('answers malformed JSON with a JSON-RPC parse error', async () => {
    const response = await fetch(gateway.url('mcp'), { method: 'POST', headers: MCP_HEADERS, body: '{"jsonrpc": "2.0", "id": 1, "method": ' })
    expect(response.status).toBe(400)
    expect(await response.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32700 }, id: null })
  })

  it('aborts the upstream call when an MCP client closes its HTTP request', async () => {
    const index = upstream.requests.length
    const controller = new AbortController()
    const call = fetch(gateway.url('mcp'), { method: 'POST', headers: MCP_HEADERS, body: toolCall('x', 'fake-hang'), signal: controller.signal }).catch((e: unknown) => e)
    await upstream.waitForRequests(index + 1)
    controller.abort()
    await call
    expect(await upstream.waitForAbort(index, 2000)).toBeLessThan(2000)
  })
})

describe('limits on REST routes', () => {
  it('answers a path parameter over 2048 bytes 400 with the envelope, without echoing it', async () => {
    const file = await writeCapability(`naftiko: 1.0.0-alpha2
capability:
  consumes:
  - type: http
    namespace: api
    baseUri: https://example.com
    resources:
    - name: items
      path: /items/{id}
      operations:
      - name: get
        method: GET
  exposes:
  - type: rest
    namespace: rest
    port: 0
    resources:
    - path: /items/{id}
      operations:
      - method: GET
        call: api.get
`)
    const items = await startGateway(file, { flags: { 'base-uri': [`api=${upstream.origin}/echo`] } })
    try {
      const long = 'a'.repeat(3000)
      const response = await fetch(`${items.url()}/items/${long}`)
      expect(response.status).toBe(400)
      const text = await response.text()
      expect(JSON.parse(text)).toMatchObject({ error: { code: 'invalid_request' } })
      expect(text).not.toContain(long)
      expect((await fetch(`${items.url()}/items/short`)).status).toBe(200)
    } finally {
      await items.close()
    }
  })
})

const MODERN_HEADERS = { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'chatgpt-create-chat-completion' }
const modernCall = (meta: Record<string, unknown>): string => JSON.stringify({
  jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'chatgpt-create-chat-completion', arguments: { body: { model: 'm', messages: [{ role: 'user', content: 'x' }] } }, _meta: meta },
})

describe('garbage JSON-RPC on the MCP endpoint', () => {
  const cases: Array<[string, string, Record<string, string>?]> = [
    ['an empty body', ''],
    ['a JSON string', '"hello"'],
    ['a number', '42'],
    ['null', 'null'],
    ['an empty object', '{}'],
    ['an empty batch', '[]'],
    ['a batch of garbage', '[1, "two", {"three": 3}]'],
    ['a request without jsonrpc', '{"id": 1, "method": "tools/list"}'],
    ['jsonrpc 1.0', '{"jsonrpc": "1.0", "id": 1, "method": "tools/list"}'],
    ['an unknown method', '{"jsonrpc": "2.0", "id": 1, "method": "no/such/method"}'],
    ['tools/call without params', '{"jsonrpc": "2.0", "id": 1, "method": "tools/call"}'],
    ['tools/call with a numeric name', '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": 7}}'],
    ['tools/call with string arguments', '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "chatgpt-create-chat-completion", "arguments": "body"}}'],
    ['an object id', '{"jsonrpc": "2.0", "id": {"a": 1}, "method": "tools/list"}'],
    ['a deeply nested params object', `{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": ${'{"a":'.repeat(2000)}1${'}'.repeat(2000)}}`],
    ['a text/plain body', '{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}', { 'content-type': 'text/plain' }],
    ['no Accept header', '{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}', { accept: '' }],
    ['a 2026-07-28 tools/call without client capabilities', modernCall({ 'io.modelcontextprotocol/protocolVersion': '2026-07-28' }), MODERN_HEADERS],
    ['a 2026-07-28 tools/call with a malformed client info', modernCall({ 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {}, 'io.modelcontextprotocol/clientInfo': { name: 1 } }), MODERN_HEADERS],
    ['a 2026-07-28 tools/call with array capabilities', modernCall({ 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': [] }), MODERN_HEADERS],
  ]

  it.each(cases)('answers %s with a 4xx or a JSON-RPC error, never a 5xx, and keeps serving', async (_name, body, headers) => {
    const response = await fetch(gateway.url('mcp'), { method: 'POST', headers: { ...MCP_HEADERS, ...headers }, body })
    const text = await response.text()
    expect(response.status, text).toBeLessThan(500)
    if (response.status < 400) expect(text, text).toMatch(/"error"|"isError":true/)
    const next = await fetch(gateway.url('mcp'), { method: 'POST', headers: MCP_HEADERS, body: toolCall('still serving') })
    expect(next.status).toBe(200)
    expect(await next.text()).toContain('echo: still serving')
  })
})
