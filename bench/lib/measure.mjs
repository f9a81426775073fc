// The load generators: autocannon for throughput, an undici Client loop for latency, and a stream
// reader that timestamps every read for time-to-first-byte, stalls and coalescing.
import autocannon from 'autocannon'
import { Client, Pool } from 'undici'

/** Requests per second over `seconds` (or for `amount` requests) at `connections`. */
export async function throughput (target, { connections = 32, seconds, amount }) {
  const result = await autocannon({
    url: target.url,
    method: 'POST',
    headers: target.headers,
    body: target.body,
    connections,
    pipelining: 1,
    ...(amount === undefined ? { duration: seconds } : { amount }),
    timeout: 10,
  })
  const failed = result.errors + result.timeouts + result.non2xx
  return {
    rps: result.requests.total / result.duration,
    total: result.requests.total,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failed,
  }
}

/**
 * `count` requests one after the other on one keep-alive connection; every duration is taken with
 * the high-resolution clock from sending to the last byte of the body. Returns durations in µs.
 */
export async function sequential (target, count) {
  const url = new URL(target.url)
  const client = new Client(url.origin, { pipelining: 1, keepAliveTimeout: 60_000 })
  const samples = new Float64Array(count)
  let failed = 0
  try {
    for (let i = 0; i < count; i++) {
      const t0 = process.hrtime.bigint()
      const res = await client.request({ path: url.pathname, method: 'POST', headers: target.headers, body: target.body })
      await res.body.arrayBuffer()
      samples[i] = Number(process.hrtime.bigint() - t0) / 1000
      if (res.statusCode !== 200) failed++
    }
  } finally {
    await client.close()
  }
  return { samples, failed }
}

/**
 * Opens `concurrency` streams at once (each on its own connection) and reads them to the end,
 * timestamping every piece of the body. Per stream: time to first body byte, duration, events
 * received, pieces that carried more than one event (coalesced), the longest silence between two
 * pieces, [DONE] seen. The reader is undici's `dispatch()`, whose handler gets each chunk of the
 * chunked encoding apart (one write of the relay), even when several arrived in one socket read: a
 * piece with two events is two events the relay wrote together, never the reader's own lag (a
 * Readable hands over whatever piled up since its last read in one piece).
 */
export async function streams (target, { concurrency, count = concurrency, expectEvents, timeoutMs }) {
  const url = new URL(target.url)
  const pool = new Pool(url.origin, { connections: concurrency, pipelining: 1, keepAliveTimeout: 60_000, bodyTimeout: timeoutMs, headersTimeout: timeoutMs })
  const results = []
  let next = 0
  const one = () => new Promise((resolve) => {
    const t0 = performance.now()
    const r = { ttfbUs: NaN, ms: NaN, events: 0, reads: 0, coalesced: 0, maxGapMs: 0, done: false, error: undefined }
    let last
    let abort
    const settle = (err) => {
      clearTimeout(timer)
      if (err !== undefined) r.error ??= err.message
      else if (r.error === undefined) r.ms = performance.now() - t0
      results.push(r)
      resolve()
    }
    const timer = setTimeout(() => abort?.(new Error('timeout')), timeoutMs)
    pool.dispatch({ path: url.pathname, method: 'POST', headers: target.headers, body: target.body }, {
      onConnect (a) { abort = a },
      onHeaders (statusCode) {
        if (statusCode !== 200) r.error = `status ${statusCode}`
        return true
      },
      onData (chunk) {
        if (r.error !== undefined) return true
        const now = performance.now()
        if (last === undefined) r.ttfbUs = (now - t0) * 1000
        else r.maxGapMs = Math.max(r.maxGapMs, now - last)
        last = now
        const n = countEvents(chunk)
        r.reads++
        r.events += n
        if (n > 1) r.coalesced++
        if (chunk.includes(DONE)) r.done = true
        return true
      },
      onComplete () { settle() },
      onError (err) { settle(err) },
    })
  })
  const worker = async () => { while (next++ < count) await one() }
  try {
    await Promise.all(Array.from({ length: concurrency }, worker))
  } finally {
    await pool.destroy()
  }
  const complete = results.filter((r) => r.done && r.error === undefined && (expectEvents === undefined || r.events === expectEvents))
  return { results, complete: complete.length }
}

const DATA = Buffer.from('data:')
const DONE = Buffer.from('data: [DONE]')

function countEvents (chunk) {
  let n = 0
  let at = -1
  while ((at = chunk.indexOf(DATA, at + 1)) !== -1) n++
  return n
}

export function median (values) {
  const sorted = [...values].filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return NaN
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** The median of `values[i] / bases[i]`: for two targets measured back to back in each round. */
export function medianRatio (values, bases) {
  return median(values.map((v, i) => v / bases[i]))
}

export function mean (values) {
  const finite = values.filter((v) => Number.isFinite(v))
  return finite.length === 0 ? NaN : finite.reduce((a, b) => a + b, 0) / finite.length
}

export function percentile (values, p) {
  const sorted = [...values].filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
}
