#!/usr/bin/env node
// The rows of the full bench that have a module of their own, run alone (to develop them or to
// check one quickly); prints their report parts as markdown. The full run (run.mjs) has them all.
//   node bench/rows.mjs [--rows many,large,start] [--many-streams N] [--gap-ms G] [--chunks C]
//                       [--rounds N] [--seconds S] [--sizes 1,10] [--startups N] [--log-level L]
//   many   SSE streams opened at once, naftiko REST vs the minimal proxy (default 10000)
//   large  1 MiB and 10 MiB request bodies, REST vs the minimal proxy vs nginx
//   start  start to first answer and idle RSS, REST vs the minimal proxy
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { median } from './lib/measure.mjs'
import { killAll, startNode, ticksOf } from './lib/processes.mjs'
import { API_KEY, startGateway } from './lib/gateway.mjs'
import { startNginx } from './lib/nginx.mjs'
import { largeBodiesPart, measureLargeBodies } from './lib/large-bodies.mjs'
import { manyStreamsPart, measureManyStreams } from './lib/many-streams.mjs'
import { measureStartAndIdle } from './lib/startup.mjs'
import { MB, int, mb, verdict, x } from './lib/format.mjs'

const { values: flags } = parseArgs({
  options: {
    rows: { type: 'string', default: 'many,large,start' },
    'many-streams': { type: 'string', default: '10000' },
    'gap-ms': { type: 'string', default: '1000' },
    chunks: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '3' },
    sizes: { type: 'string', default: '1,10' },
    startups: { type: 'string', default: '5' },
    'log-level': { type: 'string' },
  },
})
const rows = new Set(flags.rows.split(','))
const chat = { model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: 'Say hello in one short paragraph.' }], temperature: 0.2 }
const headers = { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` }
const work = mkdtempSync(path.join(os.tmpdir(), 'naftiko-bench-'))
const log = (msg) => process.stderr.write(`bench: ${msg}\n`)
const portLine = (out) => /listening (\d+)/.exec(out)?.[1]
const startProxy = (origin, wrap) => startNode(['bench/minimal-proxy.mjs', origin], { name: 'minimal proxy', ready: portLine, wrap })
  .then((p) => ({ ...p, url: `http://127.0.0.1:${p.value}/v1/chat/completions` }))
const startRest = (origin, wrap) => startGateway(origin, { logLevel: flags['log-level'], wrap, logFile: path.join(work, 'gateway.log') })
  .then((g) => ({ ...g, url: g.rest }))

async function main () {
  const out = []
  const part = (p) => {
    out.push('| Figure | Measured | Target | Holds |', '| --- | --- | --- | --- |')
    for (const t of p.targets) out.push(`| ${t.figure} | ${t.measured} | ${t.target} | ${verdict(t.holds)} |`)
    out.push('', `## ${p.section.title}`, '', ...p.section.lines, '')
  }
  if (rows.has('many')) {
    const many = await measureManyStreams({
      targets: [{ key: 'proxy', label: 'minimal Node proxy', start: startProxy }, { key: 'rest', label: 'naftiko REST', start: startRest }],
      headers,
      body: (gapMs, chunks) => JSON.stringify({ ...chat, stream: true, bench_gap_ms: gapMs, bench_chunks: chunks }),
      want: Number(flags['many-streams']),
      gapMs: Number(flags['gap-ms']),
      chunks: Number(flags.chunks),
      workDir: work,
      log,
    })
    part(manyStreamsPart(many))
  }
  if (rows.has('large') || rows.has('start')) {
    const upstream = await startNode(['bench/upstream.mjs'], { name: 'upstream', ready: portLine })
    const origin = `http://127.0.0.1:${upstream.value}`
    if (rows.has('large')) {
      const proxy = await startProxy(origin, [])
      const rest = await startRest(origin, [])
      const nginx = await startNginx(origin)
      const targets = {
        proxy: { label: 'minimal Node proxy', url: proxy.url, headers, ticks: () => ticksOf(proxy.pid) },
        rest: { label: 'naftiko REST', url: rest.url, headers, ticks: () => ticksOf(rest.pid) },
      }
      if (nginx.absent === undefined) targets.nginx = { label: `nginx ${nginx.version} (C reference)`, url: nginx.url, headers, ticks: () => nginx.ticks() }
      const sizes = flags.sizes.split(',').map((s) => Number(s) * MB)
      const large = await measureLargeBodies({ targets, sizes, rounds: Number(flags.rounds), seconds: Number(flags.seconds), log })
      part(largeBodiesPart(large, { notes: nginx.absent === undefined ? [] : [`nginx: ${nginx.absent}.`] }))
      await Promise.all([proxy.stop(), rest.stop(), nginx.absent === undefined ? nginx.stop() : undefined])
    }
    if (rows.has('start')) {
      const s = await measureStartAndIdle({
        startProxy: () => startProxy(origin, []),
        startGateway: () => startRest(origin, []),
        rounds: Number(flags.startups),
        first: { headers, body: JSON.stringify(chat) },
      })
      await s.fresh.stop()
      const start = median(s.startups) / median(s.proxyStartups)
      const idle = median(s.idleRounds) / median(s.proxyIdleRounds)
      out.push('| Figure | Measured | Target | Holds |', '| --- | --- | --- | --- |')
      out.push(`| \`naftiko run\` to first answer vs the minimal proxy's | ${x(start)} (${int(median(s.startups))} vs ${int(median(s.proxyStartups))} ms) | <= 1.30x | ${verdict(start <= 1.3)} |`)
      out.push(`| RSS idle vs the minimal proxy's | ${x(idle)} (${mb(median(s.idleRounds))} vs ${mb(median(s.proxyIdleRounds))}) | <= 1.15x | ${verdict(idle <= 1.15)} |`, '')
    }
    await upstream.stop()
  }
  process.stdout.write(out.join('\n') + '\n')
}

main().then(() => {
  killAll()
  rmSync(work, { recursive: true, force: true })
}, (err) => {
  killAll()
  log(`failed: ${err.stack ?? err}`)
  log(`logs kept in ${work}`)
  process.exitCode = 2
})
