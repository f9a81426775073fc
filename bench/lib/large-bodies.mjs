// The large-body rows: chat requests whose JSON body is a long conversation of 1 MiB and 10 MiB,
// through naftiko REST, the minimal proxy and nginx, at a few connections. Per size and target:
// req/s, request-body MB/s, and CPU time per request from the serving process's own counters
// (nginx: master and worker together), each the median of rounds that alternate the targets' order;
// a ratio is the median of the rounds' ratios (the two targets ran back to back in each round).
import { median, medianRatio, throughput } from './measure.mjs'
import { MB, int, sum, x } from './format.mjs'

export const LARGE_SIZES = [1 * MB, 10 * MB]

/** A chat completion request whose JSON is at least `bytes` long: a conversation of 4 KiB turns. */
export function chatOfSize (bytes) {
  const chat = { model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: 'Summarise this conversation.' }], temperature: 0.2 }
  const turn = (i) => ({ role: i % 2 === 0 ? 'user' : 'assistant', content: `turn ${i} `.padEnd(4096, 'lorem ipsum ') })
  const perTurn = JSON.stringify(turn(0)).length + 1
  const turns = Math.max(0, Math.ceil((bytes - JSON.stringify(chat).length) / perTurn))
  chat.messages.push(...Array.from({ length: turns }, (_, i) => turn(i)))
  return JSON.stringify(chat)
}

/**
 * `targets`: { key: { label, url, headers, ticks: () => clock ticks of its process(es) } }; the
 * report compares every target with `proxy`.
 */
export async function measureLargeBodies ({ targets, sizes = LARGE_SIZES, rounds, seconds, warmSeconds = 2, connections = 4, log = () => {} }) {
  const keys = Object.keys(targets)
  const bySize = []
  for (const size of sizes) {
    const body = chatOfSize(size)
    const runs = Object.fromEntries(keys.map((k) => [k, []]))
    // a round is a number of requests, not a duration: every request counted has been answered, so
    // the CPU time measured is theirs only (a cut-off round would leave some half-processed)
    const amounts = {}
    const one = async (key, load) => {
      const t = targets[key]
      const before = t.ticks()
      const r = await throughput({ url: t.url, headers: t.headers, body }, { connections, ...load })
      return { ...r, mbps: r.rps * body.length / MB, cpuUs: r.total > 0 ? (t.ticks() - before) * 10_000 / r.total : NaN }
    }
    for (const key of keys) {
      const warm = await one(key, { seconds: warmSeconds })
      amounts[key] = Math.max(4 * connections, Math.ceil(warm.rps * seconds))
    }
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? keys : [...keys].reverse()
      for (const key of order) runs[key].push(await one(key, { amount: amounts[key] }))
    }
    log(`${label(size)} bodies: ${keys.map((k) => `${k} ${int(median(runs[k].map((r) => r.cpuUs)))} µs CPU/request`).join(', ')}`)
    bySize.push({ size, bytes: body.length, runs })
  }
  return { connections, seconds, rounds, labels: Object.fromEntries(keys.map((k) => [k, targets[k].label])), bySize }
}

/** Report part: a target row per size (CPU per request against the minimal proxy's) and a table. */
export function largeBodiesPart (l, { key = 'rest', reference = 'proxy', maxRatio = 1.1, notes = [] } = {}) {
  const cpu = (s, k) => median((s.runs[k] ?? []).map((r) => r.cpuUs))
  // the targets' order reverses from round to round, so the two were measured back to back in each
  const cpuRatio = (s, k) => medianRatio((s.runs[k] ?? []).map((r) => r.cpuUs), s.runs[reference].map((r) => r.cpuUs))
  const targets = l.bySize.map((s) => {
    const ratio = cpuRatio(s, key)
    const others = Object.keys(s.runs).filter((k) => k !== key && k !== reference).map((k) => `; ${l.labels[k]} ${int(cpu(s, k))} µs`).join('')
    return {
      figure: `Large request bodies, ${label(s.size)}: CPU per request vs the minimal proxy's (median of the rounds' ratios)`,
      measured: `${x(ratio)} (medians ${int(cpu(s, key))} vs ${int(cpu(s, reference))} µs${others})`,
      target: `<= ${maxRatio.toFixed(2)}x`,
      holds: ratio <= maxRatio,
    }
  })
  const lines = []
  lines.push(`Chat requests whose body is a long conversation (4 KiB turns) at ${l.connections} connections, ${l.rounds} round${l.rounds === 1 ? '' : 's'} per target, the order alternating; a round is a fixed number of requests, about ${l.seconds} s at the pace the target kept in its warm-up (at least ${4 * l.connections}); the medians over rounds; a ratio to the minimal proxy is the median of the rounds' ratios. CPU per request from each serving process's own counters (clock ticks of 10 ms) over whole requests.`, '')
  lines.push('| Body | Target | req/s | request MB/s | CPU µs per request | CPU vs minimal proxy\'s | CPU µs per request, each round | p99 ms | failed |', '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const s of l.bySize) {
    for (const k of Object.keys(s.runs)) {
      const rs = s.runs[k]
      lines.push(`| ${label(s.size)} (${int(s.bytes)} bytes) | ${l.labels[k]} | ${int(median(rs.map((r) => r.rps)))} | ${int(median(rs.map((r) => r.mbps)))} | ${int(cpu(s, k))} | ${k === reference ? '-' : x(cpuRatio(s, k))} | ${rs.map((r) => int(r.cpuUs)).join(' / ')} | ${median(rs.map((r) => r.p99))} | ${sum(rs.map((r) => r.failed))} |`)
    }
  }
  for (const note of notes) lines.push('', note)
  return { targets, section: { title: 'Large request bodies', lines } }
}

const label = (bytes) => `${Math.round(bytes / MB)} MiB`
