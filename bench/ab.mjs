// Quick A/B while optimising: REST (and optionally MCP) throughput against the minimal proxy,
// alternating, median of rounds. Usage: node bench/ab.mjs [--rounds N] [--seconds S] [--mcp] [--large]
//   [--mib N] [--mcp-version V] [--body-limit BYTES] [--stream] [--base DIR [--base-log-level L]] [--floor]
// (--large: a 1 MiB conversation as the body, the full bench's large-body rows; --mib N: an N MiB one;
// --mcp-version: the protocol the MCP row speaks, 2025-11-25 by default or 2026-07-28, or both
// comma-separated; --stream: the chat request asks for a streamed answer, on every row; --base DIR:
// a `base` row, the REST route of the gateway built in DIR (another checkout), for before/after,
// and with --mcp a `base mcp` row (--base-log-level LEVEL: the base's own log level, so that
// `--base . --base-log-level warn` measures what the request log costs);
// --floor: a `floor` row, bench/floor-proxy.mjs, the least a node:http + undici relay can do)
import path from 'node:path'
import { parseArgs } from 'node:util'
import { throughput, median, medianRatio } from './lib/measure.mjs'
import { cleanEnv, killAll, startNode, ticksOf, ROOT } from './lib/processes.mjs'

const { values: flags } = parseArgs({ options: { rounds: { type: 'string' }, seconds: { type: 'string' }, mcp: { type: 'boolean' }, large: { type: 'boolean' }, mib: { type: 'string' }, 'mcp-version': { type: 'string', default: '2025-11-25' }, 'body-limit': { type: 'string' }, 'log-level': { type: 'string' }, stream: { type: 'boolean' }, base: { type: 'string' }, floor: { type: 'boolean' }, 'base-log-level': { type: 'string' } } })
const rounds = Number(flags.rounds ?? 5)
const seconds = Number(flags.seconds ?? 3)
const portLine = (out) => /listening (\d+)/.exec(out)?.[1]
const messages = [{ role: 'user', content: 'Say hello' }]
const mib = Number(flags.mib ?? (flags.large ? 1 : 0))
for (let i = 0; i < 256 * mib; i++) messages.push({ role: i % 2 === 0 ? 'user' : 'assistant', content: `turn ${i} `.padEnd(4096, 'lorem ipsum ') })
const chat = JSON.stringify({ model: 'gpt-4o-mini', messages, ...(flags.stream ? { stream: true } : {}) })
const headers = { 'content-type': 'application/json' }
try {
  const upstream = await startNode(['bench/upstream.mjs'], { name: 'upstream', ready: portLine })
  const origin = `http://127.0.0.1:${upstream.value}`
  const proxy = await startNode(['bench/minimal-proxy.mjs', origin], { name: 'proxy', ready: portLine })
  const args = ['dist/cli.js', 'run', path.join(ROOT, 'capabilities/chat-completions.yaml'), '--port', 'rest=0', '--port', 'mcp=0', '--base-uri', `chat-completions-chat-completions=${origin}/v1`]
  if (flags['log-level'] !== undefined) args.push('--log-level', flags['log-level'])
  if (flags['body-limit'] !== undefined) args.push('--body-limit', flags['body-limit'])
  const startGateway = (cli, name) => startNode([cli, ...args.slice(1), ...(name === 'base' && flags['base-log-level'] ? ['--log-level', flags['base-log-level']] : [])], {
    name,
    env: cleanEnv({ CHATGPT_API_KEY: 'sk-bench' }),
    ready: (out) => {
      const rest = /rest \S+ listening on (\S+)/.exec(out)?.[1]
      const mcp = /mcp \S+ listening on (\S+)/.exec(out)?.[1]
      return rest && mcp ? { rest, mcp } : undefined
    },
  })
  const floor = flags.floor ? await startNode(['bench/floor-proxy.mjs', origin], { name: 'floor', ready: portLine }) : undefined
  const gateway = await startGateway(args[0], 'naftiko')
  const versions = flags['mcp-version'].split(',')
  const base = flags.base === undefined ? undefined : await startGateway(path.resolve(flags.base, 'dist/cli.js'), 'base')
  const targets = {
    proxy: { url: `http://127.0.0.1:${proxy.value}/v1/chat/completions`, headers, body: chat },
    rest: { url: `${gateway.value.rest}/v1/chat/completions`, headers, body: chat },
  }
  if (base !== undefined) targets.base = { url: `${base.value.rest}/v1/chat/completions`, headers, body: chat }
  // with --mcp, the other checkout's MCP route too (the first version given)
  if (base !== undefined && flags.mcp) targets['base mcp'] = { url: base.value.mcp, ...mcpCall(versions[0], JSON.parse(chat)) }
  if (floor !== undefined) targets.floor = { url: `http://127.0.0.1:${floor.value}/v1/chat/completions`, headers, body: chat }
  // several versions (comma-separated): one row each, named by the version
  for (const v of flags.mcp ? versions : []) targets[versions.length === 1 ? 'mcp' : `mcp ${v}`] = { url: gateway.value.mcp, ...mcpCall(v, JSON.parse(chat)) }
  // CPU per request from the serving process's own counters: steadier than req/s on a shared machine
  const pids = Object.fromEntries(Object.keys(targets).map((k) => [k, ({ proxy, base, 'base mcp': base, floor })[k]?.pid ?? gateway.pid]))
  const results = Object.fromEntries(Object.keys(targets).map((k) => [k, { rps: [], cpu: [], ticks: 0, total: 0 }]))
  // warm-up, not counted: a fresh process's first second runs mostly unoptimised code
  for (const name of Object.keys(targets)) await throughput(targets[name], { seconds: 2 })
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? Object.keys(targets) : Object.keys(targets).reverse()
    for (const name of order) {
      const before = ticksOf(pids[name])
      const run = await throughput(targets[name], { seconds })
      results[name].rps.push(run.rps)
      const ticks = ticksOf(pids[name]) - before
      results[name].cpu.push(ticks * 10_000 / run.total)
      results[name].ticks += ticks
      results[name].total += run.total
    }
  }
  const p = median(results.proxy.rps)
  const pc = median(results.proxy.cpu)
  // also over all rounds together (all CPU / all requests): a round slowed by other processes weighs less
  const overall = ({ ticks, total }) => ticks * 10_000 / total
  const po = overall(results.proxy)
  for (const [name, r] of Object.entries(results)) {
    const { rps, cpu } = r
    // the ratio within each round (the two measured back to back), then the median of those
    const paired = medianRatio(cpu, results.proxy.cpu)
    console.log(`${name.padEnd(16)} ${Math.round(median(rps))} req/s  ${(median(rps) / p).toFixed(2)}x proxy  ${Math.round(median(cpu))} µs CPU/req  ${(median(cpu) / pc).toFixed(2)}x proxy's (all rounds: ${Math.round(overall(r))} µs, ${(overall(r) / po).toFixed(2)}x; per round: ${paired.toFixed(2)}x)   rounds ${rps.map(Math.round).join(' ')}`)
  }
} finally {
  killAll()
}

/** A `tools/call` as a client of that protocol version sends it (as bench/run.mjs does). */
function mcpCall (version, body) {
  const name = 'chatgpt-create-chat-completion'
  const accept = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': version }
  if (version < '2026-07-28') return { headers: accept, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: { body } } }) }
  const _meta = { 'io.modelcontextprotocol/protocolVersion': version, 'io.modelcontextprotocol/clientInfo': { name: 'naftiko-bench', version: '1.0.0' }, 'io.modelcontextprotocol/clientCapabilities': {} }
  return { headers: { ...accept, 'mcp-method': 'tools/call', 'mcp-name': name }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: { body }, _meta } }) }
}
