#!/usr/bin/env node
// The benchmark of issue 5 (DESIGN.md section 5): one run, one load generator, the same upstream.
//   npm run bench                full run (about 9-10 minutes), writes bench/results.md
//   npm run bench -- --quick     the guard in npm test (about 35 s): REST throughput against the
//                                minimal proxy only, best 3 of 8 short rounds each; prints one line,
//                                writes bench/quick-report.md, exit 1 when the ratio is under 0.6
// Options: --rounds N  --seconds S  --no-peer  --log-level LEVEL (gateway; default: its own, info)
//          --out FILE  --profile DIR (run the measured gateway under --cpu-prof, profiles in DIR)
//          --many-streams N (streams opened at once in the many-streams row; default 10000)
// The rows with a module of their own run alone, in a short configuration, with bench/rows.mjs.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { request } from 'undici'
import { ROOT, killAll, machineTicks, ownTicks, rssOf, startNode, ticksOf } from './lib/processes.mjs'
import { median, percentile, sequential, streams, throughput } from './lib/measure.mjs'
import { renderQuickReport, renderReport } from './lib/report.mjs'
import { measureOrchestration } from './lib/orchestration.mjs'
import { API_KEY, startGateway as startGatewayProcess } from './lib/gateway.mjs'
import { startNginx } from './lib/nginx.mjs'
import { largeBodiesPart, measureLargeBodies } from './lib/large-bodies.mjs'
import { manyStreamsPart, measureManyStreams } from './lib/many-streams.mjs'
import { measureStartAndIdle } from './lib/startup.mjs'
import { measureWorkers, workersPart } from './lib/workers.mjs'
import { measureSideBySide, sideBySidePart } from './lib/side-by-side.mjs'

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    'no-peer': { type: 'boolean', default: false },
    'log-level': { type: 'string' },
    out: { type: 'string' },
    profile: { type: 'string' },
    'many-streams': { type: 'string' },
  },
})
const QUICK = flags.quick
const CFG = QUICK
  ? { rounds: 8, seconds: 1.5, warmSeconds: 2, peer: false, limitMs: 90_000, quietWaitS: 10 }
  : { rounds: 7, seconds: 4, warmSeconds: 2, latencyCount: 2_000, latencyRounds: 5, ttfbCount: 40, ttfbWarmCount: 1_000, ttfbRounds: 5, streams: 512, streamRounds: 3, memWarm: 150_000, memRequests: 100_000, startups: 15, peer: true, limitMs: 1_200_000, quietWaitS: 60, manyStreams: 10_000, manyGapMs: 1000, manyChunks: 8, largeRounds: 5, largeSeconds: 3, largeWarmSeconds: 6, workerRounds: 3, sideRounds: 12, sideSeconds: 3 }
if (flags.rounds !== undefined) CFG.rounds = CFG.latencyRounds = CFG.ttfbRounds = Math.max(1, Number(flags.rounds))
if (flags.seconds !== undefined) CFG.seconds = Math.max(1, Number(flags.seconds))
if (flags['no-peer']) CFG.peer = false
if (flags['many-streams'] !== undefined) CFG.manyStreams = Math.max(1, Number(flags['many-streams']))

