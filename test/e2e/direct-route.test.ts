import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { once } from 'node:events'
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, writeCapability, type Gateway } from '../helpers/gateway.js'

/**
 * The direct route (src/exposers/rest/direct-route.ts) answers a plain JSON POST to a static route
 * before fastify. Each row sends the same request both ways, the plain `application/json` the
 * direct route takes and a `+json` type only fastify's route takes, and both answers and log lines
 * must be the same. Fastify's own diagnostics channel tells which path ran the handler.
 */
const KEY = 'sk-direct-route-0123456789abcdef'
const HANDLER_START = 'tracing:fastify.request.handler:start'

function capabilityYaml (downOrigin: string): string {
  return `naftiko: 1.0.0-alpha2
binds:
- namespace: env
  keys:
    DIRECT_KEY: DIRECT_KEY
capability:
  consumes:
  - type: http
    namespace: up
    baseUri: https://up.example
    authentication:
      type: bearer
      token: '{{env.DIRECT_KEY}}'
    resources:
${['echo', 'json', 'error', 'sse', 'slow', 'empty'].map((name) => `    - name: ${name}
      path: /${name}
      operations:
      - name: ${name}
        method: POST
        inputParameters:
        - name: body
          in: body
`).join('')}  - type: http
    namespace: down
    baseUri: ${downOrigin}
    resources:
    - name: gone
      path: /gone
      operations:
      - name: gone
        method: POST
  exposes:
  - type: rest
    namespace: api
    port: 0
    resources:
${['echo', 'error', 'sse', 'slow', 'empty'].map((name) => `    - path: /s/${name}
      operations:
      - method: POST
        call: up.${name}
        with:
          body: rest.body
`).join('')}    - path: /s/mapped
      operations:
      - method: POST
        call: up.json
        with:
          body: rest.body
        outputParameters:
        - type: object
          properties:
            answer:
              type: string
              mapping: $.answer
    - path: /s/required
      operations:
      - method: POST
        inputParameters:
        - name: model
          in: body
          type: string
          required: true
        call: up.echo
        with:
          body: rest.body
    - path: /s/unreachable
      operations:
      - method: POST
        call: down.gone
`
}

function answerScenario (req: IncomingMessage, res: ServerResponse, body: string): void {
  const json = (status: number, value: unknown, headers: Record<string, string> = {}): void => {
    res.writeHead(status, { 'content-type': 'application/json', 'x-upstream': 'yes', ...headers })
    res.end(JSON.stringify(value))
  }
  switch (req.url) {
    case '/echo':
      return json(200, { echoed: JSON.parse(body) as unknown })
    case '/json':
      return json(200, { answer: 'hello', other: 1 })
    case '/error':
      return json(429, { error: { message: 'slow down', type: 'rate_limit_error', param: null, code: 'rate_limit_exceeded' } }, { 'retry-after': '7' })
    case '/sse':
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write(`data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: 'Hi' }, finish_reason: 'stop' }] })}\n\n`)
      res.end('data: [DONE]\n\n')
      return
    case '/empty':
      res.writeHead(204)
      res.end()
      return
    case '/slow':
      return // answers never
    default:
      return json(404, { error: 'no such scenario' })
  }
}

let upstream: Server
let gateway: Gateway
let handled = 0
const onHandler = (): void => { handled++ }

beforeAll(async () => {
  upstream = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (c: string) => { body += c })
    req.on('end', () => answerScenario(req, res, body))
  })
  upstream.listen(0, '127.0.0.1')
  await once(upstream, 'listening')
  const { port } = upstream.address() as { port: number }
  // a port nothing listens on: the upstream of /s/unreachable
  const closed = createServer()
  closed.listen(0, '127.0.0.1')
  await once(closed, 'listening')
  const downPort = (closed.address() as { port: number }).port
  await new Promise((resolve) => closed.close(resolve))
  const file = await writeCapability(capabilityYaml(`http://127.0.0.1:${downPort}`))
  gateway = await startGateway(file, { flags: { 'base-uri': [`up=http://127.0.0.1:${port}`], 'body-limit': '4096' }, env: { DIRECT_KEY: KEY } })
  subscribe(HANDLER_START, onHandler)
})

afterAll(async () => {
  unsubscribe(HANDLER_START, onHandler)
  await gateway?.close()
  upstream?.closeAllConnections()
  upstream?.close()
})

const PLAIN = 'application/json'
const FASTIFY_ONLY = 'application/x-direct-test+json'

interface Answer {
  status: number
  headers: Record<string, string>
  text: string
  /** the request line the gateway logged, without what differs per request */
  line: Record<string, unknown> | undefined
  /** how many times fastify ran a route handler for it */
  handled: number
}

