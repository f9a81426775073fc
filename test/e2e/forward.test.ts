import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import { existsSync } from 'node:fs'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rawGet } from '../helpers/raw-http.js'
import { closeServer, listenOnLoopback } from '../helpers/loopback.js'
import { startGateway, writeCapability, type Gateway } from '../helpers/gateway.js'

/**
 * `forward` on a REST resource (docs/semantics.md, "Forward"): the rest of the path, the method, the
 * query, the body (streamed) and the trusted headers reach the target namespace's base URI with the
 * namespace's own fixed parameters and credential; every answer comes back as it is, scrubbed.
 */
const UPSTREAM_TOKEN = 'sk-upstream-forward-0000000000000000'
const CLIENT_TOKEN = 'client-token-for-the-gateway-only'

interface Seen { method: string, url: string, headers: IncomingHttpHeaders, body: Buffer }

let upstream: Server
let origin: string
const seen: Seen[] = []

beforeAll(async () => {
  upstream = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body })
      const path = (req.url ?? '').split('?')[0] ?? ''
      if (path.endsWith('/missing')) {
        res.writeHead(404, { 'content-type': 'text/plain', 'x-upstream': 'yes' })
        res.end('no such ship')
      } else if (path.endsWith('/echo-auth')) {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ youSent: req.headers.authorization }))
      } else if (path.endsWith('/events')) {
        res.writeHead(200, { 'content-type': 'text/event-stream' })
        res.write('data: one\n\n')
        setTimeout(() => res.end('data: two\n\n'), 20)
      } else {
        res.writeHead(201, { 'content-type': 'application/json', 'x-request-id': 'up-1' })
        res.end(JSON.stringify({ method: req.method, size: body.length }))
      }
    })
  })
  origin = await listenOnLoopback(upstream)
})

afterAll(async () => { await closeServer(upstream) })

const capability = (auth: string): string => `
naftiko: "1.0.0-alpha2"
binds:
  - namespace: env
    keys:
      UPSTREAM_TOKEN: UPSTREAM_TOKEN
      CLIENT_TOKEN: CLIENT_TOKEN
capability:
  consumes:
    - type: http
      namespace: fleet
      baseUri: "http://127.0.0.1:1/v1"
      authentication:
        type: bearer
        token: "{{UPSTREAM_TOKEN}}"
      inputParameters:
        - name: X-API-Version
          in: header
          value: "2026-03-03"
        - name: tenant
          in: query
          value: acme
  exposes:
    - type: rest
      namespace: gateway
      port: 0
${auth}
      resources:
        - path: "/fleet/{{path}}"
          forward:
            targetNamespace: fleet
            trustedHeaders: [X-Correlation-Id, Authorization]
`

