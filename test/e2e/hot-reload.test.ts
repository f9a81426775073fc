import { createServer, type Server } from 'node:http'
import { writeFile } from 'node:fs/promises'
import { Pool, request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCliServing, type ServingCli } from '../helpers/cli.js'
import { writeCapability } from '../helpers/gateway.js'
import { closeServer, listenOnLoopback } from '../helpers/loopback.js'

/**
 * Hot reload: SIGHUP (or --watch, on a change of the file) serves the capability as it is now. New
 * requests see the change; a stream in flight finishes on the build that took it; a listener whose
 * address did not change keeps its socket (and its keep-alive connections); an invalid edit is
 * reported and the running configuration stays.
 */
const EVENTS = 6
let upstream: Server
let origin: string
beforeAll(async () => {
  upstream = createServer((req, res) => {
    req.resume()
    if (req.url?.startsWith('/v1/stream') === true) {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      let n = 0
      const timer = setInterval(() => {
        res.write(`data: {"n":${n}}\n\n`)
        if (++n === EVENTS) {
          clearInterval(timer)
          res.end('data: [DONE]\n\n')
        }
      }, 150)
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ ships: 3 }))
  })
  origin = await listenOnLoopback(upstream)
})
afterAll(async () => { await closeServer(upstream) })

const capability = (edit: { crew?: boolean, restPort?: number, control?: boolean } = {}): string => `
naftiko: "1.0.0-alpha2"
capability:
  consumes:
    - type: http
      namespace: fleet
      baseUri: "http://127.0.0.1:1/v1"
      resources:
        - name: ships
          path: /ships
          operations:
            - { name: list, method: GET }
        - name: stream
          path: /stream
          operations:
            - { name: watch, method: GET }
  exposes:
    - type: rest
      namespace: fleet-rest
      port: ${edit.restPort ?? 0}
      resources:
        - path: /ships
          operations:
            - { method: GET, call: fleet.list }
        - path: /stream
          operations:
            - { method: GET, call: fleet.watch }${edit.crew === true
  ? `
        - path: /crew
          operations:
            - method: GET
              outputParameters:
                - { name: crew, type: number, value: "7" }`
  : ''}
    - type: mcp
      namespace: fleet-mcp
      port: 0
      tools:
        - { name: list-ships, description: List ships, call: fleet.list }${edit.crew === true ? '\n        - { name: list-ships-again, description: List ships once more, call: fleet.list }' : ''}${edit.control === true
  ? `
    - type: control
      port: 1
      management: { reload: true }`
  : ''}
`

async function start (file: string, ...flags: string[]): Promise<ServingCli & { url: (ns: string) => string }> {
  const cli = await startCliServing(['run', file, '--base-uri', `fleet=${origin}/v1`, ...flags], {}, { exposes: 2, upstreams: 1 })
  return { ...cli, url: (ns) => cli.addresses.find((a) => a.namespace === ns)?.url ?? '' }
}

const waitFor = async (what: () => boolean, label: string, ms = 10_000): Promise<void> => {
  const until = Date.now() + ms
  while (!what()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${label}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}
const count = (text: string, needle: string): number => text.split(needle).length - 1

const toolNames = async (url: string): Promise<string[]> => {
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
  })
  const text = await res.body.text()
  const json = JSON.parse(text.startsWith('{') ? text : (/^data: (.*)$/m.exec(text)?.[1] ?? '{}')) as { result: { tools: Array<{ name: string }> } }
  return json.result.tools.map((t) => t.name)
}

