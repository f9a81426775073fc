import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.js'
import { startGateway, writeCapability, type Gateway } from '../helpers/gateway.js'
import { connectLegacyClient, connectModernClient, type McpTestClient } from '../helpers/mcp-clients.js'

/**
 * Output mappings over real sockets: the `echo` namespace points at the fake's `/echo` route, which
 * answers what it received; the `bare` namespace points at the fake's origin, where `/nowhere` is
 * the fake's 404 `unknown_url` envelope.
 */
const UPSTREAM_KEY = 'sk-test-output-mapping-0123456789'

const CAPABILITY = `naftiko: 1.0.0-alpha2
binds:
- namespace: env
  keys:
    FAKE_KEY: FAKE_KEY
capability:
  consumes:
  - type: http
    namespace: echo
    baseUri: https://echo.example
    resources:
    - name: things
      path: /things
      operations:
      - name: get
        method: GET
        inputParameters:
        - name: q
          in: query
        - name: n
          in: query
        - name: x-fake-behaviour
          in: header
      - name: post
        method: POST
        inputParameters:
        - name: body
          in: body
        - name: x-fake-behaviour
          in: header
  - type: http
    namespace: bare
    baseUri: https://bare.example
    authentication:
      type: bearer
      token: '{{env.FAKE_KEY}}'
    resources:
    - name: nowhere
      path: /nowhere
      operations:
      - name: get
        method: GET
  exposes:
  - type: rest
    namespace: api
    port: 0
    resources:
    - path: /summary
      operations:
      - method: GET
        call: echo.get
        outputParameters:
        - type: object
          properties:
            method:
              type: string
              mapping: $.method
            path:
              type: string
              mapping: $.path
            q:
              type: string
              mapping: $.query.q
            n:
              type: number
              mapping: $.query.n
    - path: /names
      operations:
      - method: POST
        call: echo.post
        with:
          body: rest.body
        outputParameters:
        - type: object
          properties:
            method:
              type: string
              mapping: $.method
            names:
              type: array
              mapping: $.body.list
              items:
                type: string
                mapping: $.name
            first:
              type: object
              mapping: $.body.list[0]
              properties:
                name:
                  type: string
                  mapping: $.name
                age:
                  type: number
                  mapping: $.age
    - path: /people
      operations:
      - method: POST
        call: echo.post
        with:
          body: rest.body
        outputParameters:
        - type: array
          mapping: $.body.list
          items:
            type: object
            properties:
              who:
                type: string
                mapping: $.name
              age:
                type: integer
                mapping: $.age
    - path: /query
      operations:
      - method: GET
        call: echo.get
        outputParameters:
        - type: object
          mapping: $.query
    - path: /nowhere
      operations:
      - method: GET
        call: bare.get
        outputParameters:
        - type: object
          properties:
            never:
              type: string
              mapping: $.error.code
  - type: mcp
    namespace: tools
    port: 0
    transport: http
    description: output mapping tools
    tools:
    - name: summary
      description: what the echo route saw, shaped
      call: echo.get
      outputParameters:
      - type: object
        properties:
          method:
            type: string
            mapping: $.method
          path:
            type: string
            mapping: $.path
          q:
            type: string
            mapping: $.query.q
          n:
            type: number
            mapping: $.query.n
    - name: names
      description: names out of a posted list
      call: echo.post
      with:
        body: tools.body
      outputParameters:
      - type: object
        properties:
          method:
            type: string
            mapping: $.method
          names:
            type: array
            mapping: $.body.list
            items:
              type: string
              mapping: $.name
          first:
            type: object
            mapping: $.body.list[0]
            properties:
              name:
                type: string
                mapping: $.name
              age:
                type: number
                mapping: $.age
    - name: people
      description: a posted list, reshaped
      call: echo.post
      with:
        body: tools.body
      outputParameters:
      - type: array
        mapping: $.body.list
        items:
          type: object
          properties:
            who:
              type: string
              mapping: $.name
            age:
              type: integer
              mapping: $.age
    - name: nowhere
      description: a path the upstream does not know
      call: bare.get
      outputParameters:
      - type: object
        properties:
          never:
            type: string
            mapping: $.error.code
`

const LIST = [{ name: 'ada', age: '36' }, { name: 'alan', age: 41 }, { name: 'grace' }]

