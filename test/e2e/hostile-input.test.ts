import { connect } from 'node:net'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import OpenAI from 'openai'
import { request } from 'undici'
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.js'
import { CHAT_CAPABILITY, CHAT_NAMESPACE, startGateway, type Gateway } from '../helpers/gateway.js'
import { refusedPort } from '../helpers/loopback.js'
import type { RuntimeFlags } from '../../src/options.js'

const UPSTREAM_KEY = 'sk-test-upstream-0123456789abcdef'
const CHAT = '/v1/chat/completions'
const GOOD_BODY = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'ping' }] })
const JSON_HEADERS = { 'content-type': 'application/json' }

interface Envelope { error: { message: string, type: string, param: string | null, code: string | null } }
interface Answer { status: number, headers: Record<string, string | string[] | undefined>, text: string }

let upstream: FakeOpenAI
/** default options */
let gateway: Gateway
/** --body-limit 1024 */
let small: Gateway
/** --upstream-timeout 300 */
let impatient: Gateway
/** --base-uri at a port nobody listens on */
let orphan: Gateway

async function start (flags: RuntimeFlags = {}, baseUri = upstream.url): Promise<Gateway> {
  return startGateway(CHAT_CAPABILITY, {
    flags: { 'base-uri': [`${CHAT_NAMESPACE}=${baseUri}`], ...flags },
    env: { CHATGPT_API_KEY: UPSTREAM_KEY },
  })
}

beforeAll(async () => {
  upstream = await startFakeOpenAI({ apiKey: UPSTREAM_KEY })
  const port = await refusedPort()
  ;[gateway, small, impatient, orphan] = await Promise.all([
    start(),
    start({ 'body-limit': '1024' }),
    start({ 'upstream-timeout': '300' }),
    start({}, `http://127.0.0.1:${port}/v1`),
  ])
})

afterAll(async () => {
  await Promise.allSettled([gateway, small, impatient, orphan].map((g) => g?.close()))
  await upstream?.close()
})

async function send (gw: Gateway, path: string, options: { method?: string, body?: string | Buffer | Readable, headers?: Record<string, string> } = {}): Promise<Answer> {
  const res = await request(`${gw.url()}${path}`, {
    method: (options.method ?? 'POST') as 'POST',
    headers: options.headers ?? JSON_HEADERS,
    body: options.body,
  })
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() }
}

function parseEnvelope (text: string): Envelope {
  const body = JSON.parse(text) as Envelope
  expect(Object.keys(body)).toEqual(['error'])
  expect(body.error).toEqual({
    message: expect.any(String),
    type: expect.any(String),
    param: body.error.param === null ? null : expect.any(String),
    code: body.error.code === null ? null : expect.any(String),
  })
  expect(body.error.message.length).toBeGreaterThan(0)
  return body
}

/** The answer is the gateway's own error: status, OpenAI envelope, stable code. */
function expectGatewayError (answer: Answer, status: number, code: string): Envelope {
  expect(answer.status, answer.text).toBe(status)
  expect(String(answer.headers['content-type'])).toMatch(/^application\/json/)
  const body = parseEnvelope(answer.text)
  expect(body.error.code).toBe(code)
  return body
}

/** Not a 5xx, and when it is an error it is an OpenAI envelope. */
function expectCleanAnswer (answer: Answer): void {
  expect(answer.status, answer.text).toBeLessThan(500)
  if (answer.status >= 400) parseEnvelope(answer.text)
}

/** The gateway still answers an ordinary request after whatever came before. */
async function expectStillServing (gw: Gateway = gateway): Promise<void> {
  const answer = await send(gw, CHAT, { body: GOOD_BODY })
  expect(answer.status, answer.text).toBe(200)
  expect((JSON.parse(answer.text) as { choices: Array<{ message: { content: string } }> }).choices[0]?.message.content).toBe('echo: ping')
}

interface RawAnswer { status: number | undefined, head: string, body: string, closed: boolean }

