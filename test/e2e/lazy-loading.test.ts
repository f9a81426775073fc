import { createServer, type Server } from 'node:http'
import { once } from 'node:events'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { request } from 'undici'
import { startCli, type RunningCli } from '../helpers/cli.js'
import { CHAT_CAPABILITY, CHAT_NAMESPACE } from '../helpers/gateway.js'

/**
 * What the seed capability does not use never runs while it serves REST calls and plain MCP tool
 * calls: read from V8's own call counts (NODE_V8_COVERAGE) for the packages in the bundle, and from
 * node's module debug output (NODE_DEBUG) for those it loads from node_modules by name.
 */
const NOT_LOADED = ['ajv', '@fastify/ajv-compiler', '@fastify/fast-json-stringify-compiler', '@modelcontextprotocol/server', '@modelcontextprotocol/node', 'zod', 'prom-client', 'jose', '@opentelemetry/sdk-trace-base', '@opentelemetry/api', 'protobufjs', 'avsc', 'node-html-parser', 'fast-xml-parser', 'csv-parse', 'mdast-util-from-markdown']
const TOOL = 'chatgpt-create-chat-completion'
const CHAT = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }] }

let upstream: Server
let cli: RunningCli
const coverage = mkdtempSync(join(tmpdir(), 'naftiko-coverage-'))

beforeAll(async () => {
  upstream = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'Hello' }, finish_reason: 'stop' }] }))
    })
  })
  upstream.listen(0, '127.0.0.1')
  await once(upstream, 'listening')
  const address = upstream.address()
  const origin = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
  cli = await startCli(['run', CHAT_CAPABILITY, '--port', 'rest=0', '--port', 'mcp=0', '--base-uri', `${CHAT_NAMESPACE}=${origin}/v1`, '--log-level', 'warn'], { CHATGPT_API_KEY: 'sk-lazy-loading-0123456789', NODE_DEBUG: 'module', NODE_V8_COVERAGE: coverage }, 2)
})

afterAll(async () => {
  cli?.child.kill('SIGTERM')
  await cli?.exited
  upstream?.close()
  rmSync(coverage, { recursive: true, force: true })
})

/**
 * Packages the gateway ran, once it has exited. In the bundle (dist/naftiko.cjs) esbuild wraps each
 * module of a package in a function named by its path (`"node_modules/ajv/dist/core.js"(exports,
 * module) {...}`), run when the module is first required or imported: a package ran when V8 counted a
 * call of one of its wrappers. Packages node loads by name: its `load "..."` debug lines.
 */
function ranPackages (stderr: string): Set<string> {
  const packages = new Set<string>()
  for (const m of stderr.matchAll(/^MODULE \d+: load "[^\s"]*\/node_modules\/((?:@[^/\s"]+\/)?[^/\s"]+)\//gm)) packages.add(m[1] as string)
  const wrapper = /^node_modules\/((?:@[^/]+\/)?[^/]+)\//
  for (const file of readdirSync(coverage)) {
    const { result } = JSON.parse(readFileSync(join(coverage, file), 'utf8')) as { result: Array<{ url: string, functions: Array<{ functionName: string, ranges: Array<{ count: number }> }> }> }
    for (const script of result.filter((s) => s.url.endsWith('dist/naftiko.cjs'))) {
      for (const f of script.functions) {
        const m = wrapper.exec(f.functionName)
        if (m !== null && (f.ranges[0]?.count ?? 0) > 0) packages.add(m[1] as string)
      }
    }
  }
  return packages
}

async function post (url: string, body: unknown, headers: Record<string, string>): Promise<string> {
  const res = await request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
  const text = await res.body.text()
  expect(res.statusCode, text).toBe(200)
  return text
}

describe('lazy loading', () => {
  it('answers REST and MCP tools/call (2026-07-28 and 2025) without running schema compilers, the MCP SDK or other unused packages', async () => {
    expect(await post(`${cli.urls.get('rest') ?? ''}/v1/chat/completions`, CHAT, {})).toContain('chatcmpl-1')
    const mcp = cli.urls.get('mcp') ?? ''
    const accept = { accept: 'application/json, text/event-stream' }
    const modern = await post(mcp, {
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: TOOL, arguments: { body: CHAT }, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'test', version: '1.0.0' }, 'io.modelcontextprotocol/clientCapabilities': {} } },
    }, { ...accept, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': TOOL })
    expect(modern).toContain('"resultType":"complete"')
    expect(await post(mcp, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: TOOL, arguments: { body: CHAT } } }, { ...accept, 'mcp-protocol-version': '2025-11-25' })).toContain('event: message')
    cli.child.kill('SIGTERM')
    expect(await cli.exited).toBe(0)
    const ran = ranPackages(cli.stderr())
    // the counts are there and read right: what the gateway does use shows up
    expect([...ran]).toEqual(expect.arrayContaining(['fastify', 'yaml', 'undici', 'pino', 'find-my-way']))
    expect(NOT_LOADED.filter((p) => ran.has(p))).toEqual([])
  })
})
