// Two serving processes loaded at the same moment: each gets its own autocannon load and both run at
// once, so that whatever else the host does in a round falls on both alike. CPU per request comes
// from each process's own counters; the figure is the median of the rounds' ratios (B's CPU per
// request over A's). Used by bench/side-by-side.mjs and by the full run's side-by-side rows.
import { int, x } from './format.mjs'
import { median, throughput } from './measure.mjs'
import { ticksOf } from './processes.mjs'

/**
 * `a`, `b`: `{ pid, load }`, `load` a throughput target (`url`, `headers`, `body`). Resolves every
 * round's CPU per request of both (µs), the rounds' B/A ratios and their median, and the failed
 * requests of each. `swapped` (`{ a, b }`, A's and B's loads on each other's process): every other
 * round runs that way, for two processes of one program that serve both loads, so that neither
 * process's own state (its heap, its compiled code) leans on the ratio.
 */
export async function sideBySide (a, b, { rounds, seconds, connections = 16, warmSeconds = 2, swapped }) {
  const both = (pair, s) => Promise.all(pair.map((t) => throughput(t.load, { connections, seconds: s })))
  // warm-up, not counted
  await both([a, b], warmSeconds)
  if (swapped !== undefined) await both([swapped.a, swapped.b], warmSeconds)
  const cpuA = []
  const cpuB = []
  const ratios = []
  const failed = { a: 0, b: 0 }
  for (let round = 0; round < rounds; round++) {
    const [ta, tb] = swapped !== undefined && round % 2 === 1 ? [swapped.a, swapped.b] : [a, b]
    const before = [ticksOf(ta.pid), ticksOf(tb.pid)]
    const [ra, rb] = await both([ta, tb], seconds)
    const ua = (ticksOf(ta.pid) - before[0]) * 10_000 / ra.total
    const ub = (ticksOf(tb.pid) - before[1]) * 10_000 / rb.total
    cpuA.push(ua)
    cpuB.push(ub)
    ratios.push(ub / ua)
    failed.a += ra.failed
    failed.b += rb.failed
  }
  return { cpuA, cpuB, ratios, ratio: median(ratios), failed }
}

/**
 * The full run's side-by-side rows: each pair (`label`, `a`, `b`, `target` text, `holds(ratio)`,
 * optionally `warmSeconds` for a process that starts cold and `swapped`, as in `sideBySide`) loaded
 * at the same moment, one pair after the other.
 */
export async function measureSideBySide ({ pairs, rounds, seconds, log }) {
  const results = []
  for (const pair of pairs) {
    const r = await sideBySide(pair.a, pair.b, { rounds, seconds, warmSeconds: pair.warmSeconds, swapped: pair.swapped })
    log(`side by side, ${pair.label}: ${r.ratio.toFixed(3)} (rounds ${r.ratios.map((v) => v.toFixed(2)).join(' ')})`)
    results.push({ ...pair, ...r })
  }
  return { rounds, seconds, results }
}

export function sideBySidePart ({ rounds, seconds, results }) {
  // the median to three places: a target's edge is a hundredth wide
  const x3 = (v) => `${v.toFixed(3)}x`
  const lines = [
    `Each pair is two serving processes loaded at the same moment, ${rounds} rounds of ${seconds} s, 16 connections each; the figure is the median of the rounds' ratios of CPU per request, from each process's own counters. A second reading of the back-to-back figures above: here whatever else the host does in a round falls on both targets of a ratio, there on one of them. MCP against REST is two gateway processes that trade routes every other round, so that neither process's own state (its heap, its compiled code) leans on the ratio: as started, REST on the gateway that served the rows before and MCP on a second one started for this pair, then the other way round. Alone (\`bench/side-by-side.mjs\`, 16 rounds) the same build against itself reads within about 3%; inside the full run, with its other processes idle beside them, a round's ratio still moves by a third.`,
    '',
    '| Pair | B over A, median | rounds min-max | A µs per request | B µs per request | failed |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  ]
  for (const r of results) {
    lines.push(`| ${r.label} | ${x3(r.ratio)} | ${x(Math.min(...r.ratios))}-${x(Math.max(...r.ratios))} | ${int(median(r.cpuA))} | ${int(median(r.cpuB))} | ${r.failed.a + r.failed.b} |`)
  }
  for (const r of results.filter((r) => r.swapped !== undefined)) {
    const half = (parity) => median(r.ratios.filter((_, round) => round % 2 === parity))
    lines.push('', `${r.label}: the median of the rounds with the processes as started is ${x3(half(0))}, of those with their routes traded ${x3(half(1))}.`)
  }
  return {
    targets: results.map((r) => ({
      figure: `${r.label}, loaded at the same moment (median of ${rounds} rounds' ratios)`,
      measured: `${x3(r.ratio)} (medians ${int(median(r.cpuB))} vs ${int(median(r.cpuA))} µs)`,
      target: r.target,
      holds: r.holds(r.ratio) && r.failed.a + r.failed.b === 0,
    })),
    section: { title: 'CPU per request, loaded side by side', lines },
  }
}
