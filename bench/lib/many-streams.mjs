// The many-streams row: thousands of SSE streams opened at once through a fresh serving process
// (naftiko REST, the minimal proxy), from a load generator in its own process (stream-load.mjs),
// against an upstream of its own that sends an event every `gapMs`. Per target: streams intact,
// connection resets and other errors, the inter-chunk gap (p50 / p99 / max) the client sees, time
// to response headers, and the serving process's peak RSS (VmHWM) and CPU time.
import path from 'node:path'
import { request } from 'undici'
import { openFileLimit, streamsWithin } from './fd-limit.mjs'
import { countOwnTicks, peakRssOf, startNode, ticksOf } from './processes.mjs'
import { cell, int, mb, ms1, x } from './format.mjs'

/**
 * `targets`: [{ key, label, start (upstreamOrigin, wrap) => { pid, url, stop } }], the first one
 * the reference the others are compared with; `body(gapMs, chunks)`: the request body.
 */
export async function measureManyStreams ({ targets, headers, body, want, gapMs, chunks, timeoutMs = 60_000, workDir, log = () => {} }) {
  // the serving process holds two sockets per stream, the others one
  const fd = openFileLimit(2 * want + 1000)
  const count = streamsWithin(fd.limit, want)
  if (fd.note !== undefined) log(`${fd.note}: ${count} streams instead of ${want}`)
  const portLine = (out) => /listening (\d+)/.exec(out)?.[1]
  const upstream = await startNode(['bench/upstream.mjs'], { name: 'upstream (many streams)', ready: portLine, wrap: fd.wrap, logFile: path.join(workDir, 'many-upstream.log') })
  const origin = `http://127.0.0.1:${upstream.value}`
  const results = {}
  // a target that fails (it does not start, answers wrongly, the load generator dies) is reported
  // as such; the rest of the bench goes on
  const one = async (target) => {
    let server
    try {
      server = await target.start(origin, fd.wrap)
      const check = await oneStream(server.url, headers, body(0, chunks))
      if (check !== undefined) return { label: target.label, failed: check }
      const ticks0 = ticksOf(server.pid)
      const spec = { url: server.url, headers, body: body(gapMs, chunks), count, chunks, timeoutMs }
      const load = await startNode(['bench/lib/stream-load.mjs', JSON.stringify(spec)], {
        name: `stream load (${target.key})`,
        wrap: fd.wrap,
        timeoutMs: timeoutMs + chunks * gapMs + 60_000,
        logFile: path.join(workDir, 'many-load.log'),
        ready: (out) => out.endsWith('\n') ? JSON.parse(out) : undefined,
      })
      await load.stop()
      // it exits once it has printed its result, before stop() can read its counters
      countOwnTicks(load.value.cpuMs / 10)
      return {
        label: target.label,
        ...load.value,
        loadCpuMs: load.value.cpuMs,
        peakRss: peakRssOf(server.pid),
        cpuMs: (ticksOf(server.pid) - ticks0) * 10,
      }
    } catch (err) {
      return { label: target.label, failed: err.message.split('\n')[0] }
    } finally {
      await server?.stop()
    }
  }
  try {
    for (const target of targets) {
      const r = results[target.key] = await one(target)
      if (r.failed !== undefined) log(`many streams via ${target.key}: ${r.failed}`)
      else log(`${count} streams at once via ${target.key}: ${r.intact}/${count} intact, ${r.resets} resets, p99 gap ${Math.round(r.gapP99Ms)} ms, peak RSS ${Math.round(r.peakRss / 2 ** 20)} MB`)
    }
  } finally {
    await upstream.stop()
  }
  return { want, count, limit: fd.limit, raised: fd.raised, note: fd.note, gapMs, chunks, reference: targets[0].key, results }
}

/** undefined when one stream (no gaps) comes back whole, else what went wrong */
async function oneStream (url, headers, body) {
  try {
    const res = await request(url, { method: 'POST', headers, body, headersTimeout: 10_000, bodyTimeout: 10_000 })
    const text = await res.body.text()
    if (res.statusCode !== 200) return `status ${res.statusCode}: ${text.slice(0, 200)}`
    if (!text.trimEnd().endsWith('data: [DONE]')) return `unexpected answer: ${text.slice(0, 200)}`
    return undefined
  } catch (err) {
    return err.message
  }
}

/**
 * Report part: the target row (every stream intact, no reset; p99 gap and peak RSS stated against
 * the reference) and a section with the detail.
 */
