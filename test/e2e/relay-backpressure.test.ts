import { createServer, type Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { request } from 'undici'
import { startGateway, writeCapability, type Gateway } from '../helpers/gateway.js'
import { listenOnLoopback } from '../helpers/loopback.js'

/**
 * A relayed answer moves at the pace of the client that reads it: the gateway stops reading the
 * upstream while the client's socket is full, and resumes when it drains, so a slow client never
 * makes the gateway hold a large answer in memory.
 */
const MIB = 1024 * 1024
const TOTAL = 64 * MIB
const CHUNK = Buffer.alloc(64 * 1024, 'a')

let upstream: Server
/** bytes the upstream has written so far */
let written = 0
let gateway: Gateway

beforeAll(async () => {
  upstream = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' })
    written = 0
    const more = (): void => {
      while (written < TOTAL) {
        written += CHUNK.length
        if (!res.write(CHUNK)) {
          res.once('drain', more)
          return
        }
      }
      res.end()
    }
    more()
  })
  const origin = await listenOnLoopback(upstream)
  const file = await writeCapability(`naftiko: 1.0.0-alpha2
capability:
  consumes:
  - type: http
    namespace: up
    baseUri: https://up.example
    resources:
    - name: big
      path: /big
      operations:
      - name: big
        method: GET
  exposes:
  - type: rest
    namespace: api
    port: 0
    resources:
    - path: /big
      operations:
      - method: GET
        call: up.big
`)
  gateway = await startGateway(file, { flags: { 'base-uri': [`up=${origin}`] } })
})

afterAll(async () => {
  await gateway?.close()
  upstream?.close()
})

describe('a relayed answer and a slow client', () => {
  it('reads no further ahead of the client than socket buffers hold, and finishes once the client reads', async () => {
    const response = await request(`${gateway.url('rest')}/big`)
    expect(response.statusCode).toBe(200)
    // the client reads nothing for a while: the upstream is held back
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const ahead = written
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(written).toBe(ahead)
    expect(ahead).toBeLessThan(TOTAL / 2)
    let received = 0
    for await (const chunk of response.body) received += (chunk as Buffer).length
    expect(received).toBe(TOTAL)
    expect(written).toBe(TOTAL)
  })
})