const SUMMARY = { method: 'GET', path: '/echo/things', q: 'hello world', n: 42 }
const NAMES = { method: 'POST', names: ['ada', 'alan', 'grace'], first: { name: 'ada', age: 36 } }
const PEOPLE = [{ who: 'ada', age: 36 }, { who: 'alan', age: 41 }, { who: 'grace' }]

let fake: FakeOpenAI
let gateway: Gateway

beforeAll(async () => {
  fake = await startFakeOpenAI({ apiKey: UPSTREAM_KEY })
  const file = await writeCapability(CAPABILITY)
  gateway = await startGateway(file, {
    flags: { 'base-uri': [`echo=${fake.origin}/echo`, `bare=${fake.origin}`] },
    env: { FAKE_KEY: UPSTREAM_KEY },
  })
})

afterAll(async () => {
  await gateway?.close()
  await fake?.close()
})

async function rest (path: string, init: RequestInit = {}): Promise<{ status: number, type: string, text: string }> {
  const response = await fetch(`${gateway.url('rest')}${path}`, init)
  return { status: response.status, type: response.headers.get('content-type') ?? '', text: await response.text() }
}

const postJson = (body: unknown, headers: Record<string, string> = {}): RequestInit =>
  ({ method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })

describe('REST output mapping', () => {
  it('answers an object built from the echo answer, with the query values coerced to their types', async () => {
    const { status, type, text } = await rest('/summary?q=hello%20world&n=42')
    expect(status).toBe(200)
    expect(type).toMatch(/^application\/json\b/)
    expect(JSON.parse(text)).toStrictEqual(SUMMARY)
  })

  it('leaves out of the object the properties the echo answer does not have', async () => {
    const { status, text } = await rest('/summary')
    expect(status).toBe(200)
    expect(JSON.parse(text)).toStrictEqual({ method: 'GET', path: '/echo/things' })
  })

  it('maps each element of a posted array and reads a mapped sub-object relative to itself', async () => {
    const { status, type, text } = await rest('/names', postJson({ list: LIST, other: 'dropped' }))
    expect(status).toBe(200)
    expect(type).toMatch(/^application\/json\b/)
    expect(JSON.parse(text)).toStrictEqual(NAMES)
  })

  it('answers a JSON array when the root output is an array with items', async () => {
    const { status, type, text } = await rest('/people', postJson({ list: LIST }))
    expect(status).toBe(200)
    expect(type).toMatch(/^application\/json\b/)
    expect(JSON.parse(text)).toStrictEqual(PEOPLE)
  })

  it('answers an empty array when the posted body has no list to map', async () => {
    const { status, text } = await rest('/people', postJson({ nothing: true }))
    expect(status).toBe(200)
    expect(JSON.parse(text)).toStrictEqual([])
  })

  it('answers the sub-object at a path unchanged when the output has no properties', async () => {
    const { status, type, text } = await rest('/query?q=a&x=b')
    expect(status).toBe(200)
    expect(type).toMatch(/^application\/json\b/)
    expect(JSON.parse(text)).toStrictEqual({ q: 'a' })
  })

  it('relays an upstream 500 with its status and its body unmapped', async () => {
    const { status, type, text } = await rest('/summary?q=x', { headers: { 'x-fake-behaviour': '500' } })
    expect(status).toBe(500)
    expect(type).toMatch(/^application\/json\b/)
    const body = JSON.parse(text) as { error: { message: string, type: string } }
    expect(body.error.type).toBe('server_error')
    expect(body.error.message).toMatch(/The server had an error/)
    expect(body).not.toHaveProperty('method')
  })

  it('relays an upstream 500 to a POST with a mapped body unmapped too', async () => {
    const { status, text } = await rest('/names', postJson({ list: LIST }, { 'x-fake-behaviour': '500' }))
    expect(status).toBe(500)
    expect(JSON.parse(text)).toMatchObject({ error: { type: 'server_error' } })
  })

  it('relays an upstream 404 envelope as it is, not mapped to the declared shape', async () => {
    const { status, type, text } = await rest('/nowhere')
    expect(status).toBe(404)
    expect(type).toMatch(/^application\/json\b/)
    const body = JSON.parse(text) as Record<string, unknown>
    expect(body).toMatchObject({ error: { code: 'unknown_url', message: 'Invalid URL (GET /nowhere)' } })
    expect(body).not.toHaveProperty('never')
  })
})

