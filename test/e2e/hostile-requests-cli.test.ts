import { spawn } from 'node:child_process'
import { createServer, type AddressInfo, type Server } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.js'
import { CHAT_CAPABILITY, CHAT_NAMESPACE, writeCapability } from '../helpers/gateway.js'
import { CLI, startCli, type CliResult } from '../helpers/cli.js'

/** `naftiko run` (dist/cli.js: `npm run build` first) facing a taken port, a closed stdin and a second signal. */
const KEY = 'sk-hostile-cli-upstream-key'
const STDIO_FIXTURE = new URL('../fixtures/capabilities/valid/chat-stdio.yaml', import.meta.url).pathname

let upstream: FakeOpenAI
beforeAll(async () => { upstream = await startFakeOpenAI({ apiKey: KEY }) })
afterAll(async () => { await upstream?.close() })

/** Runs the CLI with its stdin left open; a run still going after `timeoutMs` is killed (code null). */
function runOpen (args: string[], env: Record<string, string>, timeoutMs: number): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env } })
    let stdout = ''
    let stderr = ''
    let timedOut = false
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, timeoutMs)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code: timedOut ? null : code, stdout, stderr })
    })
  })
}

async function occupyPort (): Promise<Server> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return server
}

function stdioAndRestCapability (port: number): string {
  return `naftiko: 1.0.0-alpha2
capability:
  consumes:
  - type: http
    namespace: up
    baseUri: https://up.example
    resources:
    - name: items
      path: /items
      operations:
      - name: create
        method: POST
        inputParameters:
        - name: body
          in: body
  exposes:
  - type: mcp
    namespace: stdio-tools
    transport: stdio
    tools:
    - name: create
      description: Creates an item
      call: up.create
      with:
        body: tools.body
  - type: rest
    namespace: busy-api
    port: ${port}
    resources:
    - path: /items
      operations:
      - method: POST
        call: up.create
        with:
          body: rest.body
`
}

describe('naftiko run with an MCP stdio expose', () => {
  it('exits 1 naming the REST expose and its port, without a stack trace, when that port is taken', async () => {
    const taken = await occupyPort()
    try {
      const { port } = taken.address() as AddressInfo
      const file = await writeCapability(stdioAndRestCapability(port))
      const result = await runOpen(['run', file], {}, 5000)
      expect(result.code, result.stderr).toBe(1)
      expect(result.stderr).toContain('busy-api')
      expect(result.stderr).toContain(String(port))
      expect(result.stderr).not.toMatch(/^\s+at /m)
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()))
    }
  })

  it('exits 0 within 2 s once its stdin is closed', async () => {
    const child = spawn(process.execPath, [CLI, 'run', STDIO_FIXTURE, '--base-uri', `openai=${upstream.url}`], {
      env: { PATH: process.env.PATH ?? '', CHATGPT_API_KEY: KEY },
    })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    try {
      // serving: it answers an initialize on stdout
      const answered = new Promise<void>((resolve) => {
        let out = ''
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString()
          if (out.includes('"id":1')) resolve()
        })
      })
      child.stdin.write(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } }) + '\n')
      await answered
      const started = performance.now()
      child.stdin.end()
      const code = await exited
      const elapsed = performance.now() - started
      expect(code, stderr).toBe(0)
      expect(elapsed).toBeLessThan(2000)
    } finally {
      clearTimeout(killer)
      child.kill('SIGKILL')
    }
  }, 15_000)
})

describe('naftiko run and signals', () => {
  it('exits 143 (128 + SIGTERM) on a second SIGTERM while a request is still in flight', async () => {
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
    expect(await cli.exited).toBe(143)
    expect(performance.now() - started).toBeLessThan(2000)
    await hanging
  })
})
