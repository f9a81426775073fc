import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import OpenAI from 'openai'
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.js'
import { CHAT_CAPABILITY, CHAT_NAMESPACE, startGateway, type Gateway } from '../helpers/gateway.js'

const UPSTREAM_KEY = 'sk-test-upstream-0123456789abcdef'

let upstream: FakeOpenAI
let gateway: Gateway
let client: OpenAI

beforeAll(async () => {
  upstream = await startFakeOpenAI({ apiKey: UPSTREAM_KEY })
  gateway = await startGateway(CHAT_CAPABILITY, {
    flags: { 'base-uri': [`${CHAT_NAMESPACE}=${upstream.url}`] },
    env: { CHATGPT_API_KEY: UPSTREAM_KEY },
  })
  client = new OpenAI({ apiKey: 'sk-client-credential-must-not-leak', baseURL: `${gateway.url()}/v1`, maxRetries: 0 })
})

afterAll(async () => {
  await gateway?.close()
  await upstream?.close()
})

describe('POST /v1/chat/completions through the openai SDK', () => {
  it('returns a plain completion from the upstream', async () => {
    const completion = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello there' }] })
    expect(completion.object).toBe('chat.completion')
    expect(completion.choices[0]?.message.content).toBe('echo: hello there')
    expect(completion.usage?.total_tokens).toBeGreaterThan(0)
  })

  it('sends the bound key upstream and never the client credential', async () => {
    const before = upstream.requests.length
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'who am i' }] })
    const seen = upstream.requests[before]
    expect(seen?.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`)
    expect(JSON.stringify(seen?.headers)).not.toContain('sk-client-credential-must-not-leak')
  })

  it('round-trips unicode bodies byte for byte', async () => {
    const text = 'héllo wörld — 你好 🌍 \u202e ok'
    const before = upstream.requests.length
    const completion = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: text }] })
    expect(completion.choices[0]?.message.content).toBe(`echo: ${text}`)
    const sent = upstream.requests[before]?.json as { messages: Array<{ content: string }> }
    expect(sent.messages[0]?.content).toBe(text)
  })

  it('answers a short completion, scanned whole, with its length instead of chunks', async () => {
    const res = await fetch(`${gateway.url()}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'héllo' }] }),
    })
    const body = Buffer.from(await res.arrayBuffer())
    expect(res.status).toBe(200)
    expect(res.headers.get('transfer-encoding')).toBeNull()
    expect(res.headers.get('content-length')).toBe(String(body.length))
    expect(JSON.parse(body.toString('utf8')).choices[0].message.content).toBe('echo: héllo')
  })

  it('relays a streamed completion chunk by chunk as the upstream sends it', async () => {
    const stream = await client.chat.completions.create({
      model: 'fake-stream-delay:60',
      messages: [{ role: 'user', content: 'one two three four five' }],
      stream: true,
      stream_options: { include_usage: true },
    })
    const arrivals: number[] = []
    let text = ''
    let usage: unknown
    for await (const chunk of stream) {
      arrivals.push(performance.now())
      text += chunk.choices[0]?.delta.content ?? ''
      if (chunk.usage) usage = chunk.usage
    }
    expect(text).toBe('echo: one two three four five')
    expect(usage).toMatchObject({ total_tokens: expect.any(Number) })
    // chunks arrive spread over time (60 ms apart upstream), not in one burst at the end
    const spread = (arrivals.at(-1) as number) - (arrivals[0] as number)
    expect(arrivals.length).toBeGreaterThan(5)
    expect(spread).toBeGreaterThan(200)
  })

  it('returns tool calls', async () => {
    const completion = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'what is the weather in Paris' }],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }],
      tool_choice: 'required',
    })
    const call = completion.choices[0]?.message.tool_calls?.[0]
    expect(completion.choices[0]?.finish_reason).toBe('tool_calls')
    expect(call?.type).toBe('function')
    expect(call?.type === 'function' ? call.function.name : undefined).toBe('get_weather')
  })

  it('passes an upstream 429 through with status, envelope and retry-after', async () => {
    const err = await client.chat.completions.create({ model: 'fake-429', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OpenAI.RateLimitError)
    const rate = err as InstanceType<typeof OpenAI.RateLimitError>
    expect(rate.status).toBe(429)
    expect(rate.code).toBe('rate_limit_exceeded')
    expect(rate.headers?.get('retry-after')).toBe('1')
    expect(rate.headers?.get('x-ratelimit-remaining-requests')).toBe('0')
  })

  it('passes an upstream 400 through with its param', async () => {
    const err = await client.chat.completions.create({ messages: [{ role: 'user', content: 'x' }] } as never).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OpenAI.BadRequestError)
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('model')
  })

  it('passes the headers clients rely on', async () => {
    const { response } = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).withResponse()
    expect(response.headers.get('x-request-id')).toMatch(/^req_/)
    expect(response.headers.get('openai-version')).toBe('2020-10-01')
    expect(response.headers.get('x-ratelimit-limit-requests')).not.toBeNull()
    expect(response.headers.get('set-cookie')).toBeNull()
  })

  it('names the log line of every response, error or not, in x-naftiko-request-id', async () => {
    const answers = await Promise.all([
      fetch(`${gateway.url()}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'id' }] }) }),
      fetch(`${gateway.url()}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' }),
      fetch(`${gateway.url()}/no/such/route`),
      // a malformed URL, refused by the router before any route or hook
      fetch(`${gateway.url()}/v1/%E0%A4%A`),
    ])
    await new Promise((resolve) => setTimeout(resolve, 50))
    const ids = new Set(gateway.logs.entries().filter((e) => e.msg === 'request').map((e) => e.reqId))
    for (const answer of answers) {
      const id = answer.headers.get('x-naftiko-request-id')
      expect(id, String(answer.status)).toMatch(/^[0-9a-f-]{36}$/)
      expect(ids.has(id)).toBe(true)
      await answer.arrayBuffer()
    }
  })
})