/** Writes raw bytes on a fresh TCP connection and reads until the server closes it (or a timeout). */
function rawExchange (gw: Gateway, payload: string | Buffer, timeoutMs = 3000): Promise<RawAnswer> {
  const { hostname, port } = new URL(gw.url())
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let closed = false
    const socket = connect({ host: hostname, port: Number(port) }, () => { socket.write(payload) })
    const timer = setTimeout(() => socket.destroy(), timeoutMs)
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('error', () => { closed = true })
    socket.on('end', () => { closed = true })
    socket.on('close', () => {
      clearTimeout(timer)
      const text = Buffer.concat(chunks).toString('utf8')
      const split = text.indexOf('\r\n\r\n')
      const head = split < 0 ? text : text.slice(0, split)
      let body = split < 0 ? '' : text.slice(split + 4)
      if (/^transfer-encoding:\s*chunked/im.test(head)) body = dechunk(body)
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1]
      resolve({ status: status === undefined ? undefined : Number(status), head, body, closed })
    })
  })
}

function dechunk (body: string): string {
  let out = ''
  let rest = body
  for (;;) {
    const eol = rest.indexOf('\r\n')
    if (eol < 0) return out
    const size = Number.parseInt(rest.slice(0, eol), 16)
    if (!(size > 0)) return out
    out += rest.slice(eol + 2, eol + 2 + size)
    rest = rest.slice(eol + 2 + size + 2)
  }
}

function rawRequest (gw: Gateway, requestLine: string, body = GOOD_BODY, extraHeaders = ''): string {
  const { host } = new URL(gw.url())
  return `${requestLine}\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n${extraHeaders}\r\n${body}`
}

describe('malformed JSON bodies', () => {
  it.each([
    ['a truncated object', '{"model": "gpt-4o-mini", "messages": [{"role": "user"'],
    ['trailing garbage after a valid object', `${GOOD_BODY} garbage`],
    ['two concatenated objects', `${GOOD_BODY}${GOOD_BODY}`],
    ['single-quoted strings', "{'model': 'gpt-4o-mini', 'messages': []}"],
    ['a bare word', 'hello'],
    ['a trailing comma', '{"model": "gpt-4o-mini",}'],
    ['an unbalanced 100k-deep array', '['.repeat(100_000)],
    ['a lone UTF-16 BOM-like byte soup', '\u0000\u0001{'],
  ])('rejects %s with 400 invalid_json and keeps serving', async (_name, body) => {
    const before = upstream.requests.length
    expectGatewayError(await send(gateway, CHAT, { body }), 400, 'invalid_json')
    expect(upstream.requests.length).toBe(before)
    await expectStillServing()
  })

  // BUG (reported): the JSON parser's RegExp is anchored with `$` and fastify tests it against the
  // full content type including parameters, so `; charset=utf-8` bodies skip the JSON check and
  // go upstream as opaque bytes.
  it.each([
    'application/json; charset=utf-8',
    'application/json;charset=UTF-8',
    'application/vnd.api+json; charset=utf-8',
  ])('rejects malformed JSON sent as %s with 400 invalid_json, without calling the upstream', async (contentType) => {
    const before = upstream.requests.length
    const answer = await send(gateway, CHAT, { body: '{"model":', headers: { 'content-type': contentType } })
    expectGatewayError(answer, 400, 'invalid_json')
    expect(upstream.requests.length).toBe(before)
    await expectStillServing()
  })

  it('relays a valid JSON body sent with a charset parameter', async () => {
    const answer = await send(gateway, CHAT, { body: GOOD_BODY, headers: { 'content-type': 'application/json; charset=utf-8' } })
    expect(answer.status, answer.text).toBe(200)
  })

  it.each([
    ['arrays', '['.repeat(100_000) + ']'.repeat(100_000)],
    ['objects', '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000)],
  ])('answers a balanced 100k-deep nest of %s with a 4xx envelope, never a 500 or a crash', async (_name, body) => {
    const answer = await send(gateway, CHAT, { body })
    expect(answer.status, answer.text).toBeGreaterThanOrEqual(400)
    expectCleanAnswer(answer)
    await expectStillServing()
  })

  it('does not re-encode a JSON body with invalid UTF-8: it is rejected or forwarded byte for byte', async () => {
    const body = Buffer.concat([
      Buffer.from('{"model":"gpt-4o-mini","messages":[{"role":"user","content":"bad '),
      Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80]),
      Buffer.from('"}]}'),
    ])
    const before = upstream.requests.length
    const answer = await send(gateway, CHAT, { body })
    expectCleanAnswer(answer)
    if (answer.status === 400 && upstream.requests.length === before) {
      expect(parseEnvelope(answer.text).error.code).toBe('invalid_json')
    } else {
      expect(upstream.requests[before]?.body.equals(body)).toBe(true)
    }
    await expectStillServing()
  })
})