/** Headers that differ per request or per connection. */
const VARYING = new Set(['date', 'x-naftiko-request-id', 'keep-alive', 'connection'])

async function post (path: string, init: { type?: string, body?: string, headers?: Record<string, string> } = {}): Promise<Answer> {
  const before = handled
  const response = await fetch(`${gateway.url()}${path}`, {
    method: 'POST',
    headers: { 'content-type': init.type ?? PLAIN, ...init.headers },
    body: init.body ?? JSON.stringify({ question: 'q', model: 'm' }),
  })
  const text = await response.text()
  const id = response.headers.get('x-naftiko-request-id')
  const headers: Record<string, string> = {}
  response.headers.forEach((value, name) => { if (!VARYING.has(name)) headers[name] = value })
  return { status: response.status, headers, text, line: id === null ? undefined : await requestLine(id), handled: handled - before }
}

/** The request line of `id`, once it is written (a relay logs after its last byte left). */
async function requestLine (id: string): Promise<Record<string, unknown> | undefined> {
  for (let i = 0; i < 50; i++) {
    const entry = gateway.logs.entries().find((e) => e.reqId === id && e.msg === 'request')
    if (entry !== undefined) {
      const { reqId, ms, upstreamMs, time, pid, hostname, ...rest } = entry
      expect(reqId).toMatch(/^[0-9a-f-]{36}$/)
      expect(typeof ms).toBe('number')
      return rest
    }
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return undefined
}

describe('the direct REST route', () => {
  const rows: Array<{ name: string, path: string, body?: string, status: number, reachesHandler: boolean }> = [
    { name: 'an identity relay', path: '/s/echo', status: 200, reachesHandler: true },
    { name: 'a mapped answer', path: '/s/mapped', status: 200, reachesHandler: true },
    { name: "an upstream's 429", path: '/s/error', status: 429, reachesHandler: true },
    { name: 'an event stream', path: '/s/sse', status: 200, reachesHandler: true },
    { name: "an upstream's 204", path: '/s/empty', status: 204, reachesHandler: true },
    { name: 'a missing required parameter', path: '/s/required', body: '{"question":"q"}', status: 400, reachesHandler: true },
    { name: 'an unreachable upstream', path: '/s/unreachable', status: 502, reachesHandler: true },
    { name: 'a body that is not JSON', path: '/s/echo', body: '{"question":', status: 400, reachesHandler: false },
  ]
  for (const row of rows) {
    it(`answers ${row.name} exactly as the fastify route does, without fastify`, async () => {
      const direct = await post(row.path, { body: row.body })
      const routed = await post(row.path, { body: row.body, type: FASTIFY_ONLY })
      expect(direct.status).toBe(row.status)
      expect(direct.handled).toBe(0)
      expect(routed.handled).toBe(row.reachesHandler ? 1 : 0)
      expect(direct.headers).toEqual(routed.headers)
      expect(direct.text).toBe(routed.text)
      expect(direct.line).toBeDefined()
      expect(direct.line).toEqual(routed.line)
    })
  }

  it('writes whole answers with their true length and type, and a 204 with neither', async () => {
    const mapped = await post('/s/mapped')
    expect(JSON.parse(mapped.text)).toEqual({ answer: 'hello' })
    expect(mapped.headers['content-length']).toBe(String(Buffer.byteLength(mapped.text)))
    expect(mapped.headers['content-type']).toMatch(/^application\/json/)
    const limited = await post('/s/error')
    expect(limited.headers['retry-after']).toBe('7')
    expect(limited.line).toMatchObject({ status: 429, upstreamStatus: 429 })
    const empty = await post('/s/empty')
    expect(empty.text).toBe('')
    expect(empty.headers['content-length']).toBeUndefined()
    expect(empty.headers['content-type']).toBeUndefined()
  })

  it('logs a client that went away as one 499 client_gone line', async () => {
    const controller = new AbortController()
    const pending = fetch(`${gateway.url()}/s/slow`, { method: 'POST', headers: { 'content-type': PLAIN }, body: '{"question":"q"}', signal: controller.signal })
    await new Promise((resolve) => setTimeout(resolve, 100))
    controller.abort()
    await expect(pending).rejects.toThrow()
    for (let i = 0; i < 50 && !gateway.logs.entries().some((e) => e.route === '/s/slow'); i++) await new Promise((resolve) => setTimeout(resolve, 10))
    const lines = gateway.logs.entries().filter((e) => e.route === '/s/slow')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({ status: 499, outcome: 'client_gone' })
  })

  const fallThrough: Array<{ name: string, path?: string, init?: Parameters<typeof post>[1], status: number, handled: number }> = [
    { name: 'a trailing slash', path: '/s/echo/', status: 200, handled: 1 },
    { name: 'a query string', path: '/s/echo?via=query', status: 200, handled: 1 },
    { name: 'a charset other than UTF-8', init: { type: 'application/json; charset=latin1' }, status: 200, handled: 1 },
    { name: 'a body over --body-limit', init: { body: JSON.stringify({ question: 'x'.repeat(5000) }) }, status: 413, handled: 0 },
  ]
  for (const row of fallThrough) {
    it(`leaves ${row.name} to fastify`, async () => {
      const answer = await post(row.path ?? '/s/echo', row.init)
      expect(answer.status).toBe(row.status)
      expect(answer.handled).toBe(row.handled)
    })
  }

  it('leaves a chunked body to fastify', async () => {
    const before = handled
    const body = new ReadableStream<Uint8Array>({ start (c) { c.enqueue(new TextEncoder().encode('{"question":"q"}')); c.close() } })
    const response = await fetch(`${gateway.url()}/s/echo`, { method: 'POST', headers: { 'content-type': PLAIN }, body, duplex: 'half' } as RequestInit)
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ echoed: { question: 'q' } })
    expect(handled - before).toBe(1)
  })

  it('leaves another method to fastify, which answers 404 unknown_route', async () => {
    const response = await fetch(`${gateway.url()}/s/echo`, { method: 'PUT', headers: { 'content-type': PLAIN }, body: '{}' })
    expect(response.status).toBe(404)
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('unknown_route')
  })

  it('leaves a refused Host and a repeated Authorization header to fastify, which refuses them', async () => {
    const url = new URL(`${gateway.url()}/s/echo`)
    const send = (headers: Record<string, string | string[]>): Promise<{ status: number, text: string }> => new Promise((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': PLAIN, 'content-length': '2', ...headers } }, (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => { text += c })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
      })
      req.on('error', reject)
      req.end('{}')
    })
    const host = await send({ host: 'evil.example' })
    expect(host.status).toBe(403)
    expect(host.text).toContain('host_not_allowed')
    const twice = await send({ authorization: ['Bearer a', 'Bearer b'] })
    expect(twice.status).toBe(400)
    expect(twice.text).toContain('more than one Authorization header')
  })
})

