import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connectLegacyClient } from '../helpers/mcp-clients.js'
import { runCli } from '../helpers/cli.js'
import { startGateway, writeCapability, type Gateway } from '../helpers/gateway.js'

/** Defects found running the public capability files, each over real sockets. */
const KEY = 'sk-real-files-0123456789'

interface Seen { method: string, url: string, headers: IncomingMessage['headers'], body: string }
const seen: Seen[] = []
let upstream: Server
let origin: string

beforeAll(async () => {
  upstream = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() })
      if (req.url?.startsWith('/text') === true) {
        res.writeHead(200, { 'content-type': 'text/html' })
        res.end('<p>not json</p>')
        return
      }
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{"ok":true}')
    })
  })
  upstream.listen(0, '127.0.0.1')
  await once(upstream, 'listening')
  const address = upstream.address()
  origin = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
})

afterAll(async () => {
  upstream?.close()
})

function capability (auth: string, operationExtra = ''): string {
  return `naftiko: 1.0.0-alpha2
info:
  label: Real files test
  version: 2.3.4
binds:
- namespace: env
  keys:
    KEY: KEY
capability:
  consumes:
  - type: http
    namespace: up
    baseUri: https://up.example
    authentication:
${auth}
    resources:
    - name: things
      path: /things
      operations:
      - name: create
        method: POST
        body: '{"name": "{{name}}"}'${operationExtra}
    - name: page
      path: /text
      operations:
      - name: page
        method: GET
  exposes:
  - type: rest
    namespace: api
    port: 0
    resources:
    - path: /things
      operations:
      - method: POST
        call: up.create
        with:
          name: rest.name
  - type: mcp
    namespace: tools
    port: 0
    description: Tools over the test upstream; call create to make a thing.
    tools:
    - name: create
      description: Create a thing
      call: up.create
      with:
        name: tools.name
    - name: page
      description: An HTML page
      call: up.page
`
}

const BEARER = '      type: bearer\n      token: \'{{KEY}}\''

describe('public capability files, run for real', () => {
  let gateway: Gateway
  beforeAll(async () => {
    gateway = await startGateway(await writeCapability(capability(BEARER)), { flags: { 'base-uri': [`up=${origin}`] }, env: { KEY } })
  })
  afterAll(async () => { await gateway?.close() })

  it('sends a raw-string body template as application/json', async () => {
    const response = await fetch(`${gateway.url('rest')}/things`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"anvil"}' })
    expect(response.status).toBe(200)
    const last = seen.at(-1) as Seen
    expect(last.headers['content-type']).toBe('application/json')
    expect(JSON.parse(last.body)).toEqual({ name: 'anvil' })
  })

  it('sends the MCP expose description as instructions, and the capability label and version as the server title and version', async () => {
    const response = await fetch(gateway.url('mcp'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
    })
    const text = await response.text()
    const message = JSON.parse(/data: (.*)/.exec(text)?.[1] ?? text) as { result: { instructions?: string, serverInfo: { name: string, title?: string, version: string } } }
    expect(message.result.instructions).toBe('Tools over the test upstream; call create to make a thing.')
    expect(message.result.serverInfo).toMatchObject({ name: 'tools', title: 'Real files test', version: '2.3.4' })
  })

  it('returns a non-JSON upstream answer as a text block on MCP, as REST relays it', async () => {
    const client = await connectLegacyClient(gateway.url('mcp'))
    try {
      const result = await client.callTool('page', {}) as { isError?: boolean, content: Array<{ text: string }> }
      expect(result.isError).toBeFalsy()
      expect(result.content[0]?.text).toBe('<p>not json</p>')
    } finally {
      await client.close()
    }
  })
})