describe('routing', () => {
  it.each([
    ['POST', '/v1/nope'],
    ['POST', '/'],
    ['POST', '/v1/chat/completions/extra'],
    ['POST', '/v1/chat'],
    ['GET', '/v1/models'],
    ['GET', '/v1/chat/completions'],
    ['PUT', '/v1/chat/completions'],
    ['DELETE', '/v1/chat/completions'],
    ['PATCH', '/v1/chat/completions'],
  ])('answers %s %s with 404 unknown_route without calling the upstream', async (method, path) => {
    const before = upstream.requests.length
    const answer = await send(gateway, path, { method, body: method === 'GET' ? undefined : GOOD_BODY })
    expectGatewayError(answer, 404, 'unknown_route')
    expect(upstream.requests.length).toBe(before)
    await expectStillServing()
  })

  it.each([
    ['an encoded CRLF in the path', 'POST /v1/chat%0d%0acompletions HTTP/1.1'],
    ['an encoded CRLF with an injected header', 'POST /v1/chat/completions%0D%0AX-Injected:%20yes HTTP/1.1'],
    ['a dot-dot segment climbing out of /v1', 'POST /v1/../v1/chat/completions HTTP/1.1'],
    ['a dot-dot segment inside the route', 'POST /v1/chat/x/../completions HTTP/1.1'],
    ['an encoded dot-dot segment', 'POST /v1/chat/%2e%2e/chat/completions HTTP/1.1'],
    ['an encoded slash', 'POST /v1/chat%2Fcompletions HTTP/1.1'],
  ])('answers %s with 404 unknown_route and never calls the upstream', async (_name, requestLine) => {
    const before = upstream.requests.length
    const answer = await rawExchange(gateway, rawRequest(gateway, requestLine))
    expect(answer.status, answer.head).toBe(404)
    expect(parseEnvelope(answer.body).error.code).toBe('unknown_route')
    expect(upstream.requests.length).toBe(before)
    await expectStillServing()
  })

  it('answers a raw CR LF inside the request line with a 400 (or a closed connection), never a routed call', async () => {
    const before = upstream.requests.length
    const answer = await rawExchange(gateway, rawRequest(gateway, 'POST /v1/chat\r\nX-Injected: yes\r\n/completions HTTP/1.1'))
    if (answer.status !== undefined) expect(answer.status).toBe(400)
    expect(answer.closed).toBe(true)
    expect(upstream.requests.length).toBe(before)
    await expectStillServing()
  })
})

