import { createServer, type Server } from 'node:http'
import { once } from 'node:events'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startGateway, writeCapability, type Gateway } from '../helpers/gateway.js'

/** An upstream whose next `drops` requests lose their connection before any response byte. */
let upstream: Server
let upstreamUrl: string
let drops = 0
let seen: string[] = []
let gateway: Gateway

beforeAll(async () => {
  upstream = createServer((req, res) => {
    seen.push(`${req.method ?? ''} ${req.url ?? ''}`)
    req.resume()
    req.on('end', () => {
      if (drops > 0) {
        drops--
        req.socket.destroy()
        return
      }
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{"ok":true}')
    })
  })
  upstream.listen(0, '127.0.0.1')
  await once(upstream, 'listening')
  const address = upstream.address()
  upstreamUrl = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
  const file = await writeCapability(`naftiko: 1.0.0-alpha2
capability:
  consumes:
  - type: http
    namespace: flaky
    baseUri: https://flaky.example
    resources:
    - name: items
      path: /items
      operations:
      - name: list
        method: GET
      - name: create
        method: POST
        inputParameters:
        - name: body
          in: body
  exposes:
  - type: rest
    namespace: api
    port: 0
    resources:
    - path: /items
      operations:
      - method: GET
        call: flaky.list
      - method: POST
        call: flaky.create
        with:
          body: rest.body
`)
  gateway = await startGateway(file, { flags: { 'base-uri': [`flaky=${upstreamUrl}`] } })
})

afterAll(async () => {
  await gateway?.close()
  upstream?.close()
})

beforeEach(() => {
  drops = 0
  seen = []
})

describe('retries', () => {
  it('sends an idempotent request once more on a fresh connection when the connection broke before any answer', async () => {
    drops = 1
    const response = await fetch(`${gateway.url('rest')}/items`)
    expect(response.status).toBe(200)
    expect(seen).toEqual(['GET /items', 'GET /items'])
  })

  it('retries only once', async () => {
    drops = 2
    const response = await fetch(`${gateway.url('rest')}/items`)
    expect(response.status).toBe(502)
    expect(seen).toHaveLength(2)
  })

  it('never sends a non-idempotent request twice once it may have reached the upstream', async () => {
    drops = 1
    const response = await fetch(`${gateway.url('rest')}/items`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"x"}' })
    expect(response.status).toBe(502)
    expect((await response.json() as { error: { code: string } }).error.code).toBe('upstream_unreachable')
    expect(seen).toEqual(['POST /items'])
  })
})