const TOOL = 'chatgpt-create-chat-completion'
const PEER_VERSION = '1.15.2'
const STREAM_GAP_MS = 20
const STREAM_CHUNKS = 16
const THRESHOLD_QUICK = 0.6

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: 'Say hello in one short paragraph.' }], temperature: 0.2 }
const chatStream = { ...chat, stream: true }
const chatStreamGapped = (chunks) => ({ ...chat, stream: true, bench_gap_ms: STREAM_GAP_MS, bench_chunks: chunks })
const jsonHeaders = { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` }
const mcpModern = (body) => ({
  headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-method': 'tools/call', 'mcp-name': TOOL, 'mcp-protocol-version': '2026-07-28' },
  body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: TOOL, arguments: { body }, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'naftiko-bench', version: '1.0.0' }, 'io.modelcontextprotocol/clientCapabilities': {} } } }),
})
const mcpLegacy = (body) => ({
  headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
  body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: TOOL, arguments: { body } } }),
})

const work = mkdtempSync(path.join(os.tmpdir(), 'naftiko-bench-'))
const log = (msg) => process.stderr.write(`bench: ${msg}\n`)
/** what the run is doing: on stderr for a full run; in the report's log for --quick, which prints one line */
const progressLines = []
const progress = (msg) => {
  progressLines.push(msg)
  if (!QUICK) log(msg)
}
const hardLimit = setTimeout(() => {
  log(`hard time limit (${CFG.limitMs / 1000} s) reached: stopping`)
  killAll()
  process.exit(2)
}, CFG.limitMs)
hardLimit.unref()

async function main () {
  const t0 = performance.now()
  ensureBuilt()
  const background = await waitForQuiet(CFG.quietWaitS)
  const ticks0 = { machine: machineTicks(), own: ownTicks() }
  const env = { machine: machine(), mode: QUICK ? 'quick' : 'full', cfg: CFG, logLevel: flags['log-level'] ?? 'info (default)', gatewayRef: gitRef(), peerVersion: PEER_VERSION, gapMs: STREAM_GAP_MS, chunks: STREAM_CHUNKS }

  progress('starting the upstream, the minimal proxy and the gateway')
  const upstream = await startNode(['bench/upstream.mjs'], { name: 'upstream', ready: portLine, logFile: path.join(work, 'upstream.log') })
  const upstreamOrigin = `http://127.0.0.1:${upstream.value}`
  const proxy = await startNode(['bench/minimal-proxy.mjs', upstreamOrigin], { name: 'minimal proxy', ready: portLine, logFile: path.join(work, 'proxy.log') })
  const gateway = await startGateway(upstreamOrigin, { profileDir: flags.profile })
  let peer
  let peerNote
  if (CFG.peer) {
    try {
      peer = await startNode(['bench/portkey.mjs'], { name: '@portkey-ai/gateway', ready: portLine, logFile: path.join(work, 'portkey.log'), timeoutMs: 20_000 })
    } catch (err) {
      peerNote = `did not start: ${firstLine(err.message)}`
    }
  } else {
    peerNote = QUICK ? 'not run in --quick' : 'not run (--no-peer)'
  }
  let floor
  let nginx
  let nginxNote
  if (!QUICK) {
    nginx = await startNginx(upstreamOrigin).catch((err) => ({ absent: `did not start: ${firstLine(err.message)}` }))
    if (nginx.absent !== undefined) {
      nginxNote = nginx.absent
      nginx = undefined
    }
  }

  const proxyUrl = `http://127.0.0.1:${proxy.value}/v1/chat/completions`
  const directUrl = `${upstreamOrigin}/v1/chat/completions`
  const targets = {
    direct: { label: 'upstream direct (floor)', url: directUrl, headers: jsonHeaders, body: JSON.stringify(chat), expect: 'chat.completion' },
    proxy: { label: 'minimal Node proxy', url: proxyUrl, headers: jsonHeaders, body: JSON.stringify(chat), expect: 'chat.completion' },
    rest: { label: 'naftiko REST', url: gateway.rest, headers: jsonHeaders, body: JSON.stringify(chat), expect: 'chat.completion' },
    directStream: { label: 'upstream direct, stream', url: directUrl, headers: jsonHeaders, body: JSON.stringify(chatStream), expect: 'data: [DONE]' },
    proxyStream: { label: 'minimal proxy, stream', url: proxyUrl, headers: jsonHeaders, body: JSON.stringify(chatStream), expect: 'data: [DONE]' },
    restStream: { label: 'naftiko REST, stream', url: gateway.rest, headers: jsonHeaders, body: JSON.stringify(chatStream), expect: 'data: [DONE]' },
    mcpModern: { label: 'naftiko MCP tools/call 2026-07-28', url: gateway.mcp, ...mcpModern(chat), expect: 'chatcmpl-' },
    mcpLegacy: { label: 'naftiko MCP tools/call 2025 era', url: gateway.mcp, ...mcpLegacy(chat), expect: 'chatcmpl-' },
  }
  // the quick guard inside npm test measures what it gates, REST against the minimal proxy; the
  // other rows (the large-body ones among them) are in the full run
  if (QUICK) {
    for (const key of Object.keys(targets)) if (key !== 'proxy' && key !== 'rest') delete targets[key]
  }
  if (!QUICK) {
    // what node:http and undici cost on their own (bench/floor-proxy.mjs): the part of the gateway's
    // CPU per request that is neither node's nor undici's is its row minus this one
    floor = await startNode(['bench/floor-proxy.mjs', upstreamOrigin], { name: 'floor proxy', ready: portLine, logFile: path.join(work, 'floor.log') })
    targets.floor = { label: 'node:http + undici floor (no checks, no log)', url: `http://127.0.0.1:${floor.value}/v1/chat/completions`, headers: jsonHeaders, body: JSON.stringify(chat), expect: 'chat.completion' }
  }
  if (nginx !== undefined) targets.nginx = { label: `nginx ${nginx.version} (C reference)`, url: nginx.url, headers: jsonHeaders, body: JSON.stringify(chat), expect: 'chat.completion' }
  let peerTarget
  if (peer !== undefined) {
    peerTarget = {
      label: `@portkey-ai/gateway ${PEER_VERSION}`,
      url: `http://127.0.0.1:${peer.value}/v1/chat/completions`,
      headers: { ...jsonHeaders, 'x-portkey-provider': 'openai', 'x-portkey-custom-host': `${upstreamOrigin}/v1` },
      body: JSON.stringify(chat),
      expect: 'chat.completion',
    }
    targets.peer = peerTarget
  }

  progress('checking that every target answers correctly')
  const broken = {}
  for (const [key, target] of Object.entries(targets)) {
    const problem = await preflight(target)
    if (problem !== undefined) {
      broken[key] = problem
      progress(`${target.label}: ${problem}`)
      delete targets[key]
    }
  }
  if (peer !== undefined && broken.peer !== undefined) peerNote = `answered wrongly: ${broken.peer}`
  if (nginx !== undefined && broken.nginx !== undefined) nginxNote = `answered wrongly: ${broken.nginx}`
  // the peer's streaming fails on Node 20 (FIELD-NOTES); record what it does today
  const peerStream = peerTarget === undefined ? undefined : await preflight({ ...peerTarget, body: JSON.stringify(chatStream), expect: 'data: [DONE]' })
  if (targets.rest === undefined || targets.proxy === undefined || (!QUICK && targets.direct === undefined)) {
    throw new Error(`a reference target is broken: ${JSON.stringify(broken)}`)
  }

  // 1. throughput at 32 connections, rounds alternate the order of the targets
  // the targets a ratio compares run back to back in every round (a block), so that a change in the
  // host's state between rounds moves both sides of the ratio alike: the minimal proxy, REST and MCP
  // in one block, the two relayed streams in another; the blocks' order rotates from round to round
  // and the order within a block reverses every other round
  const blocks = [['direct'], ['proxy', 'rest', 'mcpModern', 'mcpLegacy'], ['directStream'], ['proxyStream', 'restStream'], ['floor'], ['nginx'], ['peer']]
    .map((block) => block.filter((key) => targets[key] !== undefined)).filter((block) => block.length > 0)
  const tpKeys = blocks.flat()
  const tp = Object.fromEntries(tpKeys.map((k) => [k, []]))
  progress(`throughput: warm-up ${CFG.warmSeconds} s per target`)
  for (const key of tpKeys) await throughput(targets[key], { seconds: CFG.warmSeconds })
  // CPU per request from the serving process's own counters: steadier than req/s on a shared machine
  const pidOf = (key) => key.startsWith('direct') ? upstream.pid : key.startsWith('proxy') ? proxy.pid : key === 'peer' ? peer?.pid : key === 'floor' ? floor.pid : gateway.pid
  // nginx: its master's and its worker's counters together
  const ticksFor = (key) => key === 'nginx' ? nginx.ticks() : ticksOf(pidOf(key))
  for (let round = 0; round < CFG.rounds; round++) {
    for (const key of rotate(blocks, round).flatMap((block) => round % 2 === 0 ? block : [...block].reverse())) {
      const before = ticksFor(key)
      const r = await throughput(targets[key], { seconds: CFG.seconds })
      r.cpuUs = r.total > 0 ? (ticksFor(key) - before) * 10_000 / r.total : NaN
      tp[key].push(r)
    }
    progress(`throughput round ${round + 1}/${CFG.rounds}: ${tpKeys.map((k) => `${k} ${Math.round(tp[k].at(-1).rps)}`).join(', ')}`)
  }
  if (QUICK) return finishQuick({ env, tp, background, ticks0, t0, processes: [gateway, proxy, upstream] })

  // 1b. the same CPU ratios with both targets loaded at the same moment (lib/side-by-side.mjs): MCP
  // against REST needs a second gateway process, each with its own counters (the second one starts
  // cold: a longer warm-up)
  log('side by side: REST against the minimal proxy, MCP against REST')
  const second = await startGatewayProcess(upstreamOrigin, { logLevel: flags['log-level'], logFile: path.join(work, 'gateway-2.log'), name: 'naftiko (second)' })
  const sideBySide = await measureSideBySide({
    rounds: CFG.sideRounds,
    seconds: CFG.sideSeconds,
    log,
    pairs: [
      { label: 'REST CPU per request vs the minimal proxy\'s', a: { pid: proxy.pid, load: targets.proxy }, b: { pid: gateway.pid, load: targets.rest }, target: '<= 0.80x', holds: (r) => r <= 0.8 },
      {
        label: 'MCP tools/call CPU per call, 2026-07-28, vs REST\'s',
        a: { pid: gateway.pid, load: targets.rest },
        b: { pid: second.pid, load: { ...targets.mcpModern, url: second.mcp } },
        // the two gateways trade routes every other round
        swapped: { a: { pid: second.pid, load: { ...targets.rest, url: second.rest } }, b: { pid: gateway.pid, load: targets.mcpModern } },
        target: '<= 1.20x',
        holds: (r) => r <= 1.2,
        warmSeconds: 8,
      },
    ],
  })
  await second.stop()

  // 2. added latency at 1 connection, a sequential loop timed with process.hrtime
  const latKeys = ['direct', 'proxy', 'rest', 'restStream', 'mcpModern', 'mcpLegacy', 'peer'].filter((k) => targets[k] !== undefined)
  const lat = Object.fromEntries(latKeys.map((k) => [k, []]))
  for (const key of latKeys) await sequential(targets[key], 200)
  for (let round = 0; round < CFG.latencyRounds; round++) {
    for (const key of rotate(latKeys, round)) {
      const { samples, failed } = await sequential(targets[key], CFG.latencyCount)
      lat[key].push({ p50: median(samples), p99: percentile(samples, 99), failed })
    }
    log(`latency round ${round + 1}/${CFG.latencyRounds}: ${latKeys.map((k) => `${k} ${Math.round(lat[k].at(-1).p50)} µs`).join(', ')}`)
  }

  // 3. streaming with realistic gaps: time to first byte at 1 connection, then 512 at once
  const streamTarget = (key, chunks) => ({ ...targets[key], body: JSON.stringify(chatStreamGapped(chunks)) })
  const ttfbKeys = ['direct', 'proxy', 'rest']
  const ttfb = Object.fromEntries(ttfbKeys.map((k) => [k, []]))
  const ttfbWarm = Object.fromEntries(ttfbKeys.map((k) => [k, []]))
  const ttfbEvents = 1 + 2 + 2 // role, 2 content chunks, finish, [DONE]
  for (let round = 0; round < CFG.ttfbRounds; round++) {
    for (const key of rotate(ttfbKeys, round)) {
      // warm: streams back to back (no gaps), so no process sleeps between two requests
      const warm = await streams(targets[`${key}Stream`], { concurrency: 1, count: CFG.ttfbWarmCount, timeoutMs: 10_000 })
      ttfbWarm[key].push({ ttfbUs: median(warm.results.map((r) => r.ttfbUs)), complete: warm.complete, count: warm.results.length })
      // idle: realistic gaps, so every process sleeps 20 ms before each request
      const run = await streams(streamTarget(key, 2), { concurrency: 1, count: CFG.ttfbCount, expectEvents: ttfbEvents, timeoutMs: 10_000 })
      ttfb[key].push({
        ttfbUs: median(run.results.map((r) => r.ttfbUs)),
        complete: run.complete,
        count: run.results.length,
        events: sum(run.results.map((r) => r.events)),
        reads: sum(run.results.map((r) => r.reads)),
        coalesced: sum(run.results.map((r) => r.coalesced)),
      })
    }
    log(`ttfb round ${round + 1}/${CFG.ttfbRounds}: ${ttfbKeys.map((k) => `${k} ${Math.round(ttfbWarm[k].at(-1).ttfbUs)} µs warm, ${Math.round(ttfb[k].at(-1).ttfbUs)} µs idle`).join(', ')}`)
  }
  // rounds alternate: completeness and the longest silence count over all of them, the other
  // figures come from each target's round of median coalescing (pieces of the body carrying more
  // than one event: only a relay's own writes merge events, lib/measure.mjs streams())
  const concurrent = {}
  const streamRuns = { direct: [], proxy: [], rest: [] }
  const expectEvents = STREAM_CHUNKS + 3
  const streamTimeout = 30_000
  for (let round = 0; round < CFG.streamRounds; round++) {
    for (const key of rotate(Object.keys(streamRuns), round)) {
      const started = performance.now()
      const run = await streams(streamTarget(key, STREAM_CHUNKS), { concurrency: CFG.streams, expectEvents, timeoutMs: streamTimeout })
      const rs = run.results
      streamRuns[key].push({
        complete: run.complete,
        count: rs.length,
        wallMs: performance.now() - started,
        ttfbP50Us: median(rs.map((r) => r.ttfbUs)),
        ttfbP99Us: percentile(rs.map((r) => r.ttfbUs), 99),
        durP50: median(rs.map((r) => r.ms)),
        durMax: Math.max(...rs.map((r) => Number.isFinite(r.ms) ? r.ms : Infinity)),
        maxGapMs: Math.max(...rs.map((r) => r.maxGapMs)),
        events: sum(rs.map((r) => r.events)),
        reads: sum(rs.map((r) => r.reads)),
        coalesced: sum(rs.map((r) => r.coalesced)),
        errors: [...new Set(rs.filter((r) => r.error !== undefined).map((r) => r.error))].slice(0, 3),
      })
      const last = streamRuns[key].at(-1)
      log(`${CFG.streams} streams via ${key}, round ${round + 1}/${CFG.streamRounds}: ${run.complete}/${rs.length} complete, max gap ${Math.round(last.maxGapMs)} ms, ${(100 * last.coalesced / Math.max(1, last.reads)).toFixed(1)}% of pieces carrying > 1 event`)
    }
  }
  for (const [key, runs] of Object.entries(streamRuns)) {
    const byShare = [...runs].sort((a, b) => a.coalesced / Math.max(1, a.reads) - b.coalesced / Math.max(1, b.reads))
    concurrent[key] = {
      ...byShare[Math.floor((byShare.length - 1) / 2)],
      complete: sum(runs.map((r) => r.complete)),
      count: sum(runs.map((r) => r.count)),
      durMax: Math.max(...runs.map((r) => r.durMax)),
      maxGapMs: Math.max(...runs.map((r) => r.maxGapMs)),
      errors: [...new Set(runs.flatMap((r) => r.errors))].slice(0, 3),
      rounds: runs.length,
    }
  }

  const rssAfterRun = rssOf(gateway.pid)
  // 3b. large request bodies, 1 MiB and 10 MiB: REST, the minimal proxy, nginx. The gateway and the
  // proxy are processes started for these rows: a megabyte request's CPU depends on when each heap's
  // collector runs, and so on how the heap grew in whatever the process served before (on the
  // processes of the rows above, the same build read 0.23x to 1.41x the proxy's from run to run)
  log('large request bodies')
  const largeGateway = await startGatewayProcess(upstreamOrigin, { logLevel: flags['log-level'], logFile: path.join(work, 'gateway-large.log'), name: 'naftiko (large bodies)' })
  const largeProxy = await startNode(['bench/minimal-proxy.mjs', upstreamOrigin], { name: 'minimal proxy (large bodies)', ready: portLine, logFile: path.join(work, 'proxy-large.log') })
  const largeTargets = {
    proxy: { label: 'minimal Node proxy', url: `http://127.0.0.1:${largeProxy.value}/v1/chat/completions`, headers: jsonHeaders, ticks: () => ticksOf(largeProxy.pid) },
    rest: { label: 'naftiko REST', url: largeGateway.rest, headers: jsonHeaders, ticks: () => ticksOf(largeGateway.pid) },
  }
  if (targets.nginx !== undefined) largeTargets.nginx = { label: targets.nginx.label, url: nginx.url, headers: jsonHeaders, ticks: () => nginx.ticks() }
  const large = await measureLargeBodies({ targets: largeTargets, rounds: CFG.largeRounds, seconds: CFG.largeSeconds, warmSeconds: CFG.largeWarmSeconds, log })
  await largeGateway.stop()
  await largeProxy.stop()
  const peerRss = peer === undefined ? undefined : rssOf(peer.pid)
  await gateway.stop()
  if (peer !== undefined) await peer.stop()
  if (nginx !== undefined) await nginx.stop()

  // 3c. many SSE streams opened at once, through fresh processes with raised open-file limits
  log(`${CFG.manyStreams} streams at once`)
  const many = await measureManyStreams({
    targets: [
      { key: 'proxy', label: 'minimal Node proxy', start: (origin, wrap) => startNode(['bench/minimal-proxy.mjs', origin], { name: 'minimal proxy', ready: portLine, wrap }).then((p) => ({ ...p, url: `http://127.0.0.1:${p.value}/v1/chat/completions` })) },
      { key: 'rest', label: 'naftiko REST', start: (origin, wrap) => startGateway(origin, { wrap }).then((g) => ({ ...g, url: g.rest })) },
    ],
    headers: jsonHeaders,
    body: (gapMs, chunks) => JSON.stringify({ ...chat, stream: true, bench_gap_ms: gapMs, bench_chunks: chunks }),
    want: CFG.manyStreams,
    gapMs: CFG.manyGapMs,
    chunks: CFG.manyChunks,
    workDir: work,
    log,
  })

  // 4. `naftiko run` to first answer (fresh processes), then memory on the last one
  log('startup and memory')
  const { startups, proxyStartups, coldStartup, idleRounds, proxyIdleRounds, fresh } = await measureStartAndIdle({
    startProxy: () => startNode(['bench/minimal-proxy.mjs', upstreamOrigin], { name: 'minimal proxy', ready: portLine }).then((p) => ({ ...p, url: `http://127.0.0.1:${p.value}/v1/chat/completions` })),
    startGateway: () => startGateway(upstreamOrigin, {}).then((g) => ({ ...g, url: g.rest })),
    rounds: CFG.startups,
    first: { headers: jsonHeaders, body: JSON.stringify(chat) },
  })
  const memory = { idle: rssOf(fresh.pid), idleRounds, proxyIdleRounds }
  // the warm-up lasts past the old generation's first full collection (about 110,000 requests at 32
  // connections here): until then the heap only grows, as in any fresh process, which says nothing of leaks
  await throughput({ ...targets.rest, url: fresh.rest }, { amount: CFG.memWarm })
  // RSS read after every tenth of the run: the heap saws up and down between collections, so one
  // reading each side says little; a leak raises the peak of the second half above the first's
  memory.readings = []
  memory.failed = 0
  for (let i = 0; i < 10; i++) {
    memory.failed += (await throughput({ ...targets.rest, url: fresh.rest }, { amount: CFG.memRequests / 10 })).failed
    memory.readings.push(rssOf(fresh.pid))
  }
  memory.warm = Math.max(...memory.readings.slice(0, 5))
  memory.after = Math.max(...memory.readings.slice(5))
  memory.requests = CFG.memRequests
  memory.warmRequests = CFG.memWarm
  await fresh.stop()
  await Promise.all([proxy.stop(), upstream.stop()])

  // 5. orchestration: two independent steps run at once
  log('orchestration')
  const orchestration = await measureOrchestration()

  // 6. --workers 2 against one process
  log('--workers 2')
  const workers = await measureWorkers({ workers: 2, rounds: CFG.workerRounds, seconds: 3, logLevel: flags['log-level'] })
  const ticks1 = { machine: machineTicks(), own: ownTicks() }
  const foreignShare = ((ticks1.machine.busy - ticks0.machine.busy) - (ticks1.own - ticks0.own)) / (ticks1.machine.total - ticks0.machine.total)

  // the rows with a module of their own: target rows and a section each (report.mjs)
  const parts = [
    sideBySidePart(sideBySide),
    manyStreamsPart(many),
    largeBodiesPart(large, { notes: [`The gateway and the minimal proxy here are processes started for these rows, each warmed for ${CFG.largeWarmSeconds} s per size before its rounds: a megabyte request's CPU depends on when the process's collector runs, and so on how its heap grew in what it served before (on the processes of the rows above, the same build read 0.23x to 1.41x the proxy's from run to run).`, ...(nginx === undefined ? [`nginx: ${nginxNote}.`] : [])] }),
    workersPart(workers, { cores: os.availableParallelism() }),
  ]
  const data = { env, labels: Object.fromEntries(Object.entries(targets).map(([k, t]) => [k, t.label])), broken, tp, lat, ttfb, ttfbWarm, concurrent, background, foreignShare, rssAfterRun, peerRss, peerNote, peerStream, nginxNote, memory, orchestration, startups, proxyStartups, coldStartup, parts, seconds: (performance.now() - t0) / 1000 }
  const report = renderReport(data)
  process.stdout.write(report.markdown + '\n')
  const out = flags.out ?? path.join(ROOT, 'bench', 'results.md')
  writeFileSync(out, report.markdown + '\n')
  log(`wrote ${path.relative(process.cwd(), out)}`)
  log(`done in ${Math.round(data.seconds)} s`)
  return 0
}

