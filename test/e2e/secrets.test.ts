import { createServer, type Server } from 'node:http'
import { once } from 'node:events'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client'
import { startCliServing } from '../helpers/cli.js'
import { CHAT_CAPABILITY, CHAT_NAMESPACE, startGateway, writeCapability, type Gateway } from '../helpers/gateway.js'
import { startFakeOpenAI } from '../helpers/fake-openai.js'

const SECRET = 'sk-bound-secret-never-to-be-shown-42'

/** An upstream that answers every call 400 and echoes the credential it received, in its body and a header. */
let leaky: Server
let leakyUrl: string
let leakyCapability: string
let gateway: Gateway

beforeAll(async () => {
  leaky = createServer((req, res) => {
    res.writeHead(400, { 'content-type': 'application/json', 'x-echo': req.headers.authorization ?? '' })
    res.end(JSON.stringify({ error: { message: `rejected credential ${req.headers.authorization ?? ''} for ${req.url ?? ''}`, type: 'invalid_request_error', param: null, code: null } }))
  })
  leaky.listen(0, '127.0.0.1')
  await once(leaky, 'listening')
  const address = leaky.address()
  leakyUrl = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
  const file = leakyCapability = await writeCapability(`naftiko: 1.0.0-alpha2
binds:
- namespace: env
  keys:
    API_KEY: API_KEY
capability:
  consumes:
  - type: http
    namespace: leaky
    baseUri: https://leaky.example
    authentication:
      type: bearer
      token: '{{API_KEY}}'
    resources:
    - name: things
      path: /things
      operations:
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
    - path: /things
      operations:
      - method: POST
        call: leaky.create
        with:
          body: rest.body
  - type: mcp
    namespace: tools
    port: 0
    tools:
    - name: create-thing
      description: Create a thing
      call: leaky.create
      with:
        body: tools.body
`)
  gateway = await startGateway(file, { flags: { 'base-uri': [`leaky=${leakyUrl}`], 'log-level': 'debug' }, env: { API_KEY: SECRET } })
})

afterAll(async () => {
  await gateway?.close()
  leaky?.close()
})

describe('bound secrets in upstream error answers', () => {
  it('are scrubbed from a relayed REST error body, which otherwise goes back as it is', async () => {
    const response = await fetch(`${gateway.url('rest')}/things`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' })
    expect(response.status).toBe(400)
    const text = await response.text()
    expect(text).not.toContain(SECRET)
    expect(JSON.parse(text)).toEqual({ error: { message: 'rejected credential Bearer [redacted] for /things', type: 'invalid_request_error', param: null, code: null } })
  })

  it('are scrubbed from an MCP error result', async () => {
    const client = new Client({ name: 'secrets', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } })
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url('mcp'))))
    const result = await client.callTool({ name: 'create-thing', arguments: { body: { a: 1 } } })
    await client.close()
    expect(result.isError).toBe(true)
    expect(JSON.stringify(result)).not.toContain(SECRET)
    expect(JSON.stringify(result.content)).toContain('Upstream answered 400')
  })

  it('never reach the log, even at debug level', () => {
    expect(gateway.logs.lines.length).toBeGreaterThan(0)
    expect(gateway.logs.text).not.toContain(SECRET)
  })

  it('are found whatever characters they hold: one made of pattern syntax is withheld from a header and scrubbed from a body, a result and the log', async () => {
    // every character a regular expression gives a meaning to, each standing for itself
    const special = 'sk-(a)+[b]{2}|c?.*^$\\/-d'
    const other = await startGateway(leakyCapability, { flags: { 'base-uri': [`leaky=${leakyUrl}`], 'log-level': 'debug' }, env: { API_KEY: special } })
    try {
      const response = await fetch(`${other.url('rest')}/things`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' })
      expect(response.status).toBe(400)
      expect(response.headers.get('x-echo')).toBeNull()
      expect(await response.text()).toContain('Bearer [redacted]')
      const client = new Client({ name: 'secrets-special', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } })
      await client.connect(new StreamableHTTPClientTransport(new URL(other.url('mcp'))))
      const result = await client.callTool({ name: 'create-thing', arguments: { body: { a: 1 } } })
      await client.close()
      const text = JSON.stringify(result)
      expect(result.isError).toBe(true)
      expect(text).toContain('[redacted]')
      // the JSON-escaped form (the backslash doubled) is a form of the secret too
      expect(text).not.toContain('sk-(a)+[b]{2}')
      expect(other.logs.lines.length).toBeGreaterThan(0)
      expect(other.logs.text).not.toContain('sk-(a)+[b]{2}')
    } finally {
      await other.close()
    }
  })

  it('are scrubbed from an MCP success result that echoes them', async () => {
    const echo = await writeCapability(`naftiko: 1.0.0-alpha2
binds:
- namespace: env
  keys:
    API_KEY: API_KEY
capability:
  consumes:
  - type: http
    namespace: echo
    baseUri: https://echo.example
    authentication:
      type: bearer
      token: '{{API_KEY}}'
    resources:
    - name: mirror
      path: /mirror
      operations:
      - name: get
        method: GET
  exposes:
  - type: mcp
    namespace: tools
    port: 0
    tools:
    - name: mirror
      description: Echoes the request it received
      call: echo.get
`)
    const upstream = await startFakeOpenAI()
    const mirror = await startGateway(echo, { flags: { 'base-uri': [`echo=${upstream.origin}/echo`] }, env: { API_KEY: SECRET } })
    try {
      const client = new Client({ name: 'secrets-echo', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } })
      await client.connect(new StreamableHTTPClientTransport(new URL(mirror.url('mcp'))))
      const result = await client.callTool({ name: 'mirror', arguments: {} })
      await client.close()
      expect(result.isError).toBeFalsy()
      expect(JSON.stringify(result)).not.toContain(SECRET)
      expect((result.structuredContent as { headers: { authorization: string } }).headers.authorization).toBe('Bearer [redacted]')
    } finally {
      await mirror.close()
      await upstream.close()
    }
  })
})

describe('bound secrets on the CLI\'s stderr', () => {
  // the CLI writes its lines in batches, and the redactor scrubs each batch as a whole
  it('are scrubbed from the request lines of paths a client chose to hold them, in every form', async () => {
    const cli = await startCliServing(['run', CHAT_CAPABILITY, '--port', 'rest=0', '--port', 'mcp=0', '--base-uri', `${CHAT_NAMESPACE}=http://127.0.0.1:9`], { CHATGPT_API_KEY: SECRET }, { exposes: 2, upstreams: 1 })
    const mcp = new URL(cli.addresses.find((a) => a.type === 'mcp')?.url ?? '')
    const forms = [SECRET, Buffer.from(`:${SECRET}`).toString('base64url')]
    for (let i = 0; i < 50; i++) {
      const response = await fetch(`${mcp.origin}/${i}/${forms[i % 2] ?? ''}/x`)
      expect(response.status).toBe(404)
      await response.arrayBuffer()
    }
    expect(await cli.stop()).toBe(0)
    const lines = cli.stderr().split('\n').filter((line) => line.includes('"msg":"request"'))
    expect(lines).toHaveLength(50)
    for (const line of lines) expect((JSON.parse(line) as { route: string }).route).toMatch(/^\/\d+\/[^/]*\[redacted\][^/]*\/x$/)
    for (const form of forms) expect(cli.stderr()).not.toContain(form)
  })
})
