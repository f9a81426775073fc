// `--workers N` against `--workers 1` on the REST route: throughput at 32 connections and CPU time
// per request, summed over every process of the gateway (with workers: the primary, which accepts
// each connection and hands it to a worker, and the workers) from their own /proc counters.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { throughput, median } from './measure.mjs'
import { cleanEnv, startNode, ticksOf, ROOT } from './processes.mjs'

const portLine = (out) => /listening (\d+)/.exec(out)?.[1]
const CHAT = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }] })

/** The pids of a process's children (Linux /proc): a primary's workers. */
export function childrenOf (pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((p) => p !== '').map(Number)
  } catch {
    return []
  }
}

/** CPU ticks of a process and of its children so far (those living now: a worker that died took its ticks with it). */
function treeTicks (pid) {
  const own = ticksOf(pid)
  return { own, all: childrenOf(pid).reduce((sum, p) => sum + ticksOf(p), own) }
}

async function startGateway (upstreamOrigin, workers, logLevel) {
  const args = ['dist/cli.js', 'run', path.join(ROOT, 'capabilities/chat-completions.yaml'), '--port', 'rest=0', '--port', 'mcp=0', '--base-uri', `chat-completions-chat-completions=${upstreamOrigin}/v1`, '--workers', String(workers)]
  if (logLevel !== undefined) args.push('--log-level', logLevel)
  return startNode(args, {
    name: `naftiko --workers ${workers}`,
    env: cleanEnv({ CHATGPT_API_KEY: 'sk-bench' }),
    timeoutMs: 30_000,
    ready: (out) => /rest \S+ listening on (\S+)/.exec(out)?.[1],
  })
}

/**
 * Runs `rounds` rounds; in each, both configurations take turns (the order alternates) for `seconds`
 * of load. Returns per configuration the median req/s and µs of CPU per request, and every round.
 * `upstreamOrigin` is a running bench upstream, else one is started.
 */
export async function measureWorkers ({ workers = 2, rounds = 5, seconds = 3, connections = 32, logLevel, upstreamOrigin } = {}) {
  const origin = upstreamOrigin ?? `http://127.0.0.1:${(await startNode(['bench/upstream.mjs'], { name: 'upstream', ready: portLine })).value}`
  const gateways = { 1: await startGateway(origin, 1, logLevel), [workers]: await startGateway(origin, workers, logLevel) }
  const processes = Object.fromEntries(Object.entries(gateways).map(([n, g]) => [n, 1 + childrenOf(g.pid).length]))
  const results = Object.fromEntries(Object.keys(gateways).map((n) => [n, { rps: [], cpu: [], primary: [], failed: 0 }]))
  try {
    // one untimed second each: the JIT of every process warms up before anything is counted
    for (const g of Object.values(gateways)) await throughput({ url: `${g.value}/v1/chat/completions`, headers: { 'content-type': 'application/json' }, body: CHAT }, { seconds: 1, connections })
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? Object.keys(gateways) : Object.keys(gateways).reverse()
      for (const n of order) {
        const target = { url: `${gateways[n].value}/v1/chat/completions`, headers: { 'content-type': 'application/json' }, body: CHAT }
        const before = treeTicks(gateways[n].pid)
        const run = await throughput(target, { seconds, connections })
        // ticks are 10 ms (USER_HZ 100): µs per request
        const after = treeTicks(gateways[n].pid)
        results[n].cpu.push((after.all - before.all) * 10_000 / run.total)
        results[n].primary.push((after.own - before.own) / Math.max(1, after.all - before.all))
        results[n].rps.push(run.rps)
        results[n].failed += run.failed
      }
    }
  } finally {
    await Promise.all(Object.values(gateways).map((g) => g.stop()))
  }
  return Object.entries(results).map(([n, { rps, cpu, primary, failed }]) => ({
    workers: Number(n),
    processes: processes[n],
    rps: median(rps),
    cpuUsPerRequest: median(cpu),
    /** the share of that CPU spent in the first process (with workers: the primary) */
    primaryShare: median(primary),
    failed,
    rounds: rps.map((value, i) => ({ rps: value, cpuUsPerRequest: cpu[i] })),
  }))
}

/**
 * The report part: `--workers N` against one process. No target: on a machine whose cores the load
 * generator and the upstream share, more processes cannot be faster; the row shows what they cost.
 */
export function workersPart (rows, { cores }) {
  const [one, many] = rows
  const lines = [
    `The REST route at 32 connections, \`--workers ${many.workers}\` (${many.processes} processes: the primary and its workers) against one process, the order alternating, ${one.rounds.length} rounds each; CPU per request summed over every process of the gateway from their own counters. This machine has ${cores} cores, shared with the load generator and the upstream, so no gain is expected here: the row shows what the extra processes cost; workers pay off where cores outnumber the load on them.`,
    '',
    '| Gateway | processes | req/s | vs one process | CPU µs per request | vs one process | primary\'s share of the CPU | failed |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ]
  for (const row of rows) {
    lines.push(`| \`--workers ${row.workers}\` | ${row.processes} | ${Math.round(row.rps)} | ${(row.rps / one.rps).toFixed(2)}x | ${Math.round(row.cpuUsPerRequest)} | ${(row.cpuUsPerRequest / one.cpuUsPerRequest).toFixed(2)}x | ${row.workers > 1 ? `${Math.round(row.primaryShare * 100)}%` : '-'} | ${row.failed} |`)
  }
  return {
    targets: [{ figure: `\`--workers ${many.workers}\`: every request served, CPU per request vs one process`, measured: `${many.failed + one.failed} failed; ${(many.cpuUsPerRequest / one.cpuUsPerRequest).toFixed(2)}x CPU, ${(many.rps / one.rps).toFixed(2)}x req/s`, target: 'none failed', holds: many.failed + one.failed === 0 }],
    section: { title: `Several processes on one host (--workers ${many.workers})`, lines },
  }
}