/**
 * The guard's verdict: REST against the minimal proxy, each target's mean of its best 3 rounds
 * (noise on a shared machine only ever lowers a round's throughput, so the best rounds are the least
 * disturbed; the median of per-round ratios swung 0.77x-1.22x between runs of the earlier 3 x 2 s
 * guard, and per-round ratios range 0.5x-1.5x within one run while other processes are busy). One
 * line on stdout; the rounds, the log and the machine's load go to bench/quick-report.md.
 */
async function finishQuick ({ env, tp, background, ticks0, t0, processes }) {
  // stopped first, so that their CPU time counts as the bench's own, not as other processes'
  await Promise.all(processes.map((p) => p.stop()))
  const ticks1 = { machine: machineTicks(), own: ownTicks() }
  const foreignShare = ((ticks1.machine.busy - ticks0.machine.busy) - (ticks1.own - ticks0.own)) / (ticks1.machine.total - ticks0.machine.total)
  const out = flags.out ?? path.join(ROOT, 'bench', 'quick-report.md')
  const report = renderQuickReport({ env, tp, background, foreignShare, threshold: THRESHOLD_QUICK, log: progressLines, seconds: (performance.now() - t0) / 1000 })
  writeFileSync(out, report.markdown + '\n')
  process.stdout.write(`${report.line}; report: ${path.relative(process.cwd(), out)}\n`)
  return report.pass ? 0 : 1
}

