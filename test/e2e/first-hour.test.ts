import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawn } from 'node:child_process'
import { CLI, runCli, startCli } from '../helpers/cli.js'
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.js'
import { CHAT_CAPABILITY, CHAT_NAMESPACE, writeCapability } from '../helpers/gateway.js'

/** A new user's first mistakes each get a sentence (the built CLI: `npm run build` first). */

/** What `naftiko run` prints on stdout until its last startup line, then it is stopped. */
function startupOutput (args: string[]): Promise<string> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', CHATGPT_API_KEY: KEY } })
  return new Promise((resolve, reject) => {
    let out = ''
    const done = setTimeout(() => child.kill('SIGTERM'), 10_000)
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      if (/listening on .*\/mcp/.test(out) && (args.includes('--quiet') || out.includes('naftiko: consumes'))) setTimeout(() => child.kill('SIGTERM'), 100)
    })
    child.on('close', () => { clearTimeout(done); resolve(out) })
    child.on('error', reject)
  })
}
const STACK_FRAME = /^\s+at /m
const KEY = 'sk-first-hour-0123456789'

let upstream: FakeOpenAI

beforeAll(async () => {
  upstream = await startFakeOpenAI({ apiKey: KEY })
})

afterAll(async () => {
  await upstream?.close()
})

