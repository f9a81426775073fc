// Profiles the gateway under one kind of load: `node --cpu-prof dist/cli.js run ...` against the
// bench upstream, load from autocannon at 32 connections, then a summary of the profile.
// Usage: node bench/profile.mjs rest|rest-stream|mcp|mcp-2025|startup|proxy|floor [--seconds 10 | --requests N] [--out DIR] [--large | --mib N] [--gap MS]
// (--large: a 1 MiB conversation as the body, as in bench/ab.mjs --large; proxy: the minimal proxy
// under the rest load, for comparison; floor: bench/floor-proxy.mjs the same way; --gap MS: rest-stream's
// events written one by one, MS apart, 16 content events, as in the 512-streams row). Every thread's
// profile of the run is summarised (the JSON worker too).
import { mkdirSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { execFileSync } from 'node:child_process'
import { cleanEnv, killAll, startNode } from './lib/processes.mjs'
import { throughput } from './lib/measure.mjs'

const { values, positionals } = parseArgs({ allowPositionals: true, options: { seconds: { type: 'string', default: '10' }, out: { type: 'string', default: 'bench/profiles' }, 'log-level': { type: 'string' }, large: { type: 'boolean' }, mib: { type: 'string' }, requests: { type: 'string' }, gap: { type: 'string' } } })
const kind = positionals[0] ?? 'rest'
const out = path.resolve(values.out, kind)
mkdirSync(out, { recursive: true })
const portLine = (o) => { const m = /listening (\d+)/.exec(o); return m === null ? undefined : Number(m[1]) }
const chat = { model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: 'Say hello in one short paragraph.' }], temperature: 0.2 }
const TOOL = 'chatgpt-create-chat-completion'
const mib = values.mib === undefined ? (values.large ? 1 : 0) : Number(values.mib)
for (let i = 0; i < 256 * mib; i++) chat.messages.push({ role: i % 2 === 0 ? 'user' : 'assistant', content: `turn ${i} `.padEnd(4096, 'lorem ipsum ') })

try {
  const before = new Set(readdirSync(out))
  const up = await startNode(['bench/upstream.mjs'], { name: 'upstream', ready: portLine })
  const args = ['dist/cli.js', 'run', 'capabilities/chat-completions.yaml', '--port', 'rest=0', '--port', 'mcp=0', '--base-uri', `chat-completions-chat-completions=http://127.0.0.1:${up.value}/v1`]
  if (values['log-level'] !== undefined) args.push('--log-level', values['log-level'])
  const gw = kind === 'proxy' || kind === 'floor'
    ? await startProxy(kind, `http://127.0.0.1:${up.value}`)
    : await startNode(args, {
      name: 'naftiko',
      nodeArgs: ['--cpu-prof', '--cpu-prof-dir', out],
      env: cleanEnv({ CHATGPT_API_KEY: 'sk-bench-0000000000000000' }),
      ready: (o) => { const r = /rest \S+ listening on (\S+)/.exec(o); const m = /mcp \S+ listening on (\S+)/.exec(o); return r && m ? { rest: `${r[1]}/v1/chat/completions`, mcp: m[1] } : undefined },
    })
  const json = { 'content-type': 'application/json' }
  const targets = {
    rest: { url: gw.value.rest, headers: json, body: JSON.stringify(chat) },
    proxy: { url: gw.value.rest, headers: json, body: JSON.stringify(chat) },
    floor: { url: gw.value.rest, headers: json, body: JSON.stringify(chat) },
    'rest-stream': { url: gw.value.rest, headers: json, body: JSON.stringify({ ...chat, stream: true, ...(values.gap === undefined ? {} : { bench_gap_ms: Number(values.gap), bench_chunks: 16 }) }) },
    mcp: { url: gw.value.mcp, headers: { ...json, accept: 'application/json, text/event-stream', 'mcp-method': 'tools/call', 'mcp-name': TOOL, 'mcp-protocol-version': '2026-07-28' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: TOOL, arguments: { body: chat }, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'naftiko-bench', version: '1.0.0' }, 'io.modelcontextprotocol/clientCapabilities': {} } } }) },
    'mcp-2025': { url: gw.value.mcp, headers: { ...json, accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: TOOL, arguments: { body: chat } } }) },
  }
  if (kind !== 'startup') {
    const r = await throughput(targets[kind], values.requests === undefined ? { seconds: Number(values.seconds) } : { amount: Number(values.requests) })
    process.stderr.write(`${kind}: ${Math.round(r.rps)} req/s under the profiler, ${r.failed} failed\n`)
  }
  await gw.stop(10_000)
  await up.stop()
  const files = readdirSync(out).filter((f) => f.endsWith('.cpuprofile') && !before.has(f)).sort()
  process.stdout.write(execFileSync(process.execPath, ['bench/profile-summary.mjs', ...files.map((f) => path.join(out, f))], { encoding: 'utf8' }))
} finally {
  killAll()
}

async function startProxy (kind, origin) {
  const proxy = await startNode([kind === 'floor' ? 'bench/floor-proxy.mjs' : 'bench/minimal-proxy.mjs', origin], { name: kind, nodeArgs: ['--cpu-prof', '--cpu-prof-dir', out], ready: portLine })
  return { ...proxy, value: { rest: `http://127.0.0.1:${proxy.value}/v1/chat/completions` } }
}