describe('hot reload', () => {
  it('SIGHUP: a stream in flight completes, new requests (on the same keep-alive connection) see the change, listeners stay', async () => {
    const file = await writeCapability(capability(), 'reload.yaml')
    const cli = await start(file)
    const rest = cli.url('fleet-rest')
    const pool = new Pool(rest, { connections: 1 })
    try {
      expect((await pool.request({ path: '/crew', method: 'GET' })).statusCode).toBe(404)
      expect(await toolNames(cli.url('fleet-mcp'))).toEqual(['list-ships'])

      // a stream in flight on its own connection across the reload
      const stream = await request(`${rest}/stream`)
      const chunks: string[] = []
      const streamed = (async () => { for await (const chunk of stream.body) chunks.push(String(chunk)) })()
      await waitFor(() => chunks.join('').includes('"n":1'), 'the first events')

      await writeFile(file, capability({ crew: true }))
      cli.child.kill('SIGHUP')
      await waitFor(() => cli.stdout().includes('naftiko: reloaded'), 'the reload line')
      expect(cli.stdout()).toContain(`naftiko: rest fleet-rest listening on ${rest}`)

      // the same keep-alive connection, the new build's routes
      const crew = await pool.request({ path: '/crew', method: 'GET' })
      expect(crew.statusCode).toBe(200)
      expect(await crew.body.json()).toEqual({ crew: 7 })
      expect(await toolNames(cli.url('fleet-mcp'))).toEqual(['list-ships', 'list-ships-again'])
      const ships = await pool.request({ path: '/ships', method: 'GET' })
      expect(await ships.body.json()).toEqual({ ships: 3 })

      await streamed
      const text = chunks.join('')
      for (let n = 0; n < EVENTS; n++) expect(text).toContain(`"n":${n}`)
      expect(text).toContain('[DONE]')
      await waitFor(() => cli.stderr().includes('"msg":"capability reloaded: new requests use it'), 'the log line')
    } finally {
      await pool.close()
      expect(await cli.stop()).toBe(0)
    }
  })

  it('an invalid edit is reported and the running configuration stays; a later valid one applies', async () => {
    const file = await writeCapability(capability({ crew: true }), 'invalid.yaml')
    const cli = await start(file)
    try {
      await writeFile(file, capability({ crew: true }).replace('call: fleet.list }', 'call: fleet.missing }'))
      cli.child.kill('SIGHUP')
      await waitFor(() => cli.stderr().includes('reload refused'), 'the refusal')
      expect(cli.stderr()).toMatch(/invalid\.yaml:\d+:\d+: .*fleet\.missing/)
      expect(cli.stderr()).toContain('the running configuration stays')
      await waitFor(() => cli.stderr().includes('"msg":"reload refused: the capability has errors; the running configuration stays"'), 'the log line')
      const crew = await request(`${cli.url('fleet-rest')}/crew`)
      expect(await crew.body.json()).toEqual({ crew: 7 })

      await writeFile(file, 'naftiko: "1.0.0-alpha2"\ncapability: [unclosed\n')
      cli.child.kill('SIGHUP')
      await waitFor(() => count(cli.stderr(), 'reload refused') === 2, 'the second refusal')
      expect((await request(`${cli.url('fleet-rest')}/crew`)).statusCode).toBe(200)

      await writeFile(file, capability())
      cli.child.kill('SIGHUP')
      await waitFor(() => cli.stdout().includes('naftiko: reloaded'), 'the reload')
      expect((await request(`${cli.url('fleet-rest')}/crew`)).statusCode).toBe(404)
    } finally {
      expect(await cli.stop()).toBe(0)
    }
  })

  it('--watch reloads on a change of the file; an expose that moves to another port listens there and the old port closes', async () => {
    const file = await writeCapability(capability(), 'watched.yaml')
    const cli = await start(file, '--watch')
    const before = cli.url('fleet-rest')
    try {
      // a port free a moment ago may be taken by another suite by the time the reload listens: that
      // reload is refused (and says so), and the next free port is tried
      let free = 0
      for (let attempt = 1; !cli.stdout().includes('naftiko: reloaded'); attempt++) {
        const probe = createServer()
        free = Number(new URL(await listenOnLoopback(probe)).port)
        await closeServer(probe)
        await writeFile(file, capability({ crew: true, restPort: free }))
        await waitFor(() => cli.stdout().includes('naftiko: reloaded') || count(cli.stderr(), 'already in use') === attempt, `the reload on change: ${cli.stderr().slice(-500)}`)
        expect(attempt).toBeLessThan(4)
      }
      // a late change event of a refused attempt may reload that attempt's file first, once its port
      // is free again; the last file written is reloaded in the end
      const moved = `http://127.0.0.1:${free}`
      await waitFor(() => cli.stdout().includes(`naftiko: rest fleet-rest listening on ${moved}`), `the reload onto ${moved}: ${cli.stdout().slice(-500)}`)
      expect(await (await request(`${moved}/crew`)).body.json()).toEqual({ crew: 7 })
      // the old listener drains and closes
      let refused = false
      for (let i = 0; i < 50 && !refused; i++) {
        refused = await request(`${before}/ships`).then(async (r) => { await r.body.dump(); return false }, (err: Error) => /ECONNREFUSED/.test(err.message))
        if (!refused) await new Promise((resolve) => setTimeout(resolve, 100))
      }
      expect(refused).toBe(true)
      // MCP kept its address
      expect(await toolNames(cli.url('fleet-mcp'))).toContain('list-ships-again')
    } finally {
      expect(await cli.stop()).toBe(0)
    }
  })

  it('POST /config/reload on a control expose with management.reload: 200 when it took effect, 422 with the reasons when refused', async () => {
    const file = await writeCapability(capability({ control: true }), 'control.yaml')
    const cli = await start(file, '--port', 'control=0')
    const control = cli.url('control')
    const post = async (headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<{ status: number, body: any }> => {
      const res = await request(`${control}/config/reload`, { method: 'POST', headers, body: '{}' })
      return { status: res.statusCode, body: await res.body.json() }
    }
    try {
      // a web page cannot send JSON without a preflight, so it cannot make a browser reload the gateway
      expect((await post({ 'content-type': 'text/plain' })).status).toBe(415)
      expect((await request(`${control}/config/reload`)).statusCode).toBe(404)

      await writeFile(file, capability({ control: true, crew: true }).replace('call: fleet.list }', 'call: fleet.missing }'))
      const refused = await post()
      expect(refused.status).toBe(422)
      expect(refused.body.error.code).toBe('reload_refused')
      expect(refused.body.error.diagnostics.join('\n')).toMatch(/control\.yaml:\d+:\d+: .*fleet\.missing/)
      expect((await request(`${cli.url('fleet-rest')}/crew`)).statusCode).toBe(404)

      await writeFile(file, capability({ control: true, crew: true }))
      expect(await post()).toEqual({ status: 200, body: { status: 'reloaded' } })
      expect(await (await request(`${cli.url('fleet-rest')}/crew`)).body.json()).toEqual({ crew: 7 })
      const metrics = await (await request(`${control}/metrics`)).body.text()
      expect(metrics).toContain('naftiko_requests_total{expose="fleet-rest",route="/crew",status="200"} 1')
    } finally {
      expect(await cli.stop()).toBe(0)
    }
  })
})
