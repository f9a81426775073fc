// The load generator of the many-streams row, run as its own process (it holds one socket per
// stream): opens `count` SSE streams at once, each on an undici Client of its own (a Pool of that
// many connections would scan its clients for a free one on every request), reads each to its end
// and checks it event by event. Prints one JSON line with the result.
//   node bench/lib/stream-load.mjs '{"url":...,"headers":{},"body":"...","count":N,"chunks":C,"timeoutMs":T}'
// A stream is intact when it carries, in order, the role event, the C content events " word0" ..,
// the finish event and `data: [DONE]`, and nothing else. Inter-chunk gap: the time between two
// events' arrival (events that arrive in one read have a gap of 0).
import { Client } from 'undici'

const { url, headers, body, count, chunks, timeoutMs } = JSON.parse(process.argv[2])
const target = new URL(url)
const clientOptions = { pipelining: 1, connect: { timeout: timeoutMs }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs }
const expected = chunks + 3
const gaps = new Float64Array(count * (expected - 1))
let gapCount = 0
const headersMs = []
const errors = {}
let intact = 0
let broken = 0
let resets = 0
const brokenExamples = new Set()

/** event `i` of an intact stream */
function inOrder (event, i) {
  if (i === 0) return event.startsWith('data: {') && event.includes('"role":"assistant"')
  if (i <= chunks) return event.startsWith('data: {') && event.includes(`"content":" word${i - 1}"`)
  if (i === chunks + 1) return event.startsWith('data: {') && event.includes('"finish_reason":"stop"')
  if (i === chunks + 2) return event === 'data: [DONE]'
  return false
}

async function one (t0) {
  const client = new Client(target.origin, clientOptions)
  try {
    const res = await client.request({ path: target.pathname, method: 'POST', headers, body })
    headersMs.push(performance.now() - t0)
    if (res.statusCode !== 200) {
      await res.body.dump()
      throw Object.assign(new Error(`status ${res.statusCode}`), { code: `HTTP_${res.statusCode}` })
    }
    let buffered = ''
    let index = 0
    let last
    let wrong
    for await (const chunk of res.body) {
      const now = performance.now()
      buffered += chunk.toString('utf8')
      let end
      while ((end = buffered.indexOf('\n\n')) !== -1) {
        const event = buffered.slice(0, end)
        buffered = buffered.slice(end + 2)
        if (event.startsWith(':')) continue // an SSE comment is not an event
        if (wrong === undefined && !inOrder(event, index)) wrong = `event ${index}: ${event.slice(0, 60)}`
        if (last !== undefined && gapCount < gaps.length) gaps[gapCount++] = now - last
        last = now
        index++
      }
    }
    if (wrong === undefined && index !== expected) wrong = `${index} of ${expected} events`
    if (wrong === undefined && buffered.trim() !== '') wrong = `trailing bytes: ${buffered.slice(0, 60)}`
    if (wrong === undefined) {
      intact++
    } else {
      broken++
      if (brokenExamples.size < 3) brokenExamples.add(wrong)
    }
  } catch (err) {
    const code = err.code ?? err.name
    const cause = err.cause?.code
    if (code === 'ECONNRESET' || cause === 'ECONNRESET' || code === 'UND_ERR_SOCKET') resets++
    const key = cause === undefined ? code : `${code}/${cause}`
    errors[key] = (errors[key] ?? 0) + 1
  } finally {
    client.close().catch(() => {})
  }
}

const t0 = performance.now()
const cpu0 = process.cpuUsage()
await Promise.all(Array.from({ length: count }, () => one(t0)))
const wallMs = performance.now() - t0
const cpu = process.cpuUsage(cpu0)
const sorted = gaps.subarray(0, gapCount).sort()
const headersSorted = Float64Array.from(headersMs).sort()
process.stdout.write(JSON.stringify({
  count,
  intact,
  broken,
  brokenExamples: [...brokenExamples],
  resets,
  errors,
  gapP50Ms: at(sorted, 50),
  gapP99Ms: at(sorted, 99),
  gapMaxMs: sorted.length === 0 ? NaN : sorted[sorted.length - 1],
  gaps: gapCount,
  headersP50Ms: at(headersSorted, 50),
  headersP99Ms: at(headersSorted, 99),
  headersMaxMs: headersSorted.length === 0 ? NaN : headersSorted[headersSorted.length - 1],
  wallMs,
  cpuMs: (cpu.user + cpu.system) / 1000,
}) + '\n')
process.exit(0)

function at (sorted, p) {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
}