function startGateway (upstreamOrigin, { profileDir, wrap }) {
  const nodeArgs = profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', path.resolve(profileDir)]
  return startGatewayProcess(upstreamOrigin, { logLevel: flags['log-level'], nodeArgs, wrap, logFile: path.join(work, 'gateway.log') })
}

async function preflight (target) {
  try {
    const res = await request(target.url, { method: 'POST', headers: target.headers, body: target.body, headersTimeout: 10_000, bodyTimeout: 10_000 })
    const text = await res.body.text()
    if (res.statusCode !== 200) return `status ${res.statusCode}: ${text.slice(0, 200)}`
    if (!text.includes(target.expect)) return `unexpected answer: ${text.slice(0, 200)}`
    if (text.includes('"isError":true')) return `tool error: ${text.slice(0, 200)}`
    return undefined
  } catch (err) {
    return err.message
  }
}

/** Share of the machine's CPU other processes use; waits up to `seconds` for it to fall under 15%. */
async function waitForQuiet (seconds) {
  const sample = async (ms) => {
    const a = machineTicks()
    await sleep(ms)
    const b = machineTicks()
    return (b.busy - a.busy) / (b.total - a.total)
  }
  let busy = await sample(1000)
  const until = performance.now() + seconds * 1000
  if (busy >= 0.15) progress(`other processes use ${Math.round(busy * 100)}% of the CPU: waiting up to ${seconds} s for quiet`)
  while (busy >= 0.15 && performance.now() < until) busy = await sample(2000)
  if (busy >= 0.15) progress(`still ${Math.round(busy * 100)}% busy: measuring anyway (the report says so)`)
  return busy
}