describe('the first hour', () => {
  it('reports a YAML syntax error at its real line and column', async () => {
    const file = await writeCapability('naftiko: 1.0.0-alpha2\ncapability:\n  exposes:\n  - type: rest\n    namespace: api\n    port: 8080\n  consumes: }\n')
    const result = await runCli(['validate', file])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/capability\.yaml:7:13: YAML: Unexpected flow-map-end token/)
  })

  it.each([
    ['--base-uri', `chat-completion=${'http://127.0.0.1:1'}`, /--base-uri names "chat-completion", which this capability does not have; it has "chat-completions-chat-completions"/],
    ['--port', 'chat-completions-rest=0', /--port names "chat-completions-rest", which this capability does not have; it has .*"chat-completions-chat-completions-rest"/],
  ])('refuses a misspelt name in %s with exit 2, listing the names the capability has', async (flag, value, message) => {
    const result = await runCli(['run', CHAT_CAPABILITY, flag, value, '--port', 'rest=0', '--port', 'mcp=0'], { CHATGPT_API_KEY: KEY })
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(message)
  })

  it('says what a file that is not a capability looks like, in one line', async () => {
    const file = await writeCapability('openapi: 3.1.0\ninfo:\n  title: Pets\n  version: 1.0.0\npaths: {}\n', 'openapi.yaml')
    const result = await runCli(['validate', file])
    expect(result.code).toBe(1)
    const lines = result.stderr.trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/openapi\.yaml:1:1: not a Naftiko capability: there is no `naftiko:` key at the root \(it looks like an OpenAPI document/)
    expect(result.stderr).not.toMatch(/missing required field "consumes"/)
  })

  it('runs the capabilities in a directory, says so when it has none, and refuses two that clash', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'naftiko-dir-'))
    const none = await runCli(['run', dir])
    expect(none.code).toBe(1)
    expect(none.stderr).toMatch(/is a directory with no capability file in it/)
    expect(none.stderr).not.toMatch(STACK_FRAME)

    await writeFile(join(dir, 'chat.yaml'), await import('node:fs/promises').then((fs) => fs.readFile(CHAT_CAPABILITY, 'utf8')))
    const cli = await startCli(['run', dir, '--port', 'rest=0', '--port', 'mcp=0', '--base-uri', `${CHAT_NAMESPACE}=${upstream.url}`], { CHATGPT_API_KEY: KEY }, 2)
    cli.child.kill('SIGTERM')
    expect(await cli.exited).toBe(0)

    await writeFile(join(dir, 'second.yml'), await import('node:fs/promises').then((fs) => fs.readFile(CHAT_CAPABILITY, 'utf8')))
    // the same capability twice: its namespaces clash, named with both files, and nothing starts
    const several = await runCli(['run', dir])
    expect(several.code).toBe(1)
    expect(several.stderr).toMatch(/namespace "chat-completions-chat-completions" is declared by \S*chat\.yaml and by \S*second\.yml/)
    expect(several.stderr).not.toMatch(STACK_FRAME)
  })

  it('validates directories and globs itself (.yaml and .yml) and ends with one summary line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'naftiko-glob-'))
    await mkdir(join(dir, 'nested'))
    const chat = await import('node:fs/promises').then((fs) => fs.readFile(CHAT_CAPABILITY, 'utf8'))
    await writeFile(join(dir, 'a.yaml'), chat)
    await writeFile(join(dir, 'nested', 'b.yml'), chat)
    await writeFile(join(dir, 'nested', 'broken.yaml'), 'naftiko: 1.0.0-alpha2\ncapability: {exposes: [{type: rest}]}\n')
    const byDir = await runCli(['validate', dir])
    expect(byDir.code).toBe(1)
    expect(byDir.stdout).toMatch(/naftiko: 3 file\(s\) checked in \d+ ms: 2 valid, 0 valid with warnings, 1 with errors\n$/)
    const byGlob = await runCli(['validate', `${dir}/**/*.yml`])
    expect(byGlob.code).toBe(0)
    expect(byGlob.stdout).toMatch(/b\.yml: valid/)
    expect(byGlob.stdout).toMatch(/1 file\(s\) checked in \d+ ms: 1 valid/)
  })

  it('refuses to serve strangers on a non-loopback address unless told to, and says how', async () => {
    const refused = await runCli(['run', CHAT_CAPABILITY, '--host', '0.0.0.0', '--port', 'rest=0', '--port', 'mcp=0'], { CHATGPT_API_KEY: KEY })
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/chat-completions\.yaml:\d+:\d+: expose ".*" would listen on 0\.0\.0\.0 without inbound authentication.*--allow-unauthenticated \(NAFTIKO_ALLOW_UNAUTHENTICATED=1\)/)
    const allowed = await startCli(['run', CHAT_CAPABILITY, '--host', '0.0.0.0', '--port', 'rest=0', '--port', 'mcp=0', '--base-uri', `${CHAT_NAMESPACE}=${upstream.url}`], { CHATGPT_API_KEY: KEY, NAFTIKO_ALLOW_UNAUTHENTICATED: '1' }, 2)
    allowed.child.kill('SIGTERM')
    expect(await allowed.exited).toBe(0)
  })

  it('prints a startup summary: each expose with its auth and routes or tools, each upstream without secrets; --quiet prints none', async () => {
    const base = ['run', CHAT_CAPABILITY, '--port', 'rest=0', '--port', 'mcp=0', '--base-uri', `${CHAT_NAMESPACE}=${upstream.url}`]
    const out = await startupOutput(base)
    expect(out).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+\n {2}auth: none\n {2}1 route: POST \/v1\/chat\/completions\n/)
    expect(out).toMatch(/\/mcp\n {2}auth: none\n {2}1 tool: chatgpt-create-chat-completion\n/)
    expect(out).toMatch(/naftiko: consumes chat-completions-chat-completions -> http:\/\/127\.0\.0\.1:\d+/)
    expect(out).not.toContain(KEY)
    const quiet = await startupOutput([...base, '--quiet'])
    expect(quiet).toMatch(/listening on/)
    expect(quiet).not.toMatch(/auth: none|consumes/)
  })

  it('logs readable lines with --log-format pretty, and an MCP call\'s one line names the JSON-RPC method, the tool and a failure\'s cause', async () => {
    const cli = await startCli(['run', CHAT_CAPABILITY, '--log-format', 'pretty', '--port', 'rest=0', '--port', 'mcp=0', '--base-uri', `${CHAT_NAMESPACE}=${upstream.url}`], { CHATGPT_API_KEY: KEY }, 2)
    await fetch(`${cli.urls.get('rest') ?? ''}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }) })
    const call = (body: unknown): Promise<Response> => fetch(cli.urls.get('mcp') ?? '', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'chatgpt-create-chat-completion', arguments: { body } } }),
    })
    await (await call({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })).text()
    await (await call({ model: 'fake-429', messages: [{ role: 'user', content: 'hi' }] })).text()
    await new Promise((resolve) => setTimeout(resolve, 1500))
    cli.child.kill('SIGTERM')
    await cli.exited
    const stderr = cli.stderr()
    expect(stderr).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}request .*method=POST route=\/v1\/chat\/completions status=200/m)
    // one line per MCP call: the request's, naming the JSON-RPC method, the tool and the upstream's answer
    expect(stderr).toMatch(/INFO {2}request .*route=\/mcp rpc=tools\/call tool=chatgpt-create-chat-completion upstreamStatus=200 status=200/)
    expect(stderr).toMatch(/INFO {2}request .*rpc=tools\/call tool=chatgpt-create-chat-completion upstreamStatus=429 cause=\S+ status=200/)
    expect(stderr).not.toMatch(/tool call/)
  })
})
