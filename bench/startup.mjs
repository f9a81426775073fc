// Start time and idle memory, the gateway against the minimal proxy: spawn to the first 200 answer
// of a chat completion through it, fresh processes alternating, then the resident memory of each
// process 1 s after its first answer (as bench/run.mjs measures them). Median of the runs.
// Usage: node bench/startup.mjs [--runs 10]
import { setTimeout as sleep } from 'node:timers/promises'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { request } from 'undici'
import { median } from './lib/measure.mjs'
import { cleanEnv, killAll, rssOf, startNode, ROOT } from './lib/processes.mjs'

const { values: flags } = parseArgs({ options: { runs: { type: 'string', default: '10' } } })
const runs = Number(flags.runs)
const portLine = (out) => /listening (\d+)/.exec(out)?.[1]
const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }] })

async function firstAnswer (proc, url) {
  const res = await request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
  await res.body.arrayBuffer()
  if (res.statusCode !== 200) throw new Error(`first answer was ${res.statusCode}`)
  return performance.now() - proc.startedAt
}

try {
  const upstream = await startNode(['bench/upstream.mjs'], { name: 'upstream', ready: portLine })
  const origin = `http://127.0.0.1:${upstream.value}`
  const start = { proxy: [], naftiko: [] }
  const rss = { proxy: [], naftiko: [] }
  for (let i = 0; i < runs; i++) {
    const proxy = await startNode(['bench/minimal-proxy.mjs', origin], { name: 'proxy', ready: portLine })
    start.proxy.push(await firstAnswer(proxy, `http://127.0.0.1:${proxy.value}/v1/chat/completions`))
    const gateway = await startNode(['dist/cli.js', 'run', path.join(ROOT, 'capabilities/chat-completions.yaml'), '--port', 'rest=0', '--port', 'mcp=0', '--base-uri', `chat-completions-chat-completions=${origin}/v1`], {
      name: 'naftiko',
      env: cleanEnv({ CHATGPT_API_KEY: 'sk-bench' }),
      ready: (out) => /rest \S+ listening on (\S+)/.exec(out)?.[1],
    })
    start.naftiko.push(await firstAnswer(gateway, `${gateway.value}/v1/chat/completions`))
    await sleep(1000)
    rss.proxy.push(rssOf(proxy.pid) / 1e6)
    rss.naftiko.push(rssOf(gateway.pid) / 1e6)
    await Promise.all([proxy.stop(), gateway.stop()])
  }
  const s = { proxy: median(start.proxy), naftiko: median(start.naftiko) }
  const m = { proxy: median(rss.proxy), naftiko: median(rss.naftiko) }
  console.log(`start to first answer: naftiko ${Math.round(s.naftiko)} ms, proxy ${Math.round(s.proxy)} ms (${(s.naftiko / s.proxy).toFixed(2)}x)   runs ${start.naftiko.map(Math.round).join(' ')} | ${start.proxy.map(Math.round).join(' ')}`)
  console.log(`idle RSS: naftiko ${m.naftiko.toFixed(1)} MB, proxy ${m.proxy.toFixed(1)} MB (${(m.naftiko / m.proxy).toFixed(2)}x)`)
} finally {
  killAll()
}