describe('MCP output mapping (client 2.x)', () => {
  let client: McpTestClient
  beforeAll(async () => { client = await connectModernClient(gateway.url('mcp')) })
  afterAll(async () => { await client?.close() })

  const text = (result: Record<string, unknown>): string =>
    (result.content as Array<{ type: string, text: string }>).filter((c) => c.type === 'text').map((c) => c.text).join('')

  it('lists an output schema for a tool whose mapping declares an object shape', async () => {
    const { tools } = await client.listTools()
    const summary = tools.find((t) => t.name === 'summary')
    expect(summary?.outputSchema).toMatchObject({
      properties: {
        method: { type: ['string', 'null'] },
        path: { type: ['string', 'null'] },
        q: { type: ['string', 'null'] },
        n: { type: ['number', 'null'] },
      },
    })
    const names = tools.find((t) => t.name === 'names')
    expect(names?.outputSchema).toMatchObject({
      properties: {
        method: { type: ['string', 'null'] },
        names: { type: 'array', items: { type: ['string', 'null'] } },
        first: { properties: { name: { type: ['string', 'null'] }, age: { type: ['number', 'null'] } } },
      },
    })
  })

  it('lists an object-rooted output schema, as MCP requires', async () => {
    const { tools } = await client.listTools()
    expect(tools.find((t) => t.name === 'summary')?.outputSchema).toMatchObject({ type: 'object' })
  })

  it('lists no output schema for a tool whose mapping is an array', async () => {
    const { tools } = await client.listTools()
    expect(tools.find((t) => t.name === 'people')).toBeDefined()
    expect(tools.find((t) => t.name === 'people')?.outputSchema).toBeUndefined()
  })

  it('returns the shaped object as structuredContent and as its text block', async () => {
    const result = await client.callTool('summary', { q: 'hello world', n: '42' })
    expect(result.isError).toBeFalsy()
    expect(result.structuredContent).toStrictEqual(SUMMARY)
    expect(JSON.parse(text(result))).toStrictEqual(SUMMARY)
  })

  it('maps the items of a posted array the same way the REST route does', async () => {
    const result = await client.callTool('names', { body: { list: LIST, other: 'dropped' } })
    expect(result.isError).toBeFalsy()
    expect(result.structuredContent).toStrictEqual(NAMES)
    expect(JSON.parse(text(result))).toStrictEqual(NAMES)
  })

  it('wraps a mapped array as {result} in structuredContent and keeps the bare array as text', async () => {
    const result = await client.callTool('people', { body: { list: LIST } })
    expect(result.isError).toBeFalsy()
    expect(result.structuredContent).toStrictEqual({ result: PEOPLE })
    expect(JSON.parse(text(result))).toStrictEqual(PEOPLE)
  })

  it('reports an upstream 500 as a tool error that names the status and the upstream message', async () => {
    const result = await client.callTool('summary', { q: 'x', 'x-fake-behaviour': '500' })
    expect(result.isError).toBe(true)
    expect(text(result)).toMatch(/\b500\b/)
    expect(text(result)).toMatch(/The server had an error/)
    // never a mapped result: the error, for an agent to act on
    expect(result.structuredContent).toMatchObject({ error: { status: 500 } })
  })

  it('reports an upstream 404 as a tool error with the upstream message, not a mapped result', async () => {
    const result = await client.callTool('nowhere', {})
    expect(result.isError).toBe(true)
    expect(text(result)).toMatch(/\b404\b/)
    expect(text(result)).toMatch(/Invalid URL \(GET \/nowhere\)/)
    expect(result.structuredContent).toStrictEqual({ error: { status: 404, code: 'unknown_url', message: expect.stringMatching(/Invalid URL/) as unknown, retryAfter: null } })
  })
})

describe('MCP output mapping (2025-era sdk 1.x client)', () => {
  let client: McpTestClient
  beforeAll(async () => { client = await connectLegacyClient(gateway.url('mcp')) })
  afterAll(async () => { await client?.close() })

  // a schema that is not object-rooted is projected for 2025-era clients as {result: ...}, and the
  // client then rejects a bare structuredContent
  it('returns the shaped object as structuredContent to a client that listed the tools first', async () => {
    await client.listTools()
    const result = await client.callTool('summary', { q: 'hello world', n: '42' })
    expect(result.structuredContent).toStrictEqual(SUMMARY)
  })

  it('returns a mapped array wrapped as {result} to a client that listed the tools first', async () => {
    await client.listTools()
    const result = await client.callTool('people', { body: { list: LIST } })
    expect(result.isError).toBeFalsy()
    expect(result.structuredContent).toStrictEqual({ result: PEOPLE })
  })
})
