import { createServer, type Server } from 'node:http'
import { once } from 'node:events'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { request } from 'undici'
import { startGateway, writeCapability, type Gateway } from '../helpers/gateway.js'
import type { RuntimeFlags } from '../../src/options.js'

/**
 * Large JSON bodies (from 64 KiB) on REST routes: one that goes upstream as received is checked for
 * its shape only and relayed byte for byte; one the gateway reads a field from is parsed in full;
 * a body the quick check cannot vouch for is checked in full before anything goes upstream.
 */
const MIB = 1024 * 1024

const KEY = 'large-body-key-0123456789'
const CAPABILITY = `naftiko: 1.0.0-alpha2
binds:
- namespace: env
  keys:
    KEY: KEY
capability:
  consumes:
  - type: http
    namespace: up
    baseUri: https://up.example
    resources:
    - name: identity
      path: /identity
      operations:
      - name: identity
        method: POST
        inputParameters:
        - name: body
          in: body
          type: object
          required: true
    - name: pick
      path: /pick
      operations:
      - name: pick
        method: POST
        inputParameters:
        - name: model
          in: query
        - name: body
          in: body
  - type: http
    namespace: keyed
    baseUri: https://keyed.example
    authentication:
      type: apikey
      placement: body
      key: api_key
      value: '{{KEY}}'
    resources:
    - name: keyed
      path: /keyed
      operations:
      - name: keyed
        method: POST
        inputParameters:
        - name: body
          in: body
  exposes:
  - type: rest
    namespace: api
    port: 0
    resources:
    - path: /identity
      operations:
      - method: POST
        call: up.identity
        with:
          body: rest.body
    - path: /pick
      operations:
      - method: POST
        call: up.pick
        with:
          model: rest.model
          body: rest.body
    - path: /keyed
      operations:
      - method: POST
        call: keyed.keyed
        with:
          body: rest.body
`

interface Received { path: string, query: string, body: Buffer }
const received: Received[] = []
let upstream: Server
let gateway: Gateway

beforeAll(async () => {
  upstream = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://upstream')
      received.push({ path: url.pathname, query: url.search, body: Buffer.concat(chunks) })
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{"ok":true}')
    })
  })
  upstream.listen(0, '127.0.0.1')
  await once(upstream, 'listening')
  const address = upstream.address()
  const origin = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
  gateway = await startGateway(await writeCapability(CAPABILITY), { flags: { 'base-uri': [`up=${origin}`, `keyed=${origin}`] } as RuntimeFlags, env: { KEY } })
})

afterAll(async () => {
  await gateway?.close()
  upstream?.closeAllConnections()
  upstream?.close()
})