export function manyStreamsPart (m, { key = 'rest' } = {}) {
  const r = m.results[key]
  const ref = m.results[m.reference]
  const ran = m.count < m.want ? `ran ${int(m.count)} (open-file limit ${int(m.limit)}, see below): ` : ''
  const measured = r === undefined || r.failed !== undefined
    ? `not measured: ${cell(r?.failed ?? 'no result')}`
    : `${ran}${int(r.intact)}/${int(m.count)} intact, ${int(r.resets)} resets; p99 gap ${int(r.gapP99Ms)} ms, ${x(r.gapP99Ms / ref?.gapP99Ms)} the proxy's (${int(ref?.gapP99Ms)} ms); peak RSS ${mb(r.peakRss)}, ${x(r.peakRss / ref?.peakRss)} the proxy's (${mb(ref?.peakRss)})`
  const whole = r !== undefined && r.failed === undefined && r.intact === m.count && r.resets === 0
  const targets = [{
    figure: `Streaming: ${int(m.want)} SSE streams opened at once`,
    measured,
    target: 'all intact, no resets; p99 inter-chunk gap and peak RSS stated against the minimal proxy',
    holds: whole && m.count < m.want ? `at ${int(m.count)}: yes; ${int(m.want)} not possible here` : whole,
  }]

  const keys = Object.keys(m.results)
  const cells = (f) => keys.map((k) => m.results[k].failed === undefined ? f(m.results[k]) : '-').join(' | ')
  const lines = []
  lines.push(`${int(m.count)} streams requested at once (${m.chunks + 3} events each, one every ${m.gapMs} ms from the upstream), from a load generator in its own process (an undici Client per stream), through a fresh serving process each; a separate upstream process. ` +
    `Open-file limit of these processes: ${int(m.limit)}${m.raised ? ' (raised with prlimit)' : ''}.`)
  if (m.count < m.want) lines.push('', `> The row asks for ${int(m.want)} streams: ${m.note}, and a serving process needs two descriptors per stream, so it ran ${int(m.count)}.`)
  lines.push('')
  lines.push(`| | ${keys.map((k) => m.results[k].label).join(' | ')} |`, `| --- |${keys.map(() => ' ---: |').join('')}`)
  lines.push(`| streams intact (all events, in order, [DONE] last) | ${cells((r) => `${int(r.intact)}/${int(m.count)}`)} |`)
  lines.push(`| truncated or out of order | ${cells((r) => int(r.broken))} |`)
  lines.push(`| connection resets | ${cells((r) => int(r.resets))} |`)
  lines.push(`| other errors | ${cells((r) => errorList(r.errors, r.resets))} |`)
  lines.push(`| inter-chunk gap p50 / p99 / max, ms (upstream: ${m.gapMs}) | ${cells((r) => `${int(r.gapP50Ms)} / ${int(r.gapP99Ms)} / ${int(r.gapMaxMs)}`)} |`)
  lines.push(`| ... p99 gap vs the minimal proxy's | ${cells((r) => x(r.gapP99Ms / m.results[m.reference].gapP99Ms))} |`)
  lines.push(`| response headers p50 / p99 / last, ms | ${cells((r) => `${ms1(r.headersP50Ms)} / ${ms1(r.headersP99Ms)} / ${ms1(r.headersMaxMs)}`)} |`)
  lines.push(`| all streams done after, ms (ideal ${(m.chunks + 2) * m.gapMs}) | ${cells((r) => int(r.wallMs))} |`)
  lines.push(`| serving process peak RSS (VmHWM) | ${cells((r) => mb(r.peakRss))} |`)
  lines.push(`| ... vs the minimal proxy's | ${cells((r) => x(r.peakRss / m.results[m.reference].peakRss))} |`)
  lines.push(`| serving process CPU time, ms | ${cells((r) => int(r.cpuMs))} |`)
  lines.push(`| load generator CPU time, ms | ${cells((r) => int(r.loadCpuMs))} |`)
  const examples = keys.flatMap((k) => (m.results[k].brokenExamples ?? []).map((e) => `${k}: ${e}`))
  if (examples.length > 0) lines.push('', `Broken streams, examples: ${cell(examples.join('; '))}`)
  for (const k of keys) if (m.results[k].failed !== undefined) lines.push('', `${m.results[k].label} was not measured: ${cell(m.results[k].failed)}`)
  return { targets, section: { title: `Many streams at once (${int(m.count)})`, lines } }
}

function errorList (errors = {}, resets) {
  const list = Object.entries(errors).map(([code, n]) => `${code} ${n}`)
  if (list.length === 0) return '0'
  return list.join(', ') + (resets > 0 ? ' (resets among them)' : '')
}
