import { createRequire } from 'node:module'
import type { IncomingHttpHeaders } from 'node:http'
import { createServer, type Server, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { Client } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { headersOf } from '../../src/consumers/response-head.js'

const require = createRequire(import.meta.url)
const { parseHeaders } = require('undici/lib/core/util.js') as { parseHeaders: (raw: Buffer[]) => IncomingHttpHeaders }

/** A server that writes each answer's bytes (latin1 text: a character a byte) as given, in the pieces given, 20 ms apart. */
let pieces: string[] = []
let server: Server
let origin: string

beforeAll(async () => {
  server = createServer((socket: Socket) => {
    socket.once('data', async () => {
      for (const piece of pieces) {
        socket.write(piece, 'latin1')
        await sleep(20)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address() as { port: number }
  origin = `http://127.0.0.1:${address.port}`
})
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

/** The header block undici's parser hands over for an answer written in `parts`, read both ways. */
async function read (parts: string[]): Promise<{ ours: IncomingHttpHeaders, undici: IncomingHttpHeaders, calls: number }> {
  pieces = parts
  const client = new Client(origin)
  let calls = 0
  const fallback = (raw: Buffer[]): IncomingHttpHeaders => { calls++; return parseHeaders(raw) }
  try {
    return await new Promise((resolve, reject) => {
      client.dispatch({ path: '/', method: 'GET' }, {
        onConnect () {},
        onHeaders (_status: number, raw: Buffer[]) {
          resolve({ ours: headersOf(raw as Buffer[], fallback), undici: parseHeaders(raw as Buffer[]), calls })
          return true
        },
        onData () { return true },
        onComplete () {},
        onError: reject,
      } as never)
    })
  } finally {
    await client.destroy()
  }
}

const HEAD = [
  'HTTP/1.1 200 OK',
  'Content-Type: application/json',
  'X-Request-Id: req_123',
  'openai-processing-ms: 212',
  'Set-Cookie: a=1',
  'set-cookie: b=2',
  'SET-COOKIE: c=3',
  'Constructor: not the prototype\'s',
  'x-empty: ',
  'x-latin1: caf\u00e9',
  'Content-Length: 2',
].join('\r\n') + '\r\n\r\n'

describe('headersOf: an upstream answer\'s header block', () => {
  it('reads a block that came in one chunk in one decode, as undici\'s parseHeaders reads it', async () => {
    const r = await read([HEAD + '{}'])
    expect(r.calls).toBe(0)
    expect(r.ours).toEqual(r.undici)
    expect(r.ours['content-type']).toBe('application/json')
    expect(r.ours['set-cookie']).toEqual(['a=1', 'b=2', 'c=3'])
    expect(r.ours.constructor).toBe('not the prototype\'s')
    expect(r.ours['x-empty']).toBe('')
    expect(r.ours['x-latin1']).toBe('caf\u00e9')
    expect(Object.keys(r.ours)).toEqual(Object.keys(r.undici))
  })

  it('falls back to parseHeaders for a block cut across two chunks (a name or value copied whole)', async () => {
    const cut = HEAD.indexOf('Request-Id')
    const r = await read([HEAD.slice(0, cut), HEAD.slice(cut) + '{}'])
    expect(r.calls).toBe(1)
    expect(r.ours).toEqual(r.undici)
    expect(r.ours['x-request-id']).toBe('req_123')
  })

  it('gives a __proto__ header to the fallback, which keeps it an own field', async () => {
    const r = await read([HEAD.replace('x-empty: ', '__proto__: x'), '{}'])
    expect(r.calls).toBe(1)
    expect(r.ours).toEqual(r.undici)
    expect(Object.hasOwn(r.ours, '__proto__')).toBe(true)
    expect(Object.getPrototypeOf(r.ours)).toBe(Object.prototype)
  })

  it('reads no headers as an empty object', () => {
    expect(headersOf([], parseHeaders)).toEqual({})
  })
})
