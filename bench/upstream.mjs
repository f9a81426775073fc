// A fast OpenAI-compatible upstream for the benchmark (run as its own process).
//   POST .../chat/completions   a JSON completion, or an SSE stream when the body has "stream":true
// A stream is a role chunk, N content chunks, a finish chunk and `data: [DONE]`. With no gap (the
// throughput runs) it is one write; the body fields "bench_gap_ms":G and "bench_chunks":N (they
// travel through any gateway untouched) ask for realistic streaming: the role chunk at once, then
// every event G ms after the previous one, each its own write. Everything else is precomputed: the
// upstream must cost little CPU, since it shares the 2 cores with the load generator and the proxy.
// Prints `listening PORT` on stdout.
import http from 'node:http'

const DEFAULT_CHUNKS = 16
const CREATED = Math.floor(Date.now() / 1000)

const completion = Buffer.from(JSON.stringify({
  id: 'chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT',
  object: 'chat.completion',
  created: CREATED,
  model: 'gpt-4o-mini-2024-07-18',
  choices: [{
    index: 0,
    message: { role: 'assistant', content: 'Hello! The benchmark upstream answers every request with this same short paragraph, so that the size of a response stays realistic and constant.', refusal: null, annotations: [] },
    logprobs: null,
    finish_reason: 'stop',
  }],
  usage: { prompt_tokens: 19, completion_tokens: 28, total_tokens: 47, prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 } },
  service_tier: 'default',
  system_fingerprint: 'fp_f33640a400',
}))

const common = {
  'x-request-id': 'req_2b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e',
  'openai-organization': 'bench-org',
  'openai-processing-ms': '212',
  'openai-version': '2020-10-01',
  'x-ratelimit-limit-requests': '10000',
  'x-ratelimit-remaining-requests': '9999',
  'x-ratelimit-reset-requests': '6ms',
}
const jsonHeaders = { ...common, 'content-type': 'application/json', 'content-length': String(completion.length) }
const sseHeaders = { ...common, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' }

const chunk = (delta, finish) => Buffer.from(`data: ${JSON.stringify({ id: 'chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT', object: 'chat.completion.chunk', created: CREATED, model: 'gpt-4o-mini-2024-07-18', system_fingerprint: 'fp_f33640a400', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`)
const streams = new Map()
function eventsOf (n) {
  let events = streams.get(n)
  if (events === undefined) {
    events = [chunk({ role: 'assistant', content: '', refusal: null }, null)]
    for (let i = 0; i < n; i++) events.push(chunk({ content: ` word${i}` }, null))
    events.push(chunk({}, 'stop'))
    events.push(Buffer.from('data: [DONE]\n\n'))
    events.whole = Buffer.concat(events)
    streams.set(n, events)
  }
  return events
}
const STREAM_FLAG = Buffer.from('"stream":true')
const GAP_FIELD = Buffer.from('"bench_gap_ms":')
const CHUNKS_FIELD = Buffer.from('"bench_chunks":')
function field (body, name, fallback) {
  const at = body.indexOf(name)
  if (at === -1) return fallback
  const n = Number.parseInt(body.subarray(at + name.length, at + name.length + 12).toString('latin1'), 10)
  return Number.isFinite(n) && n >= 0 ? n : fallback
}

const server = http.createServer((req, res) => {
  const parts = []
  req.on('data', (d) => parts.push(d))
  req.on('end', () => {
    if (req.method !== 'POST' || !req.url.endsWith('/chat/completions')) {
      res.writeHead(404, { 'content-type': 'application/json' })
      return res.end('{"error":{"message":"not found","type":"invalid_request_error","param":null,"code":"unknown_url"}}')
    }
    const body = parts.length === 1 ? parts[0] : Buffer.concat(parts)
    if (body.indexOf(STREAM_FLAG) === -1) {
      res.writeHead(200, jsonHeaders)
      return res.end(completion)
    }
    res.writeHead(200, sseHeaders)
    const gap = field(body, GAP_FIELD, 0)
    const events = eventsOf(Math.min(field(body, CHUNKS_FIELD, DEFAULT_CHUNKS), 10_000))
    if (gap === 0) return res.end(events.whole)
    let i = 0
    let timer
    const next = () => {
      res.write(events[i++])
      if (i === events.length) return res.end()
      timer = setTimeout(next, gap)
    }
    res.on('close', () => clearTimeout(timer))
    next()
  })
})
server.keepAliveTimeout = 60_000
server.headersTimeout = 0
server.requestTimeout = 0
// a deep accept queue: the many-streams row opens thousands of connections to it at once
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => process.stdout.write(`listening ${server.address().port}\n`))
process.on('SIGTERM', () => process.exit(0))
