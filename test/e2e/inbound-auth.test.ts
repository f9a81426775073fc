import { createServer, type Server } from 'node:http'
import { once } from 'node:events'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { Client as LegacyClient } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport as LegacyTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.js'
import type { StartupError } from '../../src/errors/startup-error.js'
import { startGateway, writeCapability, type Gateway } from '../helpers/gateway.js'

const UPSTREAM_KEY = 'sk-upstream-held-by-the-gateway'
const GATEWAY_TOKEN = 'gw-token-for-clients-0123456789'

function capability (restAuth: string, mcpAuth: string): string {
  return `naftiko: 1.0.0-alpha2
binds:
- namespace: env
  keys:
    CHATGPT_API_KEY: CHATGPT_API_KEY
    GATEWAY_TOKEN: GATEWAY_TOKEN
capability:
  consumes:
  - type: http
    namespace: openai
    baseUri: https://api.openai.com/v1
    authentication:
      type: bearer
      token: '{{CHATGPT_API_KEY}}'
    resources:
    - name: chat
      path: /chat/completions
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
    authentication:
${restAuth}
    resources:
    - path: /v1/chat/completions
      operations:
      - method: POST
        call: openai.create
        with:
          body: rest.body
  - type: mcp
    namespace: tools
    port: 0
    authentication:
${mcpAuth}
    tools:
    - name: chat
      description: Chat completion
      call: openai.create
      with:
        body: tools.body
`
}

const BODY = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })
const ARGS = { body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] } }

let upstream: FakeOpenAI
beforeAll(async () => { upstream = await startFakeOpenAI({ apiKey: UPSTREAM_KEY }) })
afterAll(async () => { await upstream?.close() })

async function gatewayWith (restAuth: string, mcpAuth: string): Promise<Gateway> {
  return startGateway(await writeCapability(capability(restAuth, mcpAuth)), {
    flags: { port: ['api=0', 'tools=0'], 'base-uri': [`openai=${upstream.url}`] },
    env: { CHATGPT_API_KEY: UPSTREAM_KEY, GATEWAY_TOKEN },
  })
}

const post = (url: string, headers: Record<string, string> = {}): Promise<Response> =>
  fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: BODY })

describe.each([
  ['bearer', '      type: bearer\n      token: \'{{GATEWAY_TOKEN}}\'', { authorization: `Bearer ${GATEWAY_TOKEN}` }, { authorization: 'Bearer wrong-token' }, '', /^Bearer realm=/],
  ['apikey in a header', '      type: apikey\n      key: X-Gateway-Key\n      value: \'{{GATEWAY_TOKEN}}\'', { 'x-gateway-key': GATEWAY_TOKEN }, { 'x-gateway-key': 'nope' }, '', /^ApiKey /],
  ['apikey in the query', '      type: apikey\n      key: gateway_key\n      value: \'{{GATEWAY_TOKEN}}\'\n      placement: query', {}, {}, `?gateway_key=${GATEWAY_TOKEN}`, /^ApiKey /],
  ['basic', '      type: basic\n      username: app\n      password: \'{{GATEWAY_TOKEN}}\'', { authorization: `Basic ${Buffer.from(`app:${GATEWAY_TOKEN}`).toString('base64')}` }, { authorization: `Basic ${Buffer.from('app:wrong').toString('base64')}` }, '', /^Basic realm=/],
] as const)('inbound %s authentication on REST', (_name, auth, right, wrong, query, challenge) => {
  let gateway: Gateway
  beforeAll(async () => { gateway = await gatewayWith(auth, auth) })
  afterAll(async () => { await gateway?.close() })

  it('refuses a request without the credential with 401, the envelope and a challenge', async () => {
    const before = upstream.requests.length
    const response = await post(gateway.url('rest'))
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toMatch(challenge)
    expect((await response.json() as { error: { code: string } }).error.code).toBe('unauthorized')
    expect(upstream.requests.length).toBe(before)
  })

  it('refuses a wrong credential with 401', async () => {
    const response = await fetch(`${gateway.url('rest')}/v1/chat/completions${query === '' ? '' : '?gateway_key=wrong'}`, { method: 'POST', headers: { 'content-type': 'application/json', ...wrong }, body: BODY })
    expect(response.status).toBe(401)
  })

  it('serves the right credential, and the upstream gets the bound key, not the client credential', async () => {
    const before = upstream.requests.length
    const response = await fetch(`${gateway.url('rest')}/v1/chat/completions${query}`, { method: 'POST', headers: { 'content-type': 'application/json', ...right }, body: BODY })
    expect(response.status).toBe(200)
    const seen = upstream.requests[before]
    expect(seen?.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`)
    expect(JSON.stringify(seen?.headers) + (seen?.url ?? '')).not.toContain(GATEWAY_TOKEN)
  })

  it('applies the same check to the MCP endpoint', async () => {
    const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } }
    const send = (headers: Record<string, string>, q = ''): Promise<Response> => fetch(`${gateway.url('mcp')}${q}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      body: JSON.stringify(initialize),
    })
    expect((await send({})).status).toBe(401)
    expect((await send(right, query)).status).toBe(200)
  })
})