async function post (path: string, body: string | Buffer): Promise<{ status: number, text: string }> {
  const res = await request(`${gateway.url()}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
  return { status: res.statusCode, text: await res.body.text() }
}

/** A chat conversation of about `mib` MiB: long strings, few tokens, with some escapes and non-ASCII text. */
function conversation (mib: number, indent?: number): Buffer {
  const messages = []
  for (let i = 0; i < 256 * mib; i++) {
    messages.push({ role: i % 2 === 0 ? 'user' : 'assistant', content: `turn ${i}: "quoted" \\ back\\slash, tab\t, é, 日本, 🙂 `.padEnd(4100, 'lorem ipsum ') })
  }
  return Buffer.from(JSON.stringify({ model: 'gpt-4o-mini', messages }, null, indent))
}

async function expectRelayed (path: string, body: Buffer): Promise<Received> {
  const before = received.length
  const answer = await post(path, body)
  expect(answer.status, answer.text).toBe(200)
  const got = received.slice(before).find((r) => r.path === path)
  expect(got).toBeDefined()
  expect(got?.body.length).toBe(body.length)
  expect(got?.body.equals(body)).toBe(true)
  return got as Received
}

/** The body is refused 400 invalid_json and nothing reaches the upstream. */
async function expectInvalidJson (path: string, body: Buffer): Promise<void> {
  const before = received.length
  const answer = await post(path, body)
  expect(answer.status, answer.text).toBe(400)
  expect((JSON.parse(answer.text) as { error: { code: string } }).error.code).toBe('invalid_json')
  expect(received.length).toBe(before)
}

describe('large REST bodies', () => {
  it('relays a 10 MiB conversation to the upstream byte for byte', async () => {
    const body = conversation(10)
    expect(body.length).toBeGreaterThan(10 * MIB)
    await expectRelayed('/identity', body)
  }, 60_000)

  it('relays a 1 MiB pretty-printed conversation byte for byte', async () => {
    await expectRelayed('/identity', conversation(1, 2))
  })

  it('relays a 4 MiB body of many small tokens (checked in full off the main thread) byte for byte', async () => {
    const parts: string[] = []
    for (let i = 0; parts.length * 12 < 4 * MIB; i++) parts.push(`"k${i.toString(36).padStart(6, '0')}":[1,{}]`)
    await expectRelayed('/identity', Buffer.from(`{${parts.join(',')}}`))
  }, 60_000)

  it.each([
    ['truncated', (b: Buffer) => b.subarray(0, b.length - 3)],
    ['an unclosed string', (b: Buffer) => Buffer.concat([b.subarray(0, b.length - 1), Buffer.from(',"x')])],
    ['a mismatched bracket', (b: Buffer) => Buffer.concat([b.subarray(0, b.length - 1), Buffer.from(']')])],
    ['trailing garbage', (b: Buffer) => Buffer.concat([b, Buffer.from(' {}')])],
    ['a bare word outside a string', (b: Buffer) => Buffer.concat([Buffer.from('{"x": nope, '), b.subarray(1)])],
    ['600 levels of nesting', (b: Buffer) => Buffer.concat([Buffer.from('{"x":' + '['.repeat(600) + ']'.repeat(600) + ','), b.subarray(1)])],
  ])('answers a 1 MiB body with %s 400 invalid_json without calling the upstream', async (_name, spoil) => {
    await expectInvalidJson('/identity', spoil(conversation(1)))
  })

  // above 4 MiB only the ends are looked at: the upstream judges the rest
  it('relays a 5 MiB body with a mismatched bracket inside to the upstream, which judges it', async () => {
    const b = conversation(5)
    await expectRelayed('/identity', Buffer.concat([Buffer.from('{"x": [1},'), b.subarray(1)]))
  }, 60_000)

  it.each([
    ['truncated', (b: Buffer) => b.subarray(0, b.length - 3)],
    ['trailing garbage', (b: Buffer) => Buffer.concat([b, Buffer.from(' x')])],
    ['a bare word before it', (b: Buffer) => Buffer.concat([Buffer.from('x'), b])],
  ])('answers a 5 MiB body %s 400 invalid_json without calling the upstream', async (_name, spoil) => {
    await expectInvalidJson('/identity', spoil(conversation(5)))
  }, 60_000)

  it('reads a field of a large body for a route that maps it, and relays the body as received', async () => {
    const got = await expectRelayed('/pick', conversation(1))
    expect(got.query).toBe('?model=gpt-4o-mini')
  })

  // the quick check sees only the shape: what it lets through goes upstream as is, for the
  // upstream to judge, unless the gateway reads a field from it, which parses it in full
  const misplacedComma = (): Buffer => {
    const b = conversation(1)
    return Buffer.concat([Buffer.from('{"x": 1,,'), b.subarray(1)])
  }

  it('leaves a large body with a misplaced comma to the upstream when it goes upstream as received', async () => {
    await expectRelayed('/identity', misplacedComma())
  })

  it('adds an API key placed in the body to a large body that arrived in pieces', async () => {
    const before = received.length
    const body = conversation(1)
    const answer = await post('/keyed', body)
    expect(answer.status, answer.text).toBe(200)
    const got = received.slice(before).find((r) => r.path === '/keyed')
    expect(JSON.parse(got?.body.toString() ?? '')).toEqual({ ...JSON.parse(body.toString()) as object, api_key: KEY })
  })

  it('answers a large body with a misplaced comma 400 invalid_json on a route that reads a field from it', async () => {
    await expectInvalidJson('/pick', misplacedComma())
  })
})
