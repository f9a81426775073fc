import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.js'
import { CHAT_CAPABILITY, CHAT_NAMESPACE, startGateway, type Gateway } from '../helpers/gateway.js'
import { CLIENTS, type McpTestClient } from '../helpers/mcp-clients.js'

const UPSTREAM_KEY = 'sk-test-upstream-mcp-0123456789'
const TOOL = 'chatgpt-create-chat-completion'

let upstream: FakeOpenAI
let gateway: Gateway

beforeAll(async () => {
  upstream = await startFakeOpenAI({ apiKey: UPSTREAM_KEY })
  gateway = await startGateway(CHAT_CAPABILITY, {
    flags: { 'base-uri': [`${CHAT_NAMESPACE}=${upstream.url}`], 'progress-interval': '100' },
    env: { CHATGPT_API_KEY: UPSTREAM_KEY },
  })
})

afterAll(async () => {
  await gateway?.close()
  await upstream?.close()
})

const ask = (content: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content }], ...extra },
})

describe.each(CLIENTS)('MCP tool through the %s', (_era, connect) => {
  let client: McpTestClient
  beforeAll(async () => { client = await connect(gateway.url('mcp')) })
  afterAll(async () => { await client?.close() })

  it('lists the tool with its annotations and an input schema an agent can fill', async () => {
    const { tools } = await client.listTools()
    const tool = tools.find((t) => t.name === TOOL)
    expect(tool).toBeDefined()
    expect(tool?.description).toBe('Chatgpt Create Chat Completion')
    expect(tool?.annotations).toEqual({ readOnlyHint: false, destructiveHint: false, idempotentHint: false })
    expect(tool?.inputSchema).toMatchObject({ type: 'object', properties: { body: { type: 'object' } }, required: ['body'] })
  })

  it('returns the upstream completion in structuredContent and as text', async () => {
    const before = upstream.requests.length
    const result = await client.callTool(TOOL, ask('bonjour 🌍'))
    expect(result.isError).toBeFalsy()
    const completion = result.structuredContent as { choices: Array<{ message: { content: string } }> }
    expect(completion.choices[0]?.message.content).toBe('echo: bonjour 🌍')
    const text = (result.content as Array<{ type: string, text: string }>).find((c) => c.type === 'text')?.text ?? ''
    expect(JSON.parse(text)).toEqual(completion)
    expect(upstream.requests[before]?.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`)
  })

  it('answers a plain call (served without the SDK) as the SDK answers the same call with progress', async () => {
    const plain = await client.callTool(TOOL, ask('same answer'))
    const withProgress = await client.callTool(TOOL, ask('same answer'), { onprogress: () => {} })
    // the completion's id and time differ from call to call, in the text and in structuredContent
    const unique = (k: string, v: unknown): unknown => k === 'id' || k === 'created' ? undefined : v
    const strip = (r: Record<string, unknown>): unknown => JSON.parse(JSON.stringify(r, (k, v: unknown) => k === 'text' && typeof v === 'string' ? JSON.parse(v, unique) : unique(k, v)))
    expect(strip(plain)).toEqual(strip(withProgress))
    expect(plain).not.toHaveProperty('isError')
  })

  it('reports an upstream 429 as a tool error that names the status', async () => {
    const result = await client.callTool(TOOL, ask('x', { model: 'fake-429' }))
    expect(result.isError).toBe(true)
    expect(JSON.stringify(result.content)).toMatch(/429/)
  })

  it('refuses an unknown tool and keeps serving', async () => {
    const refused = await client.callTool('no-such-tool', {}).then((r) => r, (e: unknown) => e)
    // a protocol error (thrown) or an error result: never a success
    expect(refused instanceof Error || (refused as { isError?: boolean }).isError === true).toBe(true)
    const next = await client.callTool(TOOL, ask('still there?'))
    expect(next.isError).toBeFalsy()
  })

  it('names the bad argument when arguments do not fit the schema', async () => {
    const result = await client.callTool(TOOL, { notBody: 1 }).then((r) => r, (e: unknown) => ({ isError: true, content: [{ text: String(e) }] }))
    expect(result.isError).toBe(true)
    expect(JSON.stringify(result.content)).toMatch(/body/)
  })

  it('sends progress as a streamed completion arrives, then the assembled completion', async () => {
    const progress: Array<{ progress: number, message?: string }> = []
    const result = await client.callTool(TOOL, ask('alpha beta gamma delta', { model: 'fake-stream-delay:20', stream: true, stream_options: { include_usage: true } }), {
      onprogress: (p) => progress.push(p),
    })
    expect(result.isError).toBeFalsy()
    expect(progress.length).toBeGreaterThanOrEqual(2)
    // each notification carries what is new since the previous one, with an increasing count
    expect(progress.map((p) => p.message ?? '').join('')).toBe('echo: alpha beta gamma delta')
    for (let i = 1; i < progress.length; i++) expect((progress[i] as { progress: number }).progress).toBeGreaterThan((progress[i - 1] as { progress: number }).progress)
    const completion = result.structuredContent as { object: string, choices: Array<{ message: { content: string }, finish_reason: string }>, usage: { total_tokens: number } }
    expect(completion.object).toBe('chat.completion')
    expect(completion.choices[0]?.message.content).toBe('echo: alpha beta gamma delta')
    expect(completion.choices[0]?.finish_reason).toBe('stop')
    expect(completion.usage.total_tokens).toBeGreaterThan(0)
  })

  it('assembles streamed tool calls like a non-streamed answer', async () => {
    const result = await client.callTool(TOOL, ask('weather in Oslo', {
      stream: true,
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }],
      tool_choice: 'required',
    }))
    const choice = (result.structuredContent as { choices: Array<{ message: { tool_calls: Array<{ function: { name: string, arguments: string } }> }, finish_reason: string }> }).choices[0]
    expect(choice?.finish_reason).toBe('tool_calls')
    expect(choice?.message.tool_calls[0]?.function.name).toBe('get_weather')
    expect(JSON.parse(choice?.message.tool_calls[0]?.function.arguments ?? '')).toHaveProperty('city')
  })

  it('sends heartbeats while a non-streaming upstream call is slow', async () => {
    const progress: unknown[] = []
    const result = await client.callTool(TOOL, ask('slow', { model: 'fake-slow:450' }), { onprogress: (p) => progress.push(p) })
    expect(result.isError).toBeFalsy()
    expect(progress.length).toBeGreaterThanOrEqual(2)
  })

  it('aborts the upstream request when the client cancels the call', async () => {
    const index = upstream.requests.length
    const controller = new AbortController()
    const call = client.callTool(TOOL, ask('never mind', { model: 'fake-hang' }), { signal: controller.signal }).catch((e: unknown) => e)
    await upstream.waitForRequests(index + 1)
    controller.abort()
    await call
    const ms = await upstream.waitForAbort(index, 3000)
    expect(ms).toBeLessThan(3000)
  })
})