describe('the direct REST route while the gateway drains', () => {
  it('leaves a request that arrives on a kept-alive connection after shutdown began to fastify, which answers 503', async () => {
    // the first call is held by the upstream until shutdown has begun; the second is answered at once
    const held: ServerResponse[] = []
    const slow = createServer((req, res) => {
      req.resume()
      req.on('end', () => {
        if (held.length === 0) {
          held.push(res)
          return
        }
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end('{"second":true}')
      })
    })
    slow.listen(0, '127.0.0.1')
    await once(slow, 'listening')
    const file = await writeCapability(`naftiko: 1.0.0-alpha2
capability:
  consumes:
  - type: http
    namespace: up
    baseUri: http://127.0.0.1:${(slow.address() as { port: number }).port}
    resources:
    - name: held
      path: /held
      operations:
      - name: held
        method: POST
  exposes:
  - type: rest
    namespace: api
    port: 0
    resources:
    - path: /held
      operations:
      - method: POST
        call: up.held
`)
    const draining = await startGateway(file, { flags: { 'shutdown-timeout': '3000' } })
    const url = new URL(draining.url())
    const socket = connect(Number(url.port), url.hostname)
    let received = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => { received += chunk })
    const call = 'POST /held HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}'
    try {
      socket.write(call)
      while (held.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
      const closed = draining.close()
      await new Promise((resolve) => setTimeout(resolve, 30))
      const first = held[0] as ServerResponse
      first.writeHead(200, { 'content-type': 'application/json' })
      first.end('{"first":true}')
      while (!received.includes('{"first":true}')) await new Promise((resolve) => setTimeout(resolve, 2))
      expect(received).toMatch(/^HTTP\/1.1 200 /)
      expect(received).toMatch(/connection: keep-alive/i)
      socket.write(call)
      for (let i = 0; i < 100 && !received.includes('HTTP/1.1 503'); i++) await new Promise((resolve) => setTimeout(resolve, 10))
      expect(received).toContain('HTTP/1.1 503 Service Unavailable')
      expect(received).not.toContain('{"second":true}')
      await closed
    } finally {
      socket.destroy()
      slow.closeAllConnections()
      slow.close()
    }
  })
})