function ensureBuilt () {
  const cli = path.join(ROOT, 'dist', 'cli.js')
  if (existsSync(cli) && newestMtime(path.join(ROOT, 'src')) <= statSync(cli).mtimeMs) return
  log(existsSync(cli) ? 'src/ is newer than dist/: npm run build' : 'no dist/: npm run build')
  try {
    execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] })
  } catch {
    if (!existsSync(cli)) throw new Error('npm run build failed and there is no dist/cli.js')
    log('npm run build failed: measuring the existing dist/')
  }
}

function newestMtime (dir) {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs)
  }
  return newest
}

function machine () {
  const cpus = os.cpus()
  return {
    date: new Date().toISOString().slice(0, 10),
    cpu: `${cpus[0]?.model.trim() ?? 'unknown CPU'}`,
    cores: cpus.length,
    memGb: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
  }
}

function gitRef () {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, encoding: 'utf8' }).trim() !== ''
    return `${sha}${dirty ? ' + uncommitted src/ changes' : ''}`
  } catch {
    return 'unknown'
  }
}

function portLine (out) {
  const m = /listening (\d+)/.exec(out)
  return m === null ? undefined : Number(m[1])
}

function rotate (list, n) {
  const k = n % list.length
  return [...list.slice(k), ...list.slice(0, k)]
}

const sum = (values) => values.reduce((a, b) => a + b, 0)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const firstLine = (s) => s.split('\n')[0]

main().then((code) => {
  killAll()
  rmSync(work, { recursive: true, force: true })
  process.exit(code)
}, (err) => {
  killAll()
  log(`failed: ${err.stack ?? err}`)
  log(`logs kept in ${work}`)
  process.exit(2)
})