describe('HTTP Digest to an upstream', () => {
  let digestUpstream: Server
  let digestOrigin: string
  const answered: Array<{ status: number, nonceCount?: string }> = []

  beforeAll(async () => {
    // RFC 7616, MD5 with qop=auth: the challenge first, then the answer checked
    digestUpstream = createServer((req, res) => {
      const header = req.headers.authorization ?? ''
      const params = new Map([...header.matchAll(/(\w+)=(?:"([^"]*)"|([^,\s]*))/g)].map((m) => [m[1] as string, m[2] ?? m[3] ?? '']))
      const md5 = (t: string): string => createHash('md5').update(t).digest('hex')
      const expected = md5(`${md5(`u:test:${KEY}`)}:n0nce:${params.get('nc') ?? ''}:${params.get('cnonce') ?? ''}:auth:${md5(`${req.method ?? ''}:${req.url ?? ''}`)}`)
      req.resume()
      if (!header.startsWith('Digest ') || params.get('response') !== expected || params.get('nonce') !== 'n0nce') {
        answered.push({ status: 401 })
        res.writeHead(401, { 'www-authenticate': 'Digest realm="test", qop="auth", nonce="n0nce", opaque="0paque", algorithm=MD5' })
        res.end()
        return
      }
      answered.push({ status: 200, nonceCount: params.get('nc') })
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{"ok":true}')
    })
    digestUpstream.listen(0, '127.0.0.1')
    await once(digestUpstream, 'listening')
    const address = digestUpstream.address()
    digestOrigin = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
  })

  afterAll(() => { digestUpstream?.close() })

  it('answers the challenge, then answers later calls at once with a rising nonce count', async () => {
    const gateway = await startGateway(await writeCapability(capability('      type: digest\n      username: u\n      password: \'{{KEY}}\'')), { flags: { 'base-uri': [`up=${digestOrigin}`] }, env: { KEY } })
    try {
      for (let i = 0; i < 2; i++) {
        const response = await fetch(`${gateway.url('rest')}/things`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"x"}' })
        expect(response.status).toBe(200)
      }
      expect(answered).toEqual([{ status: 401 }, { status: 200, nonceCount: '00000001' }, { status: 200, nonceCount: '00000002' }])
    } finally {
      await gateway.close()
    }
  })
})

describe('an upstream credential the runtime cannot send', () => {
  it.each([
    ['oauth2', '      type: oauth2\n      authorizationServerUri: https://auth.example\n      resource: https://up.example'],
  ])('%s: REST answers 501 and MCP an error result, and the upstream is never called', async (_name, auth) => {
    const gateway = await startGateway(await writeCapability(capability(auth)), { flags: { 'base-uri': [`up=${origin}`] }, env: { KEY } })
    const before = seen.length
    try {
      const response = await fetch(`${gateway.url('rest')}/things`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"x"}' })
      expect(response.status).toBe(501)
      expect((await response.json() as { error: { code: string } }).error.code).toBe('feature_not_supported')
      const client = await connectLegacyClient(gateway.url('mcp'))
      const result = await client.callTool('create', { name: 'x' }) as { isError?: boolean, content: Array<{ text: string }> }
      await client.close()
      expect(result.isError).toBe(true)
      expect(result.content[0]?.text).toMatch(/feature_not_supported/)
      expect(seen.length).toBe(before)
    } finally {
      await gateway.close()
    }
  })

  it('apikey with placement body is sent as a field of the JSON body, where a caller cannot replace it', async () => {
    const gateway = await startGateway(await writeCapability(capability('      type: apikey\n      placement: body\n      key: key\n      value: \'{{KEY}}\'')), { flags: { 'base-uri': [`up=${origin}`] }, env: { KEY } })
    try {
      const response = await fetch(`${gateway.url('rest')}/things`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"x"}' })
      expect(response.status).toBe(200)
      expect(JSON.parse((seen.at(-1) as Seen).body)).toEqual({ name: 'x', key: KEY })
    } finally {
      await gateway.close()
    }
  })
})

const SHARED = new URL('../../../shared/corpus/naftiko-alpha2/src/main/resources/tutorial/shared/registry-consumes.yaml', import.meta.url).pathname

describe('a shared consumes document', () => {
  it.skipIf(!existsSync(SHARED))('validates, and run says it is imported by capabilities (exit 1, no stack)', async () => {
    const validated = await runCli(['validate', SHARED])
    expect(validated.code).toBe(0)
    expect(validated.stdout).toMatch(/valid shared consumes document/)
    const run = await runCli(['run', SHARED])
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/is a shared consumes document .*capabilities import it/)
    expect(run.stderr).not.toMatch(/^\s+at /m)
  })
})

describe('base URIs from server variables and the environment', () => {
  const yaml = (baseUri: string): string => capability(BEARER).replace('baseUri: https://up.example', `baseUri: '${baseUri}'`)

  it('fills OpenAPI server variables from --server-var and NAFTIKO_SERVER_VAR_<NAME>', async () => {
    const [host, port] = origin.replace('http://', '').split(':')
    const gateway = await startGateway(await writeCapability(yaml('http://{host}:{port}/api')), {
      flags: { 'server-var': [`host=${host ?? ''}`] },
      env: { KEY, NAFTIKO_SERVER_VAR_PORT: port ?? '' },
    })
    try {
      const response = await fetch(`${gateway.url('rest')}/things`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"x"}' })
      expect(response.status).toBe(200)
      expect((seen.at(-1) as Seen).url).toBe('/api/things')
    } finally {
      await gateway.close()
    }
  })

  it('takes a base URI per namespace from NAFTIKO_BASE_URI_<NAMESPACE>', async () => {
    const gateway = await startGateway(await writeCapability(yaml('')), { env: { KEY, NAFTIKO_BASE_URI_UP: `${origin}/v2` } })
    try {
      const response = await fetch(`${gateway.url('rest')}/things`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"x"}' })
      expect(response.status).toBe(200)
      expect((seen.at(-1) as Seen).url).toBe('/v2/things')
    } finally {
      await gateway.close()
    }
  })

  it('names the missing server variable, the flag and the variable that give it, in the 502', async () => {
    const gateway = await startGateway(await writeCapability(yaml('https://{subdomain}.example.com/api')), { env: { KEY } })
    try {
      const response = await fetch(`${gateway.url('rest')}/things`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"x"}' })
      expect(response.status).toBe(502)
      const body = await response.json() as { error: { code: string, message: string } }
      expect(body.error.code).toBe('upstream_not_configured')
      expect(body.error.message).toMatch(/--server-var subdomain=VALUE \(or NAFTIKO_SERVER_VAR_SUBDOMAIN\)/)
    } finally {
      await gateway.close()
    }
  })
})