describe('forward', () => {
  let gateway: Gateway
  let base: string
  beforeAll(async () => {
    const file = await writeCapability(capability(`      authentication:
        type: bearer
        token: "{{CLIENT_TOKEN}}"`))
    gateway = await startGateway(file, {
      flags: { port: ['gateway=0'], 'base-uri': [`fleet=${origin}/v1`] },
      env: { UPSTREAM_TOKEN, CLIENT_TOKEN },
    })
    base = gateway.url('rest')
  })
  afterAll(async () => { await gateway.close() })

  const call = (method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer) =>
    request(`${base}${path}`, { method: method as 'GET', headers: { authorization: `Bearer ${CLIENT_TOKEN}`, ...headers }, body })

  it('relays the rest of the path, the query and the trusted headers; adds the namespace\'s parameters and credential', async () => {
    const before = seen.length
    const answer = await call('GET', '/fleet/ships/IMO%209321483?status=active&tenant=evil', { 'x-correlation-id': 'c-1', 'x-internal': 'secret-ish' })
    expect(answer.statusCode).toBe(201)
    expect(answer.headers['x-request-id']).toBe('up-1')
    expect(await answer.body.json()).toEqual({ method: 'GET', size: 0 })
    const got = seen[before] as Seen
    expect(got.method).toBe('GET')
    // the caller's `tenant` cannot replace the namespace's fixed one
    expect(got.url).toBe('/v1/ships/IMO%209321483?status=active&tenant=acme')
    expect(got.headers['x-correlation-id']).toBe('c-1')
    expect(got.headers['x-internal']).toBeUndefined()
    expect(got.headers['x-api-version']).toBe('2026-03-03')
    // the client's credential is for the gateway: the upstream gets the namespace's own
    expect(got.headers.authorization).toBe(`Bearer ${UPSTREAM_TOKEN}`)
  })

  it('streams a large body of any type upstream as it is, with its content type', async () => {
    const body = Buffer.alloc(3 * 1024 * 1024, 'a,b,c\n')
    const before = seen.length
    const answer = await call('PUT', '/fleet/manifests/7', { 'content-type': 'text/csv' }, body)
    expect(answer.statusCode).toBe(201)
    expect(await answer.body.json()).toEqual({ method: 'PUT', size: body.length })
    const got = seen[before] as Seen
    expect(got.headers['content-type']).toBe('text/csv')
    expect(got.body.equals(body)).toBe(true)
  })

  it('relays an upstream error as it is (status, type, body), not as a gateway envelope', async () => {
    const answer = await call('GET', '/fleet/ships/missing')
    expect(answer.statusCode).toBe(404)
    expect(answer.headers['content-type']).toBe('text/plain')
    expect(await answer.body.text()).toBe('no such ship')
  })

  it('never lets the bound credential back out in an answer', async () => {
    const answer = await call('GET', '/fleet/echo-auth')
    const text = await answer.body.text()
    expect(text).not.toContain(UPSTREAM_TOKEN)
    expect(text).toContain('[redacted]')
  })

  it('relays an event stream as it comes', async () => {
    const answer = await call('GET', '/fleet/events')
    expect(answer.headers['content-type']).toBe('text/event-stream')
    expect(await answer.body.text()).toBe('data: one\n\ndata: two\n\n')
  })

  it('refuses a path that climbs out of the base path, encoded or not, before any upstream call', async () => {
    const before = seen.length
    // sent with node:http: a WHATWG URL (fetch, undici) would resolve the dot segments before sending
    for (const path of ['/fleet/a/%2e%2e/%2E%2E/admin', '/fleet/ships/%2e%2e/x', '/fleet/ships/./x', '/fleet/ships/../../x']) {
      const answer = await rawGet(`${base}${path}`, { authorization: `Bearer ${CLIENT_TOKEN}` })
      expect(answer.status, path).toBe(400)
      expect((JSON.parse(answer.text) as { error: { code: string } }).error.code, path).toBe('invalid_request')
    }
    expect(seen.length).toBe(before)
  })

  it('keeps the expose\'s inbound authentication', async () => {
    const answer = await request(`${base}/fleet/ships`)
    expect(answer.statusCode).toBe(401)
    await answer.body.dump()
  })
})

describe('forward without inbound authentication', () => {
  it('never relays a client\'s Authorization the namespace does not replace... unless trusted, and the upstream credential wins', async () => {
    const file = await writeCapability(capability(''))
    const gateway = await startGateway(file, {
      flags: { port: ['gateway=0'], 'base-uri': [`fleet=${origin}/v1`], 'allow-unauthenticated': true },
      env: { UPSTREAM_TOKEN, CLIENT_TOKEN },
    })
    try {
      const before = seen.length
      const answer = await request(`${gateway.url('rest')}/fleet/ships`, { headers: { authorization: 'Bearer someone-else' } })
      expect(answer.statusCode).toBe(201)
      await answer.body.dump()
      expect((seen[before] as Seen).headers.authorization).toBe(`Bearer ${UPSTREAM_TOKEN}`)
    } finally {
      await gateway.close()
    }
  })
})

const OFFICIAL = new URL('../../../shared/corpus/naftiko-alpha2/src/test/resources/http/http-forward-value-capability.yaml', import.meta.url).pathname

describe.skipIf(!existsSync(OFFICIAL))('the engine\'s forward feature file', () => {
  it('relays /forward/... with the namespace\'s fixed headers', async () => {
    const gateway = await startGateway(OFFICIAL, {
      flags: { host: '127.0.0.1', port: ['sample=0'], 'base-uri': [`external=${origin}/api`], 'allow-unauthenticated': true },
    })
    try {
      const before = seen.length
      const answer = await request(`${gateway.url('rest')}/forward/users/42?x=1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"x"}' })
      expect(answer.statusCode).toBe(201)
      await answer.body.dump()
      const got = seen[before] as Seen
      expect(got.method).toBe('POST')
      expect(got.url).toBe('/api/users/42?x=1')
      expect(got.headers['x-api-version']).toBe('2026-03-03')
      expect(got.headers['x-api-key']).toBe('secret-key-123')
      expect(got.body.toString()).toBe('{"name":"x"}')
    } finally {
      await gateway.close()
    }
  })
})
