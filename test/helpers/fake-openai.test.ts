import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import OpenAI from 'openai'
import { startFakeOpenAI, type FakeOpenAI } from './fake-openai.js'

const KEY = 'sk-test-upstream'

let fake: FakeOpenAI

beforeEach(async () => {
  fake = await startFakeOpenAI()
})

afterEach(async () => {
  await fake.close()
})

function chat (body: unknown, headers: Record<string, string> = {}, init: RequestInit = {}): Promise<Response> {
  return fetch(`${fake.url}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  })
}

const hello = { model: 'gpt-4o', messages: [{ role: 'user' as const, content: 'Hello wörld 👋 — ok?' }] }

interface SseEvent { data: string; at: number }

/** Reads an SSE body event by event, timestamping arrivals; rethrows a broken stream. */
async function readSse (res: Response): Promise<SseEvent[]> {
  const events: SseEvent[] = []
  const decoder = new TextDecoder()
  let buffer = ''
  const reader = res.body!.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    buffer += decoder.decode(value, { stream: true })
    let sep: number
    while ((sep = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, sep)
      buffer = buffer.slice(sep + 2)
      expect(block.startsWith('data: ')).toBe(true)
      events.push({ data: block.slice('data: '.length), at: performance.now() })
    }
  }
  expect(buffer).toBe('')
  return events
}

function parseChunks (events: SseEvent[]): any[] {
  return events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data))
}

describe('auth', () => {
  it('rejects a wrong key with a masked key in the OpenAI envelope', async () => {
    const res = await chat(hello, { authorization: 'Bearer sk-wrong-key-1234567890abcd' })
    expect(res.status).toBe(401)
    expect(res.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{32}$/)
    const body = await res.json()
    expect(body).toEqual({
      error: {
        message: expect.stringMatching(/^Incorrect API key provided: sk-wrong\*+abcd\. /),
        type: 'invalid_request_error',
        param: null,
        code: 'invalid_api_key',
      },
    })
    expect(body.error.message).not.toContain('key-1234567890')
  })

  it('rejects a missing key', async () => {
    const res = await fetch(`${fake.url}/models`)
    expect(res.status).toBe(401)
    const body = await res.json()
    expect(body.error.code).toBe('invalid_api_key')
    expect(body.error.message).toMatch(/didn't provide an API key/)
  })
})

describe('chat completions', () => {
  it('answers a deterministic completion with realistic headers', async () => {
    const res = await chat(hello)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(res.headers.get('openai-version')).toBe('2020-10-01')
    expect(res.headers.get('openai-processing-ms')).toMatch(/^\d+$/)
    expect(res.headers.get('x-ratelimit-limit-requests')).toBe('10000')
    expect(res.headers.get('x-ratelimit-remaining-requests')).toMatch(/^\d+$/)
    expect(res.headers.get('x-ratelimit-reset-requests')).toBeTruthy()
    const body = await res.json()
    expect(body).toMatchObject({
      id: expect.stringMatching(/^chatcmpl-/),
      object: 'chat.completion',
      model: 'gpt-4o',
      system_fingerprint: expect.stringMatching(/^fp_/),
      choices: [{ index: 0, message: { role: 'assistant', content: 'echo: Hello wörld 👋 — ok?' }, finish_reason: 'stop' }],
    })
    expect(body.usage.total_tokens).toBe(body.usage.prompt_tokens + body.usage.completion_tokens)
    expect(fake.requests).toHaveLength(1)
    expect(fake.requests[0]!.json).toEqual(hello)
    expect(fake.requests[0]!.headers.authorization).toBe(`Bearer ${KEY}`)
  })

  it('is understood by the official SDK, including tool calls', async () => {
    const client = new OpenAI({ apiKey: KEY, baseURL: fake.url, maxRetries: 0 })
    const plain = await client.chat.completions.create(hello)
    expect(plain.choices[0]?.message.content).toBe('echo: Hello wörld 👋 — ok?')

    const tools: OpenAI.Chat.ChatCompletionTool[] = [{
      type: 'function',
      function: { name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] } },
    }]
    const called = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'call get_weather for Paris' }], tools })
    const choice = called.choices[0]!
    expect(choice.finish_reason).toBe('tool_calls')
    const call = choice.message.tool_calls?.[0]
    expect(call?.id).toMatch(/^call_/)
    expect(call?.type === 'function' && call.function.name).toBe('get_weather')
    expect(call?.type === 'function' && JSON.parse(call.function.arguments)).toEqual({ location: 'call get_weather for Paris' })

    // Forced by tool_choice even though the text does not mention the tool, streamed.
    const stream = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'hi' }],
      tools,
      stream: true,
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    })
    let args = ''
    let finish: string | null | undefined
    for await (const chunk of stream) {
      args += chunk.choices[0]?.delta.tool_calls?.[0]?.function?.arguments ?? ''
      finish ??= chunk.choices[0]?.finish_reason
    }
    expect(JSON.parse(args)).toEqual({ location: 'hi' })
    expect(finish).toBe('tool_calls')
  })

  it.each([
    ['invalid JSON', '{"model":', null, null],
    ['missing model', { messages: [{ role: 'user', content: 'x' }] }, 'model', 'missing_required_parameter'],
    ['missing messages', { model: 'gpt-4o' }, 'messages', 'missing_required_parameter'],
    ['empty messages', { model: 'gpt-4o', messages: [] }, 'messages', 'empty_array'],
  ])('400 on %s', async (_name, body, param, code) => {
    const res = await chat(body)
    expect(res.status).toBe(400)
    const json = await res.json()
    expect(json.error).toMatchObject({ type: 'invalid_request_error', param, code })
    expect(typeof json.error.message).toBe('string')
  })
})

describe('streaming', () => {
  it('streams role, one word per chunk, finish, usage and [DONE], spread over time', async () => {
    const res = await chat(
      { ...hello, stream: true, stream_options: { include_usage: true } },
      { 'x-fake-behaviour': 'stream-delay:40' }
    )
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    const events = await readSse(res)
    expect(events.at(-1)?.data).toBe('[DONE]')
    const chunks = parseChunks(events)
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true)
    expect(chunks[0].choices[0].delta.role).toBe('assistant')
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')
    expect(text).toBe('echo: Hello wörld 👋 — ok?')
    const contentChunks = chunks.filter((c) => c.choices[0]?.delta.content)
    expect(contentChunks.length).toBe(6)
    const finish = chunks.find((c) => c.choices[0]?.finish_reason)
    expect(finish.choices[0].finish_reason).toBe('stop')
    const usage = chunks.at(-1)
    expect(usage.choices).toEqual([])
    expect(usage.usage.completion_tokens).toBe(6)

    // 10 events with 40ms gaps: the first and last must be far apart.
    expect(events.at(-1)!.at - events[0]!.at).toBeGreaterThan(9 * 40 * 0.7)
  })

  it('truncate: chunks then a broken connection, no [DONE]', async () => {
    const res = await chat({ ...hello, stream: true }, { 'x-fake-behaviour': 'truncate' })
    expect(res.status).toBe(200)
    const reader = res.body!.getReader()
    const decoder = new TextDecoder()
    let received = ''
    const error = await (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read()
          if (done) return undefined
          received += decoder.decode(value, { stream: true })
        }
      } catch (err) {
        return err
      }
    })()
    expect(error).toBeInstanceOf(Error)
    expect(received).toContain('"role":"assistant"')
    expect(received).not.toContain('[DONE]')
    expect(fake.requests[0]!.aborted).toBe(false)
  })

  it('end-without-done (via model): clean end, no finish chunk, no [DONE]', async () => {
    const res = await chat({ ...hello, model: 'fake-end-without-done', stream: true })
    const events = await readSse(res)
    expect(events).toHaveLength(3)
    expect(events.map((e) => e.data)).not.toContain('[DONE]')
    expect(parseChunks(events).every((c) => c.choices[0].finish_reason === null)).toBe(true)
  })
})

describe('faults', () => {
  it('429 with retry and rate-limit headers (via model)', async () => {
    const res = await chat({ ...hello, model: 'fake-429' })
    expect(res.status).toBe(429)
    expect(res.headers.get('retry-after')).toBe('1')
    expect(res.headers.get('retry-after-ms')).toBe('1000')
    expect(res.headers.get('x-ratelimit-remaining-requests')).toBe('0')
    const body = await res.json()
    expect(body.error).toMatchObject({ type: 'requests', code: 'rate_limit_exceeded', param: null })
    expect(body.error.message).toMatch(/^Rate limit reached for fake-429/)
  })

  it.each([500, 503])('%i server_error envelope (via header)', async (status) => {
    const res = await chat(hello, { 'x-fake-behaviour': String(status) })
    expect(res.status).toBe(status)
    expect((await res.json()).error).toMatchObject({ type: 'server_error', param: null })
  })

  it('slow delays the headers', async () => {
    const t0 = performance.now()
    const res = await chat(hello, { 'x-fake-behaviour': 'slow:150' })
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140)
    expect(res.status).toBe(200)
  })

  it('rejects unknown header controls loudly', async () => {
    const res = await chat(hello, { 'x-fake-behaviour': 'slwo:10' })
    expect(res.status).toBe(400)
    expect((await res.json()).error.message).toContain('slwo:10')
  })

  it('records a client abort of a hanging request with its timing', async () => {
    const controller = new AbortController()
    const pending = chat(hello, { 'x-fake-behaviour': 'hang' }, { signal: controller.signal })
    await fake.waitForRequests(1)
    setTimeout(() => controller.abort(), 100)
    await expect(pending).rejects.toThrow()
    const ms = await fake.waitForAbort(0)
    expect(ms).toBeGreaterThanOrEqual(90)
    expect(ms).toBeLessThan(2000)
    expect(fake.requests[0]!.aborted).toBe(true)
  })

  it('records a client abort in the middle of a slow stream', async () => {
    const controller = new AbortController()
    const res = await chat({ ...hello, stream: true }, { 'x-fake-behaviour': 'stream-delay:50' }, { signal: controller.signal })
    const reader = res.body!.getReader()
    await reader.read() // first chunk arrived, the rest is still pending
    controller.abort()
    const ms = await fake.waitForAbort(0)
    expect(ms).toBeLessThan(1000)
    expect(fake.requests[0]!.aborted).toBe(true)
  })

  it('truncate cuts plain JSON answers mid-body', async () => {
    const res = await chat(hello, { 'x-fake-behaviour': 'truncate' })
    expect(res.status).toBe(200)
    await expect(res.json()).rejects.toThrow()
  })

  it('waitForAbort rejects for a request that completed normally', async () => {
    await (await chat(hello)).json()
    await expect(fake.waitForAbort(0, 500)).rejects.toThrow(/without a client abort/)
  })

  it('close() ends hanging requests instead of waiting for them', async () => {
    const pending = chat(hello, { 'x-fake-behaviour': 'hang' })
    await fake.waitForRequests(1)
    const t0 = performance.now()
    await fake.close()
    expect(performance.now() - t0).toBeLessThan(1000)
    await expect(pending).rejects.toThrow()
    expect(fake.requests[0]!.aborted).toBe(false)
  })
})

describe('other routes', () => {
  it('lists models and 404s unknown URLs like OpenAI', async () => {
    const auth = { authorization: `Bearer ${KEY}` }
    const models = await (await fetch(`${fake.url}/models`, { headers: auth })).json()
    expect(models.object).toBe('list')
    expect(models.data[0]).toMatchObject({ object: 'model', owned_by: 'system' })

    const res = await fetch(`${fake.url}/nope?x=1`, { method: 'DELETE', headers: auth })
    expect(res.status).toBe(404)
    expect(await res.json()).toEqual({
      error: { message: 'Invalid URL (DELETE /v1/nope)', type: 'invalid_request_error', param: null, code: 'unknown_url' },
    })
  })

  it('echo route reflects method, path, query, headers and body without auth', async () => {
    const res = await fetch(`${fake.origin}/echo/a%20b/c?q=1&tag=x&tag=y`, {
      method: 'PUT',
      headers: { 'X-Custom': 'Yes', 'content-type': 'application/json' },
      body: JSON.stringify({ hello: 'wörld' }),
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('x-request-id')).toMatch(/^req_/)
    expect(await res.json()).toMatchObject({
      method: 'PUT',
      path: '/echo/a%20b/c',
      query: { q: '1', tag: ['x', 'y'] },
      headers: { 'x-custom': 'Yes', 'content-type': 'application/json' },
      body: { hello: 'wörld' },
    })
  })

  it('records raw body bytes even when they are not JSON or UTF-8', async () => {
    const raw = Buffer.from([0xff, 0xfe, 0x00, 0x41])
    const res = await fetch(`${fake.origin}/echo/raw`, { method: 'POST', body: raw })
    expect(typeof (await res.json()).body).toBe('string')
    expect(fake.requests[0]!.body.equals(raw)).toBe(true)
    expect(fake.requests[0]!.json).toBeUndefined()
  })
})

function post (path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${fake.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
}

interface NamedEvent { event: string, data: any }

/** Reads a Responses stream: every block is `event: <type>` then `data: <json>`; rethrows a broken stream. */
async function readNamedSse (res: Response): Promise<NamedEvent[]> {
  const text = await res.text()
  expect(text.endsWith('\n\n')).toBe(true)
  return text.slice(0, -2).split('\n\n').map((block) => {
    const match = /^event: (\S+)\ndata: (.*)$/s.exec(block)
    expect(match, block).not.toBeNull()
    return { event: match![1]!, data: JSON.parse(match![2]!) }
  })
}

const weatherTool = { type: 'function' as const, name: 'get_weather', strict: false, parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }

describe('responses', () => {
  it('answers a string input with an echo message the SDK parses, and stores it', async () => {
    const client = new OpenAI({ apiKey: KEY, baseURL: fake.url, maxRetries: 0 })
    const response = await client.responses.create({ model: 'gpt-4o-mini', input: 'Hello wörld 👋', instructions: 'be brief' })
    expect(response).toMatchObject({
      id: expect.stringMatching(/^resp_/),
      object: 'response',
      status: 'completed',
      model: 'gpt-4o-mini',
      error: null,
      incomplete_details: null,
      instructions: 'be brief',
      previous_response_id: null,
      store: true,
      text: { format: { type: 'text' } },
      output: [{
        type: 'message',
        id: expect.stringMatching(/^msg_/),
        role: 'assistant',
        status: 'completed',
        content: [{ type: 'output_text', text: 'echo: Hello wörld 👋', annotations: [] }],
      }],
    })
    expect(response.output_text).toBe('echo: Hello wörld 👋')
    expect(response.usage?.total_tokens).toBe((response.usage?.input_tokens ?? 0) + (response.usage?.output_tokens ?? 0))
    expect(response.usage?.output_tokens).toBe(4) // one per word

    const again = await client.responses.retrieve(response.id)
    expect(again.output_text).toBe('echo: Hello wörld 👋')
    const missing = await client.responses.retrieve('resp_unknown').catch((e: unknown) => e)
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError)
    expect((missing as InstanceType<typeof OpenAI.NotFoundError>).error).toMatchObject({ type: 'invalid_request_error', message: "Response with id 'resp_unknown' not found." })
  })

  it('does not store a response made with store: false', async () => {
    const created = await (await post('/responses', { model: 'gpt-4o', input: 'x', store: false })).json()
    expect(created.store).toBe(false)
    const res = await fetch(`${fake.url}/responses/${created.id}`, { headers: { authorization: `Bearer ${KEY}` } })
    expect(res.status).toBe(404)
  })

  it('echoes the last user text of a list of message items', async () => {
    const body = await (await post('/responses', {
      model: 'gpt-4o',
      input: [
        { role: 'developer', content: 'rules' },
        { role: 'user', content: 'first' },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'ok' }] },
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'second ' }, { type: 'input_text', text: 'part' }] },
      ],
    })).json()
    expect(body.output[0].content[0].text).toBe('echo: second part')
  })

  it('calls a function tool named in the user text, then echoes its output', async () => {
    const client = new OpenAI({ apiKey: KEY, baseURL: fake.url, maxRetries: 0 })
    const first = await client.responses.create({ model: 'gpt-4o', input: 'call get_weather for Paris', tools: [weatherTool] })
    const call = first.output[0]
    expect(call).toMatchObject({ type: 'function_call', id: expect.stringMatching(/^fc_/), call_id: expect.stringMatching(/^call_/), name: 'get_weather', status: 'completed' })
    expect(call?.type === 'function_call' && JSON.parse(call.arguments)).toEqual({ city: 'call get_weather for Paris' })
    expect(first.tools[0]).toMatchObject({ type: 'function', name: 'get_weather' })

    const second = await client.responses.create({
      model: 'gpt-4o',
      tools: [weatherTool],
      input: [
        { role: 'user', content: 'call get_weather for Paris' },
        call as OpenAI.Responses.ResponseFunctionToolCall,
        { type: 'function_call_output', call_id: (call as OpenAI.Responses.ResponseFunctionToolCall).call_id, output: '{"temp":21}' },
      ],
    })
    expect(second.output_text).toBe('echo: {"temp":21}')
  })

  it('takes a JSON object in the user text as the arguments, and follows tool_choice', async () => {
    const inline = await (await post('/responses', { model: 'gpt-4o', input: 'run get_weather {"city":"Oslo","unit":"c"}', tools: [weatherTool] })).json()
    expect(JSON.parse(inline.output[0].arguments)).toEqual({ city: 'Oslo', unit: 'c' })
    const forced = await (await post('/responses', { model: 'gpt-4o', input: 'hi', tools: [weatherTool], tool_choice: 'required' })).json()
    expect(forced.output[0].name).toBe('get_weather')
    const none = await (await post('/responses', { model: 'gpt-4o', input: 'get_weather', tools: [weatherTool], tool_choice: 'none' })).json()
    expect(none.output[0].type).toBe('message')
  })

  it('continues from previous_response_id and resolves item references', async () => {
    const first = await (await post('/responses', { model: 'gpt-4o', input: 'call get_weather', tools: [weatherTool] })).json()
    const callId = first.output[0].call_id
    const byPrevious = await (await post('/responses', { model: 'gpt-4o', previous_response_id: first.id, input: [{ type: 'function_call_output', call_id: callId, output: 'sunny' }] })).json()
    expect(byPrevious.output[0].content[0].text).toBe('echo: sunny')
    expect(byPrevious.previous_response_id).toBe(first.id)
    const byReference = await (await post('/responses', { model: 'gpt-4o', input: [{ type: 'item_reference', id: first.output[0].id }, { type: 'function_call_output', call_id: callId, output: 'rain' }] })).json()
    expect(byReference.output[0].content[0].text).toBe('echo: rain')
  })

  it.each([
    ['invalid JSON', '{"model":', null, null],
    ['missing model', { input: 'x' }, 'model', 'missing_required_parameter'],
    ['missing input', { model: 'gpt-4o' }, 'input', 'missing_required_parameter'],
    ['an input that is a number', { model: 'gpt-4o', input: 3 }, 'input', 'invalid_type'],
    ['an unknown previous response', { model: 'gpt-4o', previous_response_id: 'resp_nope' }, 'previous_response_id', 'previous_response_not_found'],
    ['a function_call_output without its call', { model: 'gpt-4o', input: [{ type: 'function_call_output', call_id: 'call_x', output: 'y' }] }, 'input', null],
  ])('400 on %s', async (_name, body, param, code) => {
    const res = await post('/responses', body)
    expect(res.status).toBe(400)
    const json = await res.json()
    expect(json.error).toMatchObject({ type: 'invalid_request_error', param, code })
  })

  it('applies fake-* controls given as the model, and checks the key', async () => {
    const limited = await post('/responses', { model: 'fake-429', input: 'x' })
    expect(limited.status).toBe(429)
    expect((await limited.json()).error.code).toBe('rate_limit_exceeded')
    const unauthorized = await post('/responses', { model: 'gpt-4o', input: 'x' }, { authorization: 'Bearer sk-wrong' })
    expect(unauthorized.status).toBe(401)
    expect((await unauthorized.json()).error.code).toBe('invalid_api_key')
  })
})

describe('responses streaming', () => {
  it('sends named events in the real order, one word per delta, no [DONE]', async () => {
    const res = await post('/responses', { model: 'gpt-4o', input: 'one two three', stream: true })
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    const events = await readNamedSse(res)
    for (const [i, e] of events.entries()) {
      expect(e.data.type).toBe(e.event)
      expect(e.data.sequence_number).toBe(i)
    }
    expect(events.map((e) => e.event)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      ...Array(4).fill('response.output_text.delta'),
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ])
    expect(events[0]!.data.response).toMatchObject({ status: 'in_progress', output: [], usage: null })
    const deltas = events.filter((e) => e.event === 'response.output_text.delta').map((e) => e.data.delta)
    expect(deltas).toEqual(['echo:', ' one', ' two', ' three'])
    const final = events.at(-1)!.data.response
    expect(final).toMatchObject({ status: 'completed', output: [{ type: 'message', content: [{ text: 'echo: one two three' }] }] })
    expect(events.find((e) => e.event === 'response.output_text.done')!.data.text).toBe('echo: one two three')
    const stored = await (await fetch(`${fake.url}/responses/${final.id}`, { headers: { authorization: `Bearer ${KEY}` } })).json()
    expect(stored).toEqual(final)
  })

  it('is understood by the official SDK stream helper', async () => {
    const client = new OpenAI({ apiKey: KEY, baseURL: fake.url, maxRetries: 0 })
    const stream = client.responses.stream({ model: 'gpt-4o', input: 'streamed hello' })
    let text = ''
    stream.on('response.output_text.delta', (e) => { text += e.delta })
    const final = await stream.finalResponse()
    expect(text).toBe('echo: streamed hello')
    expect(final.output_text).toBe(text)
  })

  it('streams a function call as argument deltas', async () => {
    const events = await readNamedSse(await post('/responses', { model: 'gpt-4o', input: 'get_weather in Rome', tools: [weatherTool], stream: true }))
    expect(events.map((e) => e.event).filter((t) => !t.endsWith('.delta'))).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ])
    expect(events[2]!.data.item).toMatchObject({ type: 'function_call', status: 'in_progress', arguments: '', name: 'get_weather' })
    const args = events.filter((e) => e.event === 'response.function_call_arguments.delta').map((e) => e.data.delta).join('')
    expect(JSON.parse(args)).toEqual({ city: 'get_weather in Rome' })
    expect(events.find((e) => e.event === 'response.function_call_arguments.done')!.data).toMatchObject({ arguments: args, name: 'get_weather' })
    expect(events.at(-1)!.data.response.output[0]).toMatchObject({ type: 'function_call', arguments: args, status: 'completed' })
  })

  it('truncate (via model): events up to the second delta, then a broken connection', async () => {
    const res = await post('/responses', { model: 'fake-truncate', input: 'a b c d e', stream: true })
    expect(res.status).toBe(200)
    const reader = res.body!.getReader()
    const decoder = new TextDecoder()
    let received = ''
    const error = await (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read()
          if (done) return undefined
          received += decoder.decode(value, { stream: true })
        }
      } catch (err) {
        return err
      }
    })()
    expect(error).toBeInstanceOf(Error)
    expect(received.match(/event: response\.output_text\.delta/g)).toHaveLength(2)
    expect(received).not.toContain('response.completed')
  })

  it('echo-auth spells the presented key across two delta events', async () => {
    const events = await readNamedSse(await post('/responses', { model: 'fake-echo-auth', input: 'hi', stream: true }))
    const deltas = events.filter((e) => e.event === 'response.output_text.delta').map((e) => e.data.delta as string)
    expect(deltas.join('')).toBe(`echo: hi ${KEY}`)
    expect(deltas.some((d) => d.includes(KEY))).toBe(false)
    const completion = await (await chat({ model: 'fake-echo-auth', messages: [{ role: 'user', content: 'hi' }] })).json()
    expect(completion.choices[0].message.content).toBe(`echo: hi ${KEY}`)
  })
})

describe('embeddings', () => {
  it('answers the SDK default (base64) with unit float32 vectors, the same for the same text', async () => {
    const client = new OpenAI({ apiKey: KEY, baseURL: fake.url, maxRetries: 0 })
    const result = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['alpha', 'beta', 'alpha'] })
    expect(fake.requests[0]!.json).toMatchObject({ encoding_format: 'base64' })
    expect(result).toMatchObject({ object: 'list', model: 'text-embedding-3-small', usage: { prompt_tokens: 3, total_tokens: 3 } })
    expect(result.data.map((d) => [d.object, d.index, d.embedding.length])).toEqual([['embedding', 0, 1536], ['embedding', 1, 1536], ['embedding', 2, 1536]])
    const [a, b, a2] = result.data.map((d) => Array.from(d.embedding))
    expect(a2).toEqual(a)
    expect(b).not.toEqual(a)
    expect(Math.hypot(...a!)).toBeCloseTo(1, 5)

    const floats = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'alpha', encoding_format: 'float', dimensions: 8 })
    expect(floats.data[0]!.embedding).toHaveLength(8)
    expect(floats.data[0]!.embedding.every((v) => typeof v === 'number' && Math.fround(v) === v)).toBe(true)
  })

  it.each([
    ['missing input', { model: 'text-embedding-3-small' }, 'input', 'missing_required_parameter'],
    ['an empty string', { model: 'text-embedding-3-small', input: '' }, 'input', null],
    ['missing model', { input: 'x' }, 'model', 'missing_required_parameter'],
  ])('400 on %s', async (_name, body, param, code) => {
    const res = await post('/embeddings', body)
    expect(res.status).toBe(400)
    expect((await res.json()).error).toMatchObject({ type: 'invalid_request_error', param, code })
  })
})