describe('body size limits', () => {
  const big = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(2048) }] })

  it('answers a body over --body-limit (with content-length) with 413 body_too_large', async () => {
    const before = upstream.requests.length
    expectGatewayError(await send(small, CHAT, { body: big }), 413, 'body_too_large')
    expect(upstream.requests.length).toBe(before)
    await expectStillServing(small)
  })

  it('answers a chunked body that grows over --body-limit with 413 body_too_large', async () => {
    const before = upstream.requests.length
    const body = Readable.from([Buffer.from(big.slice(0, 600)), Buffer.from(big.slice(600, 1200)), Buffer.from(big.slice(1200))])
    expectGatewayError(await send(small, CHAT, { body }), 413, 'body_too_large')
    expect(upstream.requests.length).toBe(before)
    await expectStillServing(small)
  })

  it('accepts a body exactly at --body-limit', async () => {
    const base = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: '' }] })
    const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'y'.repeat(1024 - base.length) }] })
    expect(Buffer.byteLength(body)).toBe(1024)
    const answer = await send(small, CHAT, { body })
    expect(answer.status, answer.text).toBe(200)
  })

  it('answers a 33 MiB body with 413 body_too_large under the default 32 MiB limit', async () => {
    const before = upstream.requests.length
    const content = 'z'.repeat(33 * 1024 * 1024)
    const body = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"${content}"}]}`
    expectGatewayError(await send(gateway, CHAT, { body }), 413, 'body_too_large')
    expect(upstream.requests.length).toBe(before)
    await expectStillServing()
  })
})

describe('protocol abuse', () => {
  it('answers a header over 16 KiB with 431 or a closed connection, and keeps serving', async () => {
    const answer = await rawExchange(gateway, rawRequest(gateway, `POST ${CHAT} HTTP/1.1`, GOOD_BODY, `X-Huge: ${'h'.repeat(20 * 1024)}\r\n`))
    if (answer.status !== undefined) expect(answer.status).toBe(431)
    expect(answer.closed).toBe(true)
    await expectStillServing()
  })

  it('answers many headers adding up to over 16 KiB with 431 or a closed connection, and keeps serving', async () => {
    const headers = Array.from({ length: 400 }, (_, i) => `X-Many-${i}: ${'m'.repeat(60)}\r\n`).join('')
    const answer = await rawExchange(gateway, rawRequest(gateway, `POST ${CHAT} HTTP/1.1`, GOOD_BODY, headers))
    if (answer.status !== undefined) expect(answer.status).toBe(431)
    expect(answer.closed).toBe(true)
    await expectStillServing()
  })

  it('survives a client that sends half a request and hangs up', async () => {
    const payload = rawRequest(gateway, `POST ${CHAT} HTTP/1.1`)
    const { hostname, port } = new URL(gateway.url())
    await new Promise<void>((resolve) => {
      const socket = connect({ host: hostname, port: Number(port) }, () => {
        socket.write(payload.slice(0, payload.length - 10), () => { socket.destroy(); resolve() })
      })
    })
    await expectStillServing()
  })

  it.each([
    ['text/plain', 'text/plain'],
    ['text/plain with a charset', 'text/plain; charset=utf-8'],
    ['form-urlencoded', 'application/x-www-form-urlencoded'],
    ['octet-stream', 'application/octet-stream'],
    ['a nonsense media type', 'not/a;;type=='],
  ])('forwards a %s body or refuses it cleanly, never with a 500', async (_name, contentType) => {
    const answer = await send(gateway, CHAT, { body: GOOD_BODY, headers: { 'content-type': contentType } })
    expectCleanAnswer(answer)
    if (answer.status >= 400) expect(['unsupported_media_type', 'invalid_request']).toContain(parseEnvelope(answer.text).error.code)
    await expectStillServing()
  })

  it('forwards a body without any content-type or refuses it cleanly, never with a 500', async () => {
    const answer = await rawExchange(gateway, `POST ${CHAT} HTTP/1.1\r\nHost: x\r\nContent-Length: ${Buffer.byteLength(GOOD_BODY)}\r\nConnection: close\r\n\r\n${GOOD_BODY}`)
    expect(answer.status, answer.head).toBeDefined()
    expect(answer.status).toBeLessThan(500)
    await expectStillServing()
  })

  it('answers a content-length larger than the body sent with a clean error or a closed connection', async () => {
    const answer = await rawExchange(gateway, `POST ${CHAT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 999999\r\nConnection: close\r\n\r\n${GOOD_BODY}`, 500)
    if (answer.status !== undefined) expect(answer.status).toBeLessThan(500)
    await expectStillServing()
  })
})

describe('upstream failures', () => {
  it('answers 502 upstream_unreachable when the upstream port is closed, and again on the next request', async () => {
    expectGatewayError(await send(orphan, CHAT, { body: GOOD_BODY }), 502, 'upstream_unreachable')
    const second = await send(orphan, CHAT, { body: GOOD_BODY })
    expectGatewayError(second, 502, 'upstream_unreachable')
    expect(second.text).not.toContain('ECONNREFUSED')
    expect(second.text).not.toContain('127.0.0.1')
  })

  it.each([
    ['slow headers', 'fake-slow:2000'],
    ['no answer at all', 'fake-hang'],
  ])('answers 504 upstream_timeout quickly when the upstream sends %s', async (_name, model) => {
    const started = performance.now()
    const answer = await send(impatient, CHAT, { body: JSON.stringify({ model, messages: [{ role: 'user', content: 'x' }] }) })
    const elapsed = performance.now() - started
    expectGatewayError(answer, 504, 'upstream_timeout')
    expect(elapsed).toBeLessThan(1500)
    await expectStillServing(impatient)
  })

  it.each([
    [500, 'fake-500', 'The server had an error while processing your request. Sorry about that!'],
    [503, 'fake-503', 'That model is currently overloaded'],
  ])('passes an upstream %i through with the upstream envelope, not rewritten', async (status, model, message) => {
    const answer = await send(gateway, CHAT, { body: JSON.stringify({ model, messages: [{ role: 'user', content: 'x' }] }) })
    expect(answer.status).toBe(status)
    const body = parseEnvelope(answer.text)
    expect(body.error.message).toContain(message)
    expect(body.error.type).toBe('server_error')
    expect(body.error.code).not.toBe('internal_error')
    expect(answer.headers['x-request-id']).toMatch(/^req_/)
    await expectStillServing()
  })

  it.each([
    ['cut off mid-stream', 'fake-truncate'],
    ['ended without [DONE]', 'fake-end-without-done'],
  ])('makes the openai SDK stream iterator throw when the upstream stream is %s', async (_name, model) => {
    const client = new OpenAI({ apiKey: 'sk-client', baseURL: `${gateway.url()}/v1`, maxRetries: 0 })
    const stream = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'one two three four' }], stream: true })
    let text = ''
    const iterate = async (): Promise<void> => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ''
    }
    await expect(iterate()).rejects.toThrow()
    // the two content chunks that did arrive were relayed before the error
    expect(text).toBe('echo: one')
    await expectStillServing()
  })

  const brokenStreams = [
    ['cut off mid-stream', 'fake-truncate'],
    ['ended without [DONE]', 'fake-end-without-done'],
  ] as const

  it.each(brokenStreams)('ends the response abnormally for a raw reader, without [DONE], when the stream is %s', async (_name, model) => {
    const { text, failure } = await readStream(model)
    expect(failure, 'the body must not end cleanly').toBeDefined()
    expect(text).toContain('"content":" one"')
    expect(text).not.toContain('data: [DONE]')
    await expectStillServing()
  })

  // BUG (reported): relay-response.ts writes the error event and destroys the socket in the same
  // tick; the write is still corked in the ServerResponse, so the event never reaches the client.
  it.each(brokenStreams)('sends a raw reader an upstream_stream_broken event before cutting the stream when it is %s', async (_name, model) => {
    const { text } = await readStream(model)
    const events = text.split('\n\n').map((e) => e.trim()).filter((e) => e.startsWith('data: '))
    const last = JSON.parse((events.at(-1) ?? '').slice('data: '.length)) as Partial<Envelope>
    expect(last.error).toEqual({ message: expect.any(String), type: 'server_error', param: null, code: 'upstream_stream_broken' })
    await expectStillServing()
  })

  it('does not give the client a clean complete body when the upstream cuts a JSON answer in half', async () => {
    const res = await fetch(`${gateway.url()}${CHAT}`, {
      method: 'POST',
      headers: JSON_HEADERS,
      body: JSON.stringify({ model: 'fake-truncate', messages: [{ role: 'user', content: 'one two three' }] }),
    })
    const declared = res.headers.get('content-length')
    let text: string | undefined
    let failure: unknown
    try {
      text = await res.text()
    } catch (err) {
      failure = err
    }
    const clean = failure === undefined && text !== undefined && declared !== null &&
      Buffer.byteLength(text) === Number(declared) && isJson(text)
    expect(clean, `a truncated body arrived as a complete one: ${text ?? ''}`).toBe(false)
    await expectStillServing()
  })
})

function isJson (text: string): boolean {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

/** Reads a streamed completion with a plain fetch reader: what arrived, and how the body ended. */
async function readStream (model: string): Promise<{ text: string, failure: unknown }> {
  const res = await fetch(`${gateway.url()}${CHAT}`, {
    method: 'POST',
    headers: JSON_HEADERS,
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'one two three four' }], stream: true }),
  })
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
  const reader = res.body?.getReader()
  if (reader === undefined) throw new Error('no body')
  const decoder = new TextDecoder()
  let text = ''
  let failure: unknown
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      text += decoder.decode(value, { stream: true })
    }
  } catch (err) {
    failure = err
  }
  return { text, failure }
}
