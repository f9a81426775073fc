// Two relays measured at the same moment (lib/side-by-side.mjs, 16 connections each by default),
// for changes of a few percent, which bench/ab.mjs (targets one after the other) cannot tell from
// noise: the same build against itself reads within about 3%.
// Usage: node bench/side-by-side.mjs A B [--rounds 16] [--seconds 3] [--connections 16]
//   [--node-b FLAG]...   A and B: a checkout with a built dist/ (the gateway's REST route; DIR:mcp
//   its MCP tools/call in 2026-07-28, DIR:mcp-2025 in 2025-11-25), or `proxy`
//   (bench/minimal-proxy.mjs) or `floor` (bench/floor-proxy.mjs); --node-b: a node flag for B's
//   process (`--node-b=--max-semi-space-size=64`); --env-b NAME=VALUE: an environment variable of
//   B's. `. .:mcp` measures the MCP-to-REST ratio of one build.
import path from 'node:path'
import { parseArgs } from 'node:util'
import { median } from './lib/measure.mjs'
import { cleanEnv, killAll, startNode } from './lib/processes.mjs'
import { sideBySide } from './lib/side-by-side.mjs'

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: 'string', default: '16' }, seconds: { type: 'string', default: '3' }, connections: { type: 'string', default: '16' }, 'node-b': { type: 'string', multiple: true, default: [] }, 'env-b': { type: 'string', multiple: true, default: [] } },
})
if (positionals.length !== 2) {
  process.stderr.write('usage: node bench/side-by-side.mjs A B [--rounds N] [--seconds S] [--connections C] [--node-b FLAG]\n')
  process.exit(2)
}
const portLine = (out) => /listening (\d+)/.exec(out)?.[1]
const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }] }
const body = JSON.stringify(chat)
const headers = { 'content-type': 'application/json' }
const TOOL = 'chatgpt-create-chat-completion'
const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'naftiko-bench', version: '1.0.0' }, 'io.modelcontextprotocol/clientCapabilities': {} }
/** The load of a target: REST's chat completion, or the same as a tools/call in one protocol era. */
function loadOf (kind, url) {
  if (kind === undefined) return { url, headers, body }
  const modern = kind === 'mcp'
  return {
    url,
    headers: { ...headers, accept: 'application/json, text/event-stream', 'mcp-protocol-version': modern ? '2026-07-28' : '2025-11-25', ...(modern ? { 'mcp-method': 'tools/call', 'mcp-name': TOOL } : {}) },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: TOOL, arguments: { body: chat }, ...(modern ? { _meta: META } : {}) } }),
  }
}

/** A relay in front of `origin`: its pid and its chat completions URL. */
async function start (which, origin, nodeArgs, extraEnv = {}) {
  if (which === 'proxy' || which === 'floor') {
    const p = await startNode([`bench/${which === 'proxy' ? 'minimal' : 'floor'}-proxy.mjs`, origin], { name: which, ready: portLine, nodeArgs })
    return { pid: p.pid, load: loadOf(undefined, `http://127.0.0.1:${p.value}/v1/chat/completions`) }
  }
  const [dir, kind] = which.split(':')
  if (kind !== undefined && kind !== 'mcp' && kind !== 'mcp-2025') throw new Error(`${which}: DIR, DIR:mcp or DIR:mcp-2025`)
  const args = [path.resolve(dir, 'dist/cli.js'), 'run', 'capabilities/chat-completions.yaml', '--port', 'rest=0', '--port', 'mcp=0', '--base-uri', `chat-completions-chat-completions=${origin}/v1`]
  const g = await startNode(args, { name: which, nodeArgs, env: cleanEnv({ CHATGPT_API_KEY: 'sk-bench-0000000000000000', ...extraEnv }), ready: (out) => kind === undefined ? /rest \S+ listening on (\S+)/.exec(out)?.[1] : /mcp \S+ listening on (\S+)/.exec(out)?.[1] })
  return { pid: g.pid, load: loadOf(kind, kind === undefined ? `${g.value}/v1/chat/completions` : g.value) }
}

try {
  const upstream = await startNode(['bench/upstream.mjs'], { name: 'upstream', ready: portLine })
  const origin = `http://127.0.0.1:${upstream.value}`
  const a = await start(positionals[0], origin, [])
  const b = await start(positionals[1], origin, flags['node-b'], Object.fromEntries(flags['env-b'].map((e) => e.split(/=(.*)/s).slice(0, 2))))
  const { cpuA, cpuB, ratios, ratio } = await sideBySide(a, b, { rounds: Number(flags.rounds), seconds: Number(flags.seconds), connections: Number(flags.connections) })
  console.log(`A ${positionals[0]}: ${Math.round(median(cpuA))} µs CPU/request; B ${positionals[1]}: ${Math.round(median(cpuB))} µs`)
  console.log(`B/A ${ratio.toFixed(3)} (median of ${ratios.length} rounds: ${ratios.map((r) => r.toFixed(2)).join(' ')})`)
} finally {
  killAll()
}