describe('inbound bearer authentication with an MCP SDK client', () => {
  let gateway: Gateway
  const auth = '      type: bearer\n      token: \'{{GATEWAY_TOKEN}}\''
  beforeAll(async () => { gateway = await gatewayWith(auth, auth) })
  afterAll(async () => { await gateway?.close() })

  it('lets a client with the token list and call tools, and refuses one without', async () => {
    const denied = new LegacyClient({ name: 'no-token', version: '1' })
    await expect(denied.connect(new LegacyTransport(new URL(gateway.url('mcp'))))).rejects.toThrow()
    const client = new LegacyClient({ name: 'with-token', version: '1' })
    await client.connect(new LegacyTransport(new URL(gateway.url('mcp')), { requestInit: { headers: { authorization: `Bearer ${GATEWAY_TOKEN}` } } }))
    const before = upstream.requests.length
    const result = await client.callTool({ name: 'chat', arguments: ARGS })
    expect(result.isError).toBeFalsy()
    expect(upstream.requests[before]?.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`)
    await client.close()
  })
})

describe('OAuth 2.1 resource server on the MCP expose', () => {
  let issuerServer: Server
  let issuer: string
  let gateway: Gateway
  let sign: (claims: Record<string, unknown>, options?: { expiresIn?: string, audience?: string }) => Promise<string>
  const RESOURCE = 'https://mcp.example.test/mcp'

  beforeAll(async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256')
    const jwk = { ...(await exportJWK(publicKey)), kid: 'test-key', alg: 'RS256', use: 'sig' }
    issuerServer = createServer((req, res) => {
      res.setHeader('content-type', 'application/json')
      if (req.url === '/.well-known/oauth-authorization-server') res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks`, token_endpoint: `${issuer}/token` }))
      else if (req.url === '/jwks') res.end(JSON.stringify({ keys: [jwk] }))
      else {
        res.statusCode = 404
        res.end('{}')
      }
    })
    issuerServer.listen(0, '127.0.0.1')
    await once(issuerServer, 'listening')
    const address = issuerServer.address()
    issuer = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
    sign = (claims, options = {}) => new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'test-key' })
      .setIssuer(issuer).setAudience(options.audience ?? RESOURCE).setIssuedAt().setExpirationTime(options.expiresIn ?? '5m').sign(privateKey)
    const oauth = `      type: oauth2\n      authorizationServerUri: ${issuer}\n      resource: ${RESOURCE}\n      scopes: [chat:write]`
    gateway = await gatewayWith('      type: bearer\n      token: \'{{GATEWAY_TOKEN}}\'', oauth)
  })
  afterAll(async () => {
    await gateway?.close()
    issuerServer?.close()
  })

  const initialize = (token?: string): Promise<Response> => fetch(gateway.url('mcp'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
  })

  it('serves RFC 9728 protected resource metadata', async () => {
    const base = gateway.url('mcp').replace(/\/mcp$/, '')
    for (const path of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp']) {
      const response = await fetch(base + path)
      expect(response.status).toBe(200)
      expect(await response.json()).toEqual({ resource: RESOURCE, authorization_servers: [issuer], bearer_methods_supported: ['header'], scopes_supported: ['chat:write'] })
    }
  })

  it('answers a request without a token 401 with resource_metadata in the challenge', async () => {
    const response = await initialize()
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toBe('Bearer resource_metadata="https://mcp.example.test/.well-known/oauth-protected-resource/mcp"')
  })

  it('accepts a valid token with the required scope', async () => {
    expect((await initialize(await sign({ scope: 'chat:write other' }))).status).toBe(200)
  })

  it('answers 403 insufficient_scope when the scope is missing', async () => {
    const response = await initialize(await sign({ scope: 'other' }))
    expect(response.status).toBe(403)
    expect(response.headers.get('www-authenticate')).toMatch(/error="insufficient_scope".*scope="chat:write"/)
    expect((await response.json() as { error: { code: string } }).error.code).toBe('insufficient_scope')
  })

  it.each([
    ['another audience', { audience: 'https://elsewhere.example' }],
    ['an expired token', { expiresIn: '-1m' }],
  ])('refuses %s with 401 invalid_token', async (_name, options) => {
    const response = await initialize(await sign({ scope: 'chat:write' }, options))
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toMatch(/error="invalid_token"/)
  })

  it('refuses a token signed by another key', async () => {
    const { privateKey } = await generateKeyPair('RS256')
    const forged = await new SignJWT({ scope: 'chat:write' }).setProtectedHeader({ alg: 'RS256', kid: 'test-key' }).setIssuer(issuer).setAudience(RESOURCE).setExpirationTime('5m').sign(privateKey)
    expect((await initialize(forged)).status).toBe(401)
  })
})

