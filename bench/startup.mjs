// Start time and idle memory, the gateway against the minimal proxy, as bench/run.mjs measures them
// (bench/lib/startup.mjs): spawn to the first 200 answer of a chat completion, fresh processes
// alternating, then the resident memory of each 1 s after its first answer. Median of the start times,
// mean of the RSS readings (a fresh process's is one of two values about 10 MB apart); the
// gateway's first start after its code cache is cleared is timed on its own.
// Usage: node bench/startup.mjs [--runs 10]
import path from 'node:path'
import { parseArgs } from 'node:util'
import { mean, median } from './lib/measure.mjs'
import { cleanEnv, killAll, startNode, ROOT } from './lib/processes.mjs'
import { measureStartAndIdle } from './lib/startup.mjs'

const { values: flags } = parseArgs({ options: { runs: { type: 'string', default: '10' } } })
const portLine = (out) => /listening (\d+)/.exec(out)?.[1]
const first = { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }] }) }

try {
  const upstream = await startNode(['bench/upstream.mjs'], { name: 'upstream', ready: portLine })
  const origin = `http://127.0.0.1:${upstream.value}`
  const m = await measureStartAndIdle({
    startProxy: () => startNode(['bench/minimal-proxy.mjs', origin], { name: 'proxy', ready: portLine }).then((p) => ({ ...p, url: `http://127.0.0.1:${p.value}/v1/chat/completions` })),
    startGateway: () => startNode(['dist/cli.js', 'run', path.join(ROOT, 'capabilities/chat-completions.yaml'), '--port', 'rest=0', '--port', 'mcp=0', '--base-uri', `chat-completions-chat-completions=${origin}/v1`], {
      name: 'naftiko',
      env: cleanEnv({ CHATGPT_API_KEY: 'sk-bench' }),
      ready: (out) => /rest \S+ listening on (\S+)/.exec(out)?.[1],
    }).then((g) => ({ ...g, url: `${g.value}/v1/chat/completions` })),
    rounds: Number(flags.runs),
    first,
  })
  await m.fresh.stop()
  const s = { proxy: median(m.proxyStartups), naftiko: median(m.startups) }
  const rss = { proxy: mean(m.proxyIdleRounds) / 1e6, naftiko: mean(m.idleRounds) / 1e6 }
  console.log(`start to first answer: naftiko ${Math.round(s.naftiko)} ms, proxy ${Math.round(s.proxy)} ms (${(s.naftiko / s.proxy).toFixed(2)}x)   runs ${m.startups.map(Math.round).join(' ')} | ${m.proxyStartups.map(Math.round).join(' ')}`)
  console.log(`first start without the code cache: naftiko ${Math.round(m.coldStartup)} ms`)
  console.log(`idle RSS: naftiko ${rss.naftiko.toFixed(1)} MB, proxy ${rss.proxy.toFixed(1)} MB (${(rss.naftiko / rss.proxy).toFixed(2)}x)   runs ${m.idleRounds.map((b) => (b / 1e6).toFixed(0)).join(' ')} | ${m.proxyIdleRounds.map((b) => (b / 1e6).toFixed(0)).join(' ')}`)
} finally {
  killAll()
}
