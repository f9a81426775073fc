import { once } from 'node:events'
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Client as LegacyClient } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport as LegacyStdio } from '@modelcontextprotocol/sdk/client/stdio.js'
import { readCapability } from '../../src/capability/read-capability.js'
import { CORPUS, corpusExists } from '../helpers/corpus.js'
import { startGateway, writeCapability, type Gateway } from '../helpers/gateway.js'
import { CLIENTS, type McpSdkClient } from '../helpers/mcp-clients.js'

/** MCP resources (dynamic, template, static files) and prompts, over real sockets with real SDK clients. */
const TOKEN = 'upstream-token-for-resources-0123456789'
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff, 0x10, 0x80])

interface Received { method: string, url: string, authorization: string | undefined, body: string }

/** The upstream: records what it received; each path answers its own way. */
async function startUpstream (): Promise<{ url: string, received: Received[], close: () => Promise<void> }> {
  const received: Received[] = []
  const server: Server = createServer((req: IncomingMessage, res) => {
    let body = ''
    req.on('data', (c: Buffer) => { body += c.toString() })
    req.on('end', () => {
      const url = req.url ?? '/'
      received.push({ method: req.method ?? '', url, authorization: req.headers.authorization, body })
      const json = (status: number, value: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' })
        res.end(JSON.stringify(value))
      }
      const user = /^\/users\/([^/]+)$/.exec(url)
      const query = /^\/v1\/databases\/([^/]+)\/query$/.exec(url)
      if (url === '/items') json(200, { items: [{ id: 1, name: 'anchor' }] })
      // echoes the credential the gateway sent: a read must never show it
      else if (user !== null) json(200, { id: decodeURIComponent(user[1] as string), seenWith: req.headers.authorization })
      else if (url === '/logo') {
        res.writeHead(200, { 'content-type': 'image/png' })
        res.end(PNG)
      } else if (url === '/broken') json(404, { error: { message: 'no such thing', code: 'not_found' } })
      else if (query !== null) json(200, { results: [{ id: `row-of-${query[1] as string}` }] })
      else json(404, { error: { message: `unknown ${url}` } })
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }),
  }
}

const capability = (transport: 'http' | 'stdio'): string => `naftiko: 1.0.0-alpha2
info:
  label: Resources and prompts
binds:
- namespace: env
  keys:
    API_TOKEN: API_TOKEN
capability:
  consumes:
  - type: http
    namespace: api
    baseUri: http://127.0.0.1:1
    authentication:
      type: bearer
      token: '{{API_TOKEN}}'
    resources:
    - name: items
      path: /items
      operations:
      - { name: list-items, method: GET }
    - name: users
      path: /users/{{user_id}}
      operations:
      - { name: get-user, method: GET }
    - name: logo
      path: /logo
      operations:
      - { name: get-logo, method: GET }
    - name: broken
      path: /broken
      operations:
      - { name: get-broken, method: GET }
  exposes:
  - type: mcp
    namespace: docs-mcp
${transport === 'http' ? '    port: 9000' : '    transport: stdio'}
    tools:
    - name: list-items
      description: List the items
      call: api.list-items
    resources:
    - name: items
      label: Items
      uri: data://items
      description: Every item
      mimeType: application/json
      call: api.list-items
    - name: user-profile
      label: User profile
      uri: data://users/{userId}/profile
      description: A user by id
      call: api.get-user
      with:
        user_id: '{{userId}}'
    - name: logo
      label: Logo
      uri: data://logo
      description: The logo
      call: api.get-logo
    - name: broken
      label: Broken
      uri: data://broken
      description: An upstream that answers 404
      call: api.get-broken
    - name: handbook
      label: Handbook
      uri: docs://handbook
      description: The handbook folder
      location: file:///./docs
    - name: readme
      label: Readme
      uri: docs://readme
      description: One file
      location: file:///./README.md
    prompts:
    - name: outreach
      label: Outreach
      description: Draft an outreach message
      arguments:
      - name: participant_name
        description: Who to write to
      - name: tone
        description: How it should sound
        required: false
      template:
      - role: user
        content: 'Write to {{participant_name}} in a {{ tone }} tone.'
      - role: assistant
        content: 'Writing to {{participant_name}}.'
    - name: review
      label: Review
      description: Review a file
      arguments:
      - name: file
        description: The file
      location: file:///./prompts/review.md
`

/** A capability folder: docs/ with nested, binary, hidden and symlinked files; a secret next to it. */
async function writeFolder (transport: 'http' | 'stdio'): Promise<string> {
  const file = await writeCapability(capability(transport))
  const dir = join(file, '..')
  await mkdir(join(dir, 'docs', 'nested'), { recursive: true })
  await mkdir(join(dir, 'prompts'))
  await writeFile(join(dir, 'docs', 'guide.md'), '# Guide\n')
  await writeFile(join(dir, 'docs', 'data.json'), '{"a":1}')
  await writeFile(join(dir, 'docs', 'nested', 'deep notes.txt'), 'deep')
  await writeFile(join(dir, 'docs', 'logo.png'), PNG)
  await writeFile(join(dir, 'docs', '.env'), 'HIDDEN=1')
  await writeFile(join(dir, 'docs', 'leak.txt'), `the token is ${TOKEN}`)
  await writeFile(join(dir, 'secret.txt'), 'outside the root')
  await symlink(join(dir, 'secret.txt'), join(dir, 'docs', 'escape.txt'))
  await symlink(join(dir, 'docs', 'guide.md'), join(dir, 'docs', 'alias.md'))
  await writeFile(join(dir, 'README.md'), 'read me')
  await writeFile(join(dir, 'prompts', 'review.md'), 'Review {{file}} carefully; ignore {{file}}-like text in it.')
  return file
}

let upstream: Awaited<ReturnType<typeof startUpstream>>
let gateway: Gateway
let bare: Gateway

beforeAll(async () => {
  upstream = await startUpstream()
  gateway = await startGateway(await writeFolder('http'), { flags: { 'base-uri': [`api=${upstream.url}`] }, env: { API_TOKEN: TOKEN } })
  bare = await startGateway(await writeCapability(`naftiko: 1.0.0-alpha2
capability:
  consumes:
  - type: http
    namespace: api
    baseUri: ${upstream.url}
    resources:
    - name: items
      path: /items
      operations:
      - { name: list-items, method: GET }
  exposes:
  - type: mcp
    namespace: tools-only
    port: 9000
    tools:
    - name: list-items
      description: List the items
      call: api.list-items
`))
})

afterAll(async () => {
  await gateway?.close()
  await bare?.close()
  await upstream?.close()
})

/** The JSON-RPC error a client call was refused with. */
async function refusal (call: Promise<unknown>): Promise<{ code: number, message: string }> {
  try {
    await call
  } catch (err) {
    return { code: (err as { code: number }).code, message: (err as Error).message }
  }
  throw new Error('the call was not refused')
}

describe.each(CLIENTS)('MCP resources and prompts through the %s', (_era, connect) => {
  let client: McpSdkClient
  beforeAll(async () => { client = await connect(gateway.url('mcp')) })
  afterAll(async () => { await client?.close() })

  it('advertises resources and prompts', () => {
    expect(client.capabilities()).toMatchObject({ tools: {}, resources: {}, prompts: {} })
  })

  it('lists the dynamic resources and every static file, hidden and escaping ones left out', async () => {
    const { resources } = await client.listResources()
    expect(resources.map((r) => r.uri)).toEqual([
      'data://items', 'data://logo', 'data://broken',
      'docs://handbook/alias.md', 'docs://handbook/data.json', 'docs://handbook/guide.md', 'docs://handbook/leak.txt', 'docs://handbook/logo.png', 'docs://handbook/nested/deep%20notes.txt',
      'docs://readme',
    ])
    expect(resources[0]).toEqual({ uri: 'data://items', name: 'items', title: 'Items', description: 'Every item', mimeType: 'application/json' })
    expect(resources.find((r) => r.uri === 'docs://handbook/guide.md')).toMatchObject({ name: 'handbook/guide.md', title: 'Handbook', mimeType: 'text/markdown' })
  })

  it('lists a resource with a {param} in its URI as a resource template', async () => {
    const { resourceTemplates } = await client.listResourceTemplates()
    expect(resourceTemplates).toEqual([{ uriTemplate: 'data://users/{userId}/profile', name: 'user-profile', title: 'User profile', description: 'A user by id' }])
  })

  it('reads a dynamic resource from the upstream', async () => {
    const { contents } = await client.readResource('data://items')
    expect(contents).toEqual([{ uri: 'data://items', mimeType: 'application/json', text: JSON.stringify({ items: [{ id: 1, name: 'anchor' }] }) }])
    expect(upstream.received.at(-1)).toMatchObject({ method: 'GET', url: '/items', authorization: `Bearer ${TOKEN}` })
  })

  it('reads a template resource with the URI value as the input, the credential scrubbed from the answer', async () => {
    const { contents } = await client.readResource('data://users/ada%20l/profile')
    expect(upstream.received.at(-1)?.url).toBe('/users/ada%20l')
    expect(contents[0]?.uri).toBe('data://users/ada%20l/profile')
    expect(JSON.parse(contents[0]?.text ?? '')).toEqual({ id: 'ada l', seenWith: 'Bearer [redacted]' })
    expect(contents[0]?.text).not.toContain(TOKEN)
  })

  it('reads a binary upstream answer as a base64 blob', async () => {
    const { contents } = await client.readResource('data://logo')
    expect(contents).toEqual([{ uri: 'data://logo', mimeType: 'image/png', blob: PNG.toString('base64') }])
  })

  it('turns an upstream error into a JSON-RPC error naming the status and the upstream message', async () => {
    const error = await refusal(client.readResource('data://broken'))
    expect(error.code).toBe(-32603)
    expect(error.message).toContain('Upstream answered 404 (not_found): no such thing')
  })

  it('reads static files: text with its MIME type, binary as a blob, a single-file resource', async () => {
    expect((await client.readResource('docs://handbook/guide.md')).contents).toEqual([{ uri: 'docs://handbook/guide.md', mimeType: 'text/markdown', text: '# Guide\n' }])
    expect((await client.readResource('docs://handbook/nested/deep%20notes.txt')).contents[0]).toMatchObject({ mimeType: 'text/plain', text: 'deep' })
    expect((await client.readResource('docs://handbook/logo.png')).contents).toEqual([{ uri: 'docs://handbook/logo.png', mimeType: 'image/png', blob: PNG.toString('base64') }])
    expect((await client.readResource('docs://readme')).contents).toEqual([{ uri: 'docs://readme', mimeType: 'text/markdown', text: 'read me' }])
    expect((await client.readResource('docs://handbook/leak.txt')).contents[0]?.text).toBe('the token is [redacted]')
  })

  it.each([
    'docs://handbook/../secret.txt',
    'docs://handbook/%2e%2e/secret.txt',
    'docs://handbook/%2E%2E%2Fsecret.txt',
    'docs://handbook/nested/../../secret.txt',
    'docs://handbook//etc/passwd',
    'docs://handbook/escape.txt',
    'docs://handbook/.env',
    'docs://handbook',
    'docs://handbook/nested',
    'docs://readme/../secret.txt',
  ])('refuses %s as an unknown resource', async (uri) => {
    const error = await refusal(client.readResource(uri))
    expect(error.code).toBe(-32602)
    expect(error.message).not.toContain('outside the root')
  })

  it('lists prompts with their arguments', async () => {
    const { prompts } = await client.listPrompts()
    expect(prompts).toEqual([
      {
        name: 'outreach',
        title: 'Outreach',
        description: 'Draft an outreach message',
        arguments: [{ name: 'participant_name', description: 'Who to write to', required: true }, { name: 'tone', description: 'How it should sound', required: false }],
      },
      { name: 'review', title: 'Review', description: 'Review a file', arguments: [{ name: 'file', description: 'The file', required: true }] },
    ])
  })

  it('renders a prompt from its arguments, a value inserted as literal text', async () => {
    const result = await client.getPrompt('outreach', { participant_name: 'Ada {{tone}}', tone: 'warm' })
    expect(result).toMatchObject({
      description: 'Draft an outreach message',
      messages: [
        { role: 'user', content: { type: 'text', text: 'Write to Ada {{tone}} in a warm tone.' } },
        { role: 'assistant', content: { type: 'text', text: 'Writing to Ada {{tone}}.' } },
      ],
    })
  })

  it('renders a prompt from a message large enough to be taken apart off the main thread', async () => {
    // 80 KiB: the message is parsed on the worker, where only a tool call's arguments stay JSON text
    const name = `Ada ${'x'.repeat(80 * 1024)}`
    const result = await client.getPrompt('outreach', { participant_name: name, tone: 'warm' })
    expect(result.messages[0]?.content.text).toBe(`Write to ${name} in a warm tone.`)
  })

  it('renders an optional argument that is not given as nothing', async () => {
    const result = await client.getPrompt('outreach', { participant_name: 'Ada' })
    expect(result.messages[0]?.content.text).toBe('Write to Ada in a  tone.')
  })

  it('renders a file prompt as one user message', async () => {
    const result = await client.getPrompt('review', { file: 'main.ts' })
    expect(result.messages).toEqual([{ role: 'user', content: { type: 'text', text: 'Review main.ts carefully; ignore main.ts-like text in it.' } }])
  })

  it('refuses a missing required argument with InvalidParams naming it', async () => {
    const error = await refusal(client.getPrompt('outreach', { tone: 'warm' }))
    expect(error.code).toBe(-32602)
    expect(error.message).toContain('Missing required argument "participant_name" for prompt "outreach"')
  })

  it('refuses an unknown prompt with InvalidParams', async () => {
    const error = await refusal(client.getPrompt('nope'))
    expect(error.code).toBe(-32602)
    expect(error.message).toContain('Prompt nope not found')
  })
})

describe.each(CLIENTS)('an expose without resources or prompts, through the %s', (_era, connect) => {
  it('does not advertise them, and answers their methods as not found', async () => {
    const client = await connect(bare.url('mcp'))
    try {
      const capabilities = client.capabilities() ?? {}
      expect(capabilities.tools).toBeDefined()
      expect(capabilities).not.toHaveProperty('resources')
      expect(capabilities).not.toHaveProperty('prompts')
    } finally {
      await client.close()
    }
  })
})

describe.skipIf(!corpusExists)("the engine's mcp-resources-prompts-capability.yaml, run for real", () => {
  const FILE = join(CORPUS, 'naftiko-alpha2/src/test/resources/mcp/mcp-resources-prompts-capability.yaml')
  let engine: Gateway
  beforeAll(async () => {
    engine = await startGateway(FILE, { flags: { 'base-uri': [`mock-api=${upstream.url}/v1`] } })
  })
  afterAll(async () => { await engine?.close() })

  it('loads without "not yet supported" warnings', () => {
    expect(engine.runtime.warnings.map((w) => w.message).filter((m) => m.includes('not yet supported'))).toEqual([])
  })

  it.each(CLIENTS)('serves its resource, template and prompts to the %s', async (_era, connect) => {
    const client = await connect(engine.url('mcp'))
    try {
      expect((await client.listResources()).resources).toEqual([{ uri: 'data://databases/pre-release/schema', name: 'database-schema', title: 'Database Schema', description: 'Schema of the pre-release participants database', mimeType: 'application/json' }])
      expect((await client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate)).toEqual(['data://users/{userId}/profile'])

      const schema = await client.readResource('data://databases/pre-release/schema')
      expect(upstream.received.at(-1)).toMatchObject({ method: 'POST', url: '/v1/databases/test-db-id-123/query' })
      expect(JSON.parse(upstream.received.at(-1)?.body ?? '')).toEqual({ filter: { property: 'Status', select: { equals: 'Committed' } } })
      expect(JSON.parse(schema.contents[0]?.text ?? '')).toEqual({ results: [{ id: 'row-of-test-db-id-123' }] })

      const profile = await client.readResource('data://users/u-42/profile')
      expect(upstream.received.at(-1)?.url).toBe('/v1/databases/u-42/query')
      expect(profile.contents[0]).toMatchObject({ uri: 'data://users/u-42/profile', mimeType: 'application/json' })

      const outreach = await client.getPrompt('participant-outreach', { participant_name: 'Ada', product_name: 'Shipyard' })
      expect(outreach.messages).toEqual([{ role: 'user', content: { type: 'text', text: 'Draft a personalized outreach email to Ada about the upcoming Shipyard pre-release. Be professional but friendly.' } }])
      const summary = await client.getPrompt('summary-prompt', { data: '1,2,3', format: 'table' })
      expect(summary.messages.map((m) => [m.role, m.content.text])).toEqual([
        ['user', 'Summarize the following data in table format:\n\n1,2,3'],
        ['assistant', "I'll summarize the data for you."],
        ['user', 'Please focus on the key insights.'],
      ])
      expect((await refusal(client.getPrompt('summary-prompt', { format: 'table' }))).message).toContain('"data"')
    } finally {
      await client.close()
    }
  })
})

describe('load-time checks', () => {
  const read = async (edit: (yaml: string) => string): Promise<Awaited<ReturnType<typeof readCapability>>> => {
    const file = await writeFolder('http')
    await writeFile(file, edit(await readFile(file, 'utf8')))
    return await readCapability(file)
  }
  const lineOf = (yaml: string, text: string): number => yaml.split('\n').findIndex((l) => l.includes(text)) + 1

  it('accepts the capability above without warnings about resources or prompts', async () => {
    const result = await read((y) => y)
    expect(result.diagnostics.filter((d) => /resource|prompt/i.test(d.message))).toEqual([])
    expect(result.ok).toBe(true)
  })

  it('refuses a {{placeholder}} that names no argument of the prompt, at its line', async () => {
    const yaml = capability('http').replace("'Writing to {{participant_name}}.'", "'Writing to {{participant}}.'")
    const result = await read(() => yaml)
    expect(result.ok).toBe(false)
    const error = result.diagnostics.find((d) => d.message.includes('{{participant}}'))
    expect(error?.message).toBe('{{participant}} names no argument of prompt "outreach"; its arguments are participant_name, tone')
    expect(error?.line).toBe(lineOf(yaml, "'Writing to {{participant}}.'"))
  })

  it('refuses a file prompt whose text names an undeclared argument', async () => {
    const file = await writeFolder('http')
    await writeFile(join(file, '..', 'prompts', 'review.md'), 'Review {{path}}')
    const result = await readCapability(file)
    expect(result.diagnostics.find((d) => d.severity === 'error')?.message).toContain('{{path}} in file:///./prompts/review.md names no argument of prompt "review"')
  })

  it('refuses a static location that does not exist, at its line', async () => {
    const yaml = capability('http').replace('file:///./docs', 'file:///./handbook')
    const result = await read(() => yaml)
    expect(result.ok).toBe(false)
    const error = result.diagnostics.find((d) => d.severity === 'error')
    expect(error?.message).toMatch(/^location file:\/\/\/\.\/handbook of resource "handbook" does not exist \(\/.*\/handbook\)$/)
    expect(error?.line).toBe(lineOf(yaml, 'file:///./handbook'))
  })

  it('refuses a file prompt whose file does not exist', async () => {
    const result = await read((y) => y.replace('file:///./prompts/review.md', 'file:///./prompts/missing.md'))
    expect(result.diagnostics.find((d) => d.severity === 'error')?.message).toMatch(/^location file:\/\/\/\.\/prompts\/missing\.md of prompt "review" does not exist/)
  })
})

describe('MCP resources and prompts over stdio', () => {
  const CLI = new URL('../../dist/cli.js', import.meta.url).pathname

  it('lists and reads a resource and renders a prompt with the 2025-era sdk 1.x client', async () => {
    const file = await writeFolder('stdio')
    const client = new LegacyClient({ name: 'stdio-resources', version: '1.0.0' })
    await client.connect(new LegacyStdio({
      command: process.execPath,
      args: [CLI, 'run', file, '--base-uri', `api=${upstream.url}`],
      env: { PATH: process.env.PATH ?? '', API_TOKEN: TOKEN },
      stderr: 'pipe',
    }))
    try {
      expect(client.getServerCapabilities()).toMatchObject({ resources: {}, prompts: {} })
      expect((await client.listResources()).resources.map((r) => r.uri)).toContain('docs://handbook/guide.md')
      expect((await client.readResource({ uri: 'docs://handbook/guide.md' })).contents).toEqual([{ uri: 'docs://handbook/guide.md', mimeType: 'text/markdown', text: '# Guide\n' }])
      expect((await client.readResource({ uri: 'data://items' })).contents[0]).toMatchObject({ text: expect.stringContaining('anchor') as unknown })
      expect((await client.getPrompt({ name: 'review', arguments: { file: 'a.ts' } })).messages[0]?.content).toEqual({ type: 'text', text: 'Review a.ts carefully; ignore a.ts-like text in it.' })
    } finally {
      await client.close()
    }
  })
})
