import { readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { request } from 'undici'
import { maskApiKey, startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.js'
import { CHAT_CAPABILITY, CHAT_NAMESPACE, startGateway, writeCapability, type Gateway } from '../helpers/gateway.js'
import { refusedPort } from '../helpers/loopback.js'

/** The bound upstream key: distinctive, so that any leak into a log line is found. */
const SECRET = 'sk-bound-LOGTEST-5ecret-7f3a9c1e5b2d8a04'
const CLIENT_AUTHORIZATION = 'Bearer sk-client-LOGTEST-authz-4e1d9c7b'
const CLIENT_COOKIE_VALUE = 'cookie-LOGTEST-session-9b8a7f6e'
const CLIENT_API_KEY_HEADER = 'xkey-LOGTEST-header-3c2b1a09'
const CLIENT_QUERY_SECRET = 'query-LOGTEST-6c5d4e3f'
const CHAT = '/v1/chat/completions'

/** Every form in which a credential could leak into a log line. */
const FORBIDDEN: Array<[string, string]> = [
  ['the bound secret', SECRET],
  ['the bound secret in base64', Buffer.from(SECRET).toString('base64')],
  ['the bound secret as basic-auth password in base64', Buffer.from(`:${SECRET}`).toString('base64')],
  ['the client Authorization value', CLIENT_AUTHORIZATION],
  ['the client bearer token', CLIENT_AUTHORIZATION.slice('Bearer '.length)],
  ['the client cookie value', CLIENT_COOKIE_VALUE],
  ['the client x-api-key header', CLIENT_API_KEY_HEADER],
  ['the client api_key query parameter', CLIENT_QUERY_SECRET],
]

let upstream: FakeOpenAI
/** an upstream that does not accept the bound key: it answers 401 with the key masked */
let rejecting: FakeOpenAI
let gateway: Gateway
let rejected: Gateway
let orphan: Gateway
const sent = new Map<Gateway, Array<{ method: string, status: number }>>()

async function start (baseUri: string): Promise<Gateway> {
  const gw = await startGateway(CHAT_CAPABILITY, {
    flags: { 'base-uri': [`${CHAT_NAMESPACE}=${baseUri}`], 'log-level': 'debug', 'shutdown-timeout': '1000' },
    env: { CHATGPT_API_KEY: SECRET },
  })
  sent.set(gw, [])
  return gw
}

/** Sends a request carrying client credentials in every usual place; records what was sent. */
async function send (gw: Gateway, options: { method?: string, path?: string, body?: string } = {}): Promise<{ status: number, text: string, headers: Record<string, string | string[] | undefined> }> {
  const method = options.method ?? 'POST'
  const res = await request(`${gw.url()}${options.path ?? CHAT}?api_key=${CLIENT_QUERY_SECRET}`, {
    method: method as 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: CLIENT_AUTHORIZATION,
      cookie: `session=${CLIENT_COOKIE_VALUE}; theme=dark`,
      'x-api-key': CLIENT_API_KEY_HEADER,
    },
    body: options.body,
  })
  const text = await res.body.text()
  sent.get(gw)?.push({ method, status: res.statusCode })
  return { status: res.statusCode, text, headers: res.headers }
}

function chatBody (model: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ model, messages: [{ role: 'user', content: 'tell me a secret' }], ...extra })
}

function requestLines (gw: Gateway): Array<Record<string, unknown>> {
  return gw.logs.entries().filter((e) => e.msg === 'request')
}

/** Request lines are written after the response is finished: wait until every request has one. */
async function settled (gw: Gateway): Promise<void> {
  const expected = sent.get(gw)?.length ?? 0
  await vi.waitFor(() => {
    if (requestLines(gw).length < expected) throw new Error(`${requestLines(gw).length}/${expected} request lines`)
  }, { timeout: 2000, interval: 20 })
  // a little longer, so that a second line for the same request would show up too
  await new Promise((resolve) => setTimeout(resolve, 100))
}

beforeAll(async () => {
  upstream = await startFakeOpenAI({ apiKey: SECRET })
  rejecting = await startFakeOpenAI({ apiKey: 'sk-the-upstream-wants-another-key-000000' })
  const port = await refusedPort()
  ;[gateway, rejected, orphan] = await Promise.all([start(upstream.url), start(rejecting.url), start(`http://127.0.0.1:${port}/v1`)])

  expect((await send(gateway, { body: chatBody('gpt-4o-mini') })).status).toBe(200)

  const streamed = await send(gateway, { body: chatBody('gpt-4o-mini', { stream: true }) })
  expect(streamed.status).toBe(200)
  expect(streamed.text).toContain('data: [DONE]')

  expect((await send(gateway, { body: '{"model": "gpt-4o-mini", ' })).status).toBe(400)
  expect((await send(gateway, { path: '/v1/nowhere', body: chatBody('gpt-4o-mini') })).status).toBe(404)
  expect((await send(gateway, { method: 'GET' })).status).toBe(404)
  expect((await send(gateway, { body: chatBody('fake-500') })).status).toBe(500)
  expect((await send(gateway, { body: chatBody('fake-truncate', { stream: true }) }).catch(() => {
    // the cut stream makes the client's body read fail; the request still counts
    sent.get(gateway)?.push({ method: 'POST', status: 200 })
    return { status: 200 }
  })).status).toBe(200)

  const denied = await send(rejected, { body: chatBody('gpt-4o-mini') })
  expect(denied.status).toBe(401)
  // the upstream's own envelope reaches the client, with the key masked the way OpenAI does
  expect(denied.text).toContain(maskApiKey(SECRET))

  expect((await send(orphan, { body: chatBody('gpt-4o-mini') })).status).toBe(502)

  await Promise.all([gateway, rejected, orphan].map(settled))
})

