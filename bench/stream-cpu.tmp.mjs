// temporary: CPU per streamed event, gateway vs minimal proxy, 512 streams, alternating rounds
import { startNode, ticksOf, killAll } from './lib/processes.mjs'
import { startGateway } from './lib/gateway.mjs'
import { streams, median } from './lib/measure.mjs'
const portLine = (o) => { const m = /listening (\d+)/.exec(o); return m === null ? undefined : Number(m[1]) }
const rounds = Number(process.argv[2] ?? 6)
const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true, bench_gap_ms: 20, bench_chunks: 16 }
const json = { 'content-type': 'application/json' }
try {
  const up = await startNode(['bench/upstream.mjs'], { name: 'upstream', ready: portLine })
  const origin = `http://127.0.0.1:${up.value}`
  const proxy = await startNode(['bench/minimal-proxy.mjs', origin], { name: 'proxy', ready: portLine })
  const gw = await startGateway(origin)
  const t = { proxy: { url: `http://127.0.0.1:${proxy.value}/v1/chat/completions`, pid: proxy.pid }, rest: { url: gw.rest, pid: gw.pid } }
  const res = { proxy: [], rest: [] }
  for (let r = 0; r < rounds; r++) {
    for (const k of r % 2 ? ['rest', 'proxy'] : ['proxy', 'rest']) {
      const b = ticksOf(t[k].pid); const ub = ticksOf(up.pid)
      const run = await streams({ url: t[k].url, headers: json, body: JSON.stringify(chat) }, { concurrency: 512, expectEvents: 19, timeoutMs: 30000 })
      const ev = run.results.reduce((a, x) => a + x.events, 0)
      const reads = run.results.reduce((a, x) => a + x.reads, 0)
      const co = run.results.reduce((a, x) => a + x.coalesced, 0)
      const cpu = (ticksOf(t[k].pid) - b) * 10000 / ev
      res[k].push(cpu)
      console.log(k, `complete ${run.complete}`, `cpu/event ${cpu.toFixed(1)} µs`, `upstream ${((ticksOf(up.pid) - ub) * 10000 / ev).toFixed(1)}`, `coalesced ${(100 * co / reads).toFixed(1)}%`)
    }
  }
  console.log('median cpu/event', 'proxy', median(res.proxy).toFixed(1), 'rest', median(res.rest).toFixed(1))
} finally { killAll() }
process.exit(0)
