import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { existsSync, readFileSync } from 'node:fs'
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.js'
import { CHAT_CAPABILITY, CHAT_NAMESPACE, writeCapability } from '../helpers/gateway.js'
import { runCli, startCli } from '../helpers/cli.js'

const KEY = 'sk-cli-upstream-key'
let upstream: FakeOpenAI

beforeAll(async () => { upstream = await startFakeOpenAI({ apiKey: KEY }) })
afterAll(async () => { await upstream?.close() })

describe('naftiko CLI', () => {
  it('prints usage for --help and the package version for --version', async () => {
    const help = await runCli(['--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/naftiko run FILE/)
    expect(help.stdout).toMatch(/--base-uri NAMESPACE=URL/)
    const version = await runCli(['--version'])
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
    expect(version.stdout.trim()).toBe(pkg.version)
  })

  it('exits 2 on bad usage', async () => {
    expect((await runCli(['frobnicate', 'x.yaml'])).code).toBe(2)
    expect((await runCli(['run', CHAT_CAPABILITY, '--port', 'not-a-pair'])).code).toBe(2)
    expect((await runCli(['run', CHAT_CAPABILITY, '--upstream-timeout', 'soon'])).code).toBe(2)
  })

  it('refuses to run without CHATGPT_API_KEY, naming the variable and the line that binds it', async () => {
    const result = await runCli(['run', CHAT_CAPABILITY])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/chat-completions\.yaml:14:\d+: CHATGPT_API_KEY is not set/)
  })

  it('validates a good capability with exit 0 and reports every problem of a bad one as file:line:col with exit 1', async () => {
    const ok = await runCli(['validate', CHAT_CAPABILITY])
    expect(ok.code).toBe(0)
    const bad = await writeCapability(`naftiko: 1.0.0-alpha2
capability:
  consumes:
  - type: http
    namespace: api
    baseUri: https://example.com
    resources:
    - name: items
      path: /items
      operations:
      - name: list
        method: GET
  exposes:
  - type: rest
    namespace: api
    port: 8080
    resources:
    - path: /items
      operations:
      - method: GET
        call: api.lsit
      - method: FETCH
        call: api.list
        with:
          token: '{{MISSING_TOKEN}}'
`)
    const result = await runCli(['validate', bad])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/capability\.yaml:15:16: namespace "api" is declared twice \(first at line 5:16\)/)
    expect(result.stderr).toMatch(/capability\.yaml:21:15: call "api\.lsit" does not name a consumed operation/)
    expect(result.stderr).toMatch(/capability\.yaml:22:\d+: .*method/)
    expect(result.stderr).toMatch(/capability\.yaml:25:\d+: \{\{MISSING_TOKEN\}\} is not bound/)
  })

  it('validates several files at once and exits 1 when one of them cannot run', async () => {
    const broken = await writeCapability('naftiko: 1.0.0-alpha2\ncapability:\n  exposes: [\n')
    const result = await runCli(['validate', CHAT_CAPABILITY, broken])
    expect(result.code).toBe(1)
    expect(result.stdout).toMatch(/chat-completions\.yaml: valid/)
    expect(result.stdout).toMatch(/capability\.yaml: \d+ error\(s\)/)
    expect((await runCli(['validate', CHAT_CAPABILITY, CHAT_CAPABILITY])).code).toBe(0)
  })

  it('reports YAML syntax errors with their position', async () => {
    const broken = await writeCapability('naftiko: 1.0.0-alpha2\ncapability:\n  exposes: [\n')
    const result = await runCli(['validate', broken])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/capability\.yaml:\d+:\d+: YAML: /)
  })

  it('on SIGTERM lets an in-flight stream finish, then exits 0', async () => {
    const cli = await startCli(['run', CHAT_CAPABILITY, '--port', 'rest=0', '--port', 'mcp=0', '--base-uri', `${CHAT_NAMESPACE}=${upstream.url}`], { CHATGPT_API_KEY: KEY }, 2)
    const response = await fetch(`${cli.urls.get('rest') ?? ''}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fake-stream-delay:80', stream: true, messages: [{ role: 'user', content: 'a b c d e f' }] }),
    })
    const reader = response.body?.getReader()
    const first = await reader?.read()
    expect(first?.done).toBe(false)
    cli.child.kill('SIGTERM')
    let text = new TextDecoder().decode(first?.value)
    for (;;) {
      const chunk = await reader?.read()
      if (chunk === undefined || chunk.done) break
      text += new TextDecoder().decode(chunk.value)
    }
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true)
    expect(await cli.exited).toBe(0)
    // after shutdown the port no longer accepts connections
    await expect(fetch(`${cli.urls.get('rest') ?? ''}/v1/chat/completions`, { method: 'POST' })).rejects.toThrow()
  })

  const officialSchema = new URL('../../../shared/naftiko/schemas/v1.0.0-alpha2/naftiko-schema.json', import.meta.url).pathname
  const officialFile = new URL('../../../shared/corpus/naftiko-alpha2/src/main/resources/tutorial/step-2-shipyard-wiring.yml', import.meta.url).pathname
  it.skipIf(!existsSync(officialSchema))('validate --strict also applies the official alpha2 schema (needs ../shared)', async () => {
    // the seed carries fields the official schema forbids (a description on the rest expose, ...)
    const seed = await runCli(['validate', '--strict', '--official-schema', officialSchema, CHAT_CAPABILITY])
    expect(seed.code).toBe(1)
    expect(seed.stderr).toMatch(/chat-completions\.yaml:\d+:\d+: official schema: /)
    expect((await runCli(['validate', CHAT_CAPABILITY])).code).toBe(0)
    const official = await runCli(['validate', '--strict', '--official-schema', officialSchema, officialFile])
    expect(official.stderr).not.toMatch(/official schema:/)
    expect(official.code).toBe(0)
  })

  it('refuses a bound value with a control character, naming the variable', async () => {
    const result = await runCli(['run', CHAT_CAPABILITY], { CHATGPT_API_KEY: 'sk-with-a-stray-newline\n' })
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/CHATGPT_API_KEY contains a control character/)
    expect(result.stderr).not.toContain('sk-with-a-stray-newline')
  })

  it('exits at once on a second signal while a request is still in flight', async () => {
    const cli = await startCli(['run', CHAT_CAPABILITY, '--port', 'rest=0', '--port', 'mcp=0', '--base-uri', `${CHAT_NAMESPACE}=${upstream.url}`], { CHATGPT_API_KEY: KEY }, 2)
    const hanging = fetch(`${cli.urls.get('rest') ?? ''}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fake-hang', messages: [{ role: 'user', content: 'x' }] }),
    }).catch((err: unknown) => err)
    await upstream.waitForRequests(upstream.requests.length + 1).catch(() => {})
    cli.child.kill('SIGTERM')
    await new Promise((resolve) => setTimeout(resolve, 200))
    const started = performance.now()
    cli.child.kill('SIGTERM')
    // 128 + SIGTERM: the conventional code of a process stopped by that signal
    expect(await cli.exited).toBe(143)
    expect(performance.now() - started).toBeLessThan(2000)
    await hanging
  })
})