describe('exposure warning', () => {
  it('refuses to start an expose without inbound authentication beyond loopback, naming the opt-in', async () => {
    const file = await writeCapability(capability('      type: bearer\n      token: \'{{GATEWAY_TOKEN}}\'', '      type: bearer\n      token: \'{{GATEWAY_TOKEN}}\'').replace(/ {4}authentication:\n {6}type: bearer\n {6}token: '\{\{GATEWAY_TOKEN\}\}'\n {4}tools:/, '    tools:'))
    const started = startGateway(file, {
      flags: { port: ['api=0', 'tools=0'], host: '0.0.0.0', 'base-uri': [`openai=${upstream.url}`] },
      env: { CHATGPT_API_KEY: UPSTREAM_KEY, GATEWAY_TOKEN },
    })
    const refused = await started.then(async (g) => { await g.close(); return undefined }, (err: unknown) => err as StartupError)
    expect(refused?.code).toBe('exposure_refused')
    expect(refused?.diagnostics.map((d) => d.message).join('\n')).toMatch(/"tools" would listen on 0\.0\.0\.0 without inbound authentication.*--allow-unauthenticated \(NAFTIKO_ALLOW_UNAUTHENTICATED=1\)/)
  })

  it('with --allow-unauthenticated, starts and warns at startup about the open expose', async () => {
    const file = await writeCapability(capability('      type: bearer\n      token: \'{{GATEWAY_TOKEN}}\'', '      type: bearer\n      token: \'{{GATEWAY_TOKEN}}\'').replace(/ {4}authentication:\n {6}type: bearer\n {6}token: '\{\{GATEWAY_TOKEN\}\}'\n {4}tools:/, '    tools:'))
    const gateway = await startGateway(file, {
      flags: { port: ['api=0', 'tools=0'], host: '0.0.0.0', 'base-uri': [`openai=${upstream.url}`], 'allow-unauthenticated': true },
      env: { CHATGPT_API_KEY: UPSTREAM_KEY, GATEWAY_TOKEN },
    })
    try {
      const warnings = gateway.logs.entries().filter((e) => e.level === 40)
      expect(warnings.map((w) => w.expose)).toEqual(['tools'])
      expect(String(warnings[0]?.msg)).toMatch(/would listen on 0\.0\.0\.0 without inbound authentication/)
    } finally {
      await gateway.close()
    }
  })
})
