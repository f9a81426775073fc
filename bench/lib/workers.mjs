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