afterAll(async () => {
  await Promise.allSettled([gateway, rejected, orphan].map((g) => g?.close()))
  await Promise.allSettled([upstream, rejecting].map((u) => u?.close()))
})

describe('logs at level debug', () => {
  it('actually logged at debug level, including the failures', () => {
    const levels = [gateway, rejected, orphan].flatMap((gw) => gw.logs.entries().map((e) => e.level))
    expect(levels).toContain(20)
    expect(orphan.logs.entries().some((e) => typeof e.level === 'number' && e.level >= 50)).toBe(true)
  })

  it.each(FORBIDDEN)('never contain %s in any line', (_name, needle) => {
    for (const gw of [gateway, rejected, orphan]) expect(gw.logs.text).not.toContain(needle)
  })

  it('never contain the bound secret even in a JSON-escaped or URL-encoded form', () => {
    for (const gw of [gateway, rejected, orphan]) {
      expect(gw.logs.text).not.toContain(JSON.stringify(SECRET).slice(1, -1))
      expect(gw.logs.text).not.toContain(encodeURIComponent(SECRET))
    }
  })

  const gateways: Array<[string, () => Gateway]> = [
    ['the main gateway', () => gateway],
    ['the gateway whose upstream rejects the key', () => rejected],
    ['the gateway whose upstream is down', () => orphan],
  ]

  it.each(gateways)('write a request line with method, route, status and reqId for every request on %s', (_name, which) => {
    const gw = which()
    const lines = requestLines(gw)
    for (const line of lines) {
      expect(line).toMatchObject({ method: expect.any(String), status: expect.any(Number), reqId: expect.any(String) })
      expect(line).toHaveProperty('route')
    }
    const byReqId = new Map<unknown, Record<string, unknown>>()
    for (const line of lines) if (!byReqId.has(line.reqId)) byReqId.set(line.reqId, line)
    const summary = (items: Iterable<{ method?: unknown, status?: unknown }>): string[] => [...items].map((i) => `${String(i.method)} ${String(i.status)}`).sort()
    expect(summary(byReqId.values())).toEqual(summary(sent.get(gw) ?? []))
  })

  it('write exactly one request line per request the gateway answers itself', () => {
    const lines = requestLines(orphan)
    expect(lines).toHaveLength(sent.get(orphan)?.length ?? 0)
    const own = requestLines(gateway).filter((l) => l.status === 400 || l.status === 404)
    expect(own).toHaveLength(3)
    expect(new Set(own.map((l) => l.reqId)).size).toBe(3)
  })

  // BUG (reported): a relayed (hijacked) response is logged twice: once by the onResponse hook
  // when the raw response finishes, once by handle() with upstreamMs and outcome.
  it.each(gateways.slice(0, 2))('write exactly one request line per request relayed from the upstream on %s', (_name, which) => {
    const gw = which()
    const lines = requestLines(gw)
    expect(lines).toHaveLength(sent.get(gw)?.length ?? 0)
    expect(new Set(lines.map((l) => l.reqId)).size).toBe(lines.length)
  })

  it('name the matched route pattern, not the raw URL with its query string', () => {
    const routes = requestLines(gateway).map((l) => l.route)
    expect(routes).toContain(CHAT)
    for (const route of routes) expect(route === null || route === CHAT).toBe(true)
  })

  it('give relayed responses the reqId the client sees in x-naftiko-request-id', async () => {
    const res = await send(gateway, { body: chatBody('gpt-4o-mini') })
    const reqId = res.headers['x-naftiko-request-id']
    expect(reqId).toEqual(expect.any(String))
    await settled(gateway)
    expect(requestLines(gateway).filter((l) => l.reqId === reqId).at(-1)).toMatchObject({ status: 200, upstreamStatus: 200, outcome: 'complete' })
  })
})

describe('a gateway without any secret long enough to scrub', () => {
  // pino throws at construction when given `hooks: undefined` (fixed in logger.ts; keep it fixed)
  it('starts and logs requests when the bound key is shorter than 4 characters', async () => {
    const fake = await startFakeOpenAI({ apiKey: 'abc' })
    try {
      const gw = await startGateway(CHAT_CAPABILITY, {
        flags: { 'base-uri': [`${CHAT_NAMESPACE}=${fake.url}`], 'shutdown-timeout': '1000' },
        env: { CHATGPT_API_KEY: 'abc' },
      })
      try {
        const res = await request(`${gw.url()}${CHAT}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody('gpt-4o-mini') })
        await res.body.text()
        expect(res.statusCode).toBe(200)
      } finally {
        await gw.close()
      }
    } finally {
      await fake.close()
    }
  })

  it('starts when the capability binds no secret at all', async () => {
    const source = await readFile(CHAT_CAPABILITY, 'utf8')
    const withoutBinds = source
      .replace(/^binds:\n(?: {2}.*\n|- .*\n)+/m, '')
      .replace(/^ {4}authentication:\n(?: {6}.*\n)+/m, '')
    expect(withoutBinds).not.toContain('CHATGPT_API_KEY')
    const file = await writeCapability(withoutBinds)
    const gw = await startGateway(file, { flags: { 'base-uri': [`${CHAT_NAMESPACE}=${upstream.url}`], 'shutdown-timeout': '1000' } })
    await gw.close()
  })
})
