/**
 * A hostile upstream for redaction tests: a real `node:http` server on 127.0.0.1:<random port> that
 * puts the credential it received (the bearer token of `Authorization`) back into its answer, in
 * every form and on every channel a gateway relays: body (plain, JSON-escaped, URL-encoded, base64
 * and base64url at every alignment), bodies and events cut mid-secret across socket writes and
 * across events, response headers on 2xx and 4xx answers, error text around the MCP 500-char cut,
 * compressed bodies, and chat streams whose deltas spell the secret out piece by piece.
 *
 * The path selects the channel (`POST /<channel>`); every request is recorded once its body is read.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib'

/** Its plain, JSON-escaped and URL-encoded forms all differ (`+/=`, `"`, `\`). */
export const SECRET = 'sk-h0stile+/=sEcRet"quote\\back-0123456789'

/** Text that may precede the secret inside one base64 run, each shifting it to another alignment. */
export const BASE64_PREFIXES = [
  { label: 'none', prefix: '' },
  { label: 'u', prefix: 'u' },
  { label: 'us', prefix: 'us' },
  { label: 'user-colon', prefix: 'user:' },
  { label: 'authorization-bearer', prefix: 'Authorization: Bearer ' },
] as const

export type Base64Alphabet = 'base64' | 'base64url'

/** `base64-<label>` / `base64url-<label>`: the body holds base64(prefix + secret). */
export const BASE64_CHANNELS = (['base64', 'base64url'] as const).flatMap((alphabet) =>
  BASE64_PREFIXES.map(({ label, prefix }) => ({ name: `${alphabet}-${label}`, alphabet, prefix })))

/** 200 answers whose whole body holds one form of the secret (`plain` is text/plain: the plain
 * secret holds `"` and `\`, which JSON text cannot carry unescaped). */
export const BODY_CHANNELS = ['plain', 'json-escaped', 'url-encoded', ...BASE64_CHANNELS.map((c) => c.name)] as const

/** Offsets of the secret in the ~600-char `error-cut-<N>` bodies, around the 500-char cut. */
export const ERROR_CUT_OFFSETS = [480, 490, 495, 500, 505] as const
export const ERROR_CUT_LENGTH = 600

export const COMPRESSED_CHANNELS = ['gzip', 'br', 'deflate'] as const

export const CHANNELS: readonly string[] = [
  ...BODY_CHANNELS,
  'split-tcp',
  'sse-split-tcp',
  'sse-split-events',
  'header-200',
  'header-400',
  'nominated',
  ...ERROR_CUT_OFFSETS.map((n) => `error-cut-${n}`),
  ...COMPRESSED_CHANNELS,
  'gzip-400',
  'progress',
]

/** The error envelope `header-400` answers (no secret in it). */
export const HEADER_400_ENVELOPE = { error: { message: 'the request was refused', type: 'invalid_request_error', param: null, code: 'refused' } }

/** What the `progress` and `sse-*` streams say around the secret. */
export const PROGRESS_BEFORE = 'Here is the key: '
export const PROGRESS_AFTER = ' (keep it safe)'
export const STREAM_BEFORE = 'key='
export const STREAM_AFTER = ';'

/** The JSON-escaped form: what a JSON text holds between the quotes of the secret's string. */
export function jsonEscaped (secret: string): string {
  return JSON.stringify(secret).slice(1, -1)
}

export function urlEncoded (secret: string): string {
  return encodeURIComponent(secret)
}

export function base64Of (text: string, alphabet: Base64Alphabet): string {
  return Buffer.from(text).toString(alphabet)
}

/**
 * The `width`-character windows of base64(prefix + secret) that are the secret's own: the first and
 * last 4 characters are left out, and so are the characters of groups that hold a byte of the
 * prefix (for `Authorization: Bearer ` the first 28 characters encode only the prefix, which is no
 * secret and which a redactor cannot know).
 */
export function base64Windows (secret: string, width = 12): string[] {
  const windows = new Set<string>()
  const secretBytes = Buffer.byteLength(secret)
  for (const { prefix } of BASE64_PREFIXES) {
    const prefixBytes = Buffer.byteLength(prefix)
    for (const alphabet of ['base64', 'base64url'] as const) {
      const encoded = base64Of(prefix + secret, alphabet)
      const from = Math.max(4, Math.ceil(prefixBytes / 3) * 4)
      const to = Math.min(encoded.length - 4, Math.floor((prefixBytes + secretBytes) / 3) * 4)
      for (let i = from; i + width <= to; i++) windows.add(encoded.slice(i, i + width))
    }
  }
  return [...windows]
}

/** Every `width`-character piece of the secret itself. */
export function secretWindows (secret: string, width: number): string[] {
  const windows: string[] = []
  for (let i = 0; i + width <= secret.length; i++) windows.push(secret.slice(i, i + width))
  return windows
}

/** The forms of the secret found in a text, named (empty when there are none). */
export function secretFormsIn (text: string, secret = SECRET): string[] {
  const found: string[] = []
  if (text.includes(secret)) found.push('plain')
  if (text.includes(jsonEscaped(secret))) found.push('json-escaped')
  if (text.includes(urlEncoded(secret))) found.push('url-encoded')
  const window = base64Windows(secret).find((w) => text.includes(w))
  if (window !== undefined) found.push(`base64 window ${window}`)
  return found
}

/** The pieces of the secret of at least `width` characters found in a text. */
export function secretPiecesIn (text: string, width: number, secret = SECRET): string[] {
  return secretWindows(secret, width).filter((w) => text.includes(w))
}

export interface HostileRequest {
  method: string
  url: string
  headers: IncomingHttpHeaders
  body: string
}

export interface HostileUpstream {
  origin: string
  requests: HostileRequest[]
  close (): Promise<void>
}

const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' }
const DONE_EVENT = 'data: [DONE]\n\n'

/** An OpenAI-style chat completion chunk event. */
export function chunkEvent (delta: Record<string, unknown>, finish: string | null = null): string {
  return `data: ${JSON.stringify({ id: 'chatcmpl-hostile', object: 'chat.completion.chunk', created: 1, model: 'hostile', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`
}

function sendJson (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(typeof body === 'string' ? body : JSON.stringify(body))
}

/** Writes `text` in two writes `ms` apart, cut in the middle of `needle` (which must be in it). */
function writeCut (res: ServerResponse, text: string, needle: string, ms = 20, after?: string): void {
  const at = text.indexOf(needle)
  if (at === -1) throw new Error('the cut needle is not in the text')
  const cut = at + Math.floor(needle.length / 2)
  res.write(text.slice(0, cut))
  setTimeout(() => {
    if (res.destroyed) return
    res.write(text.slice(cut))
    res.end(after)
  }, ms)
}

/** Writes the events one by one, `ms` apart, then [DONE]. */
function writeEvents (res: ServerResponse, events: string[], ms: number): void {
  let i = 0
  const next = (): void => {
    if (res.destroyed) return
    if (i === events.length) {
      res.end(DONE_EVENT)
      return
    }
    res.write(events[i++])
    setTimeout(next, ms)
  }
  next()
}

function answer (req: IncomingMessage, res: ServerResponse): void {
  const auth = req.headers.authorization ?? ''
  const secret = auth.startsWith('Bearer ') ? auth.slice('Bearer '.length) : auth
  const channel = new URL(req.url ?? '/', 'http://upstream').pathname.slice(1)
  const base64 = BASE64_CHANNELS.find((c) => c.name === channel)
  if (base64 !== undefined) return sendJson(res, 200, { channel, echo: base64Of(base64.prefix + secret, base64.alphabet), tail: 'ok' })
  if (channel.startsWith('error-cut-')) {
    const offset = Number(channel.slice('error-cut-'.length))
    res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' })
    res.end('x'.repeat(offset) + secret + 'y'.repeat(Math.max(0, ERROR_CUT_LENGTH - offset - secret.length)))
    return
  }
  switch (channel) {
    case 'plain':
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' })
      res.end(`channel=plain echo=${secret} tail=ok`)
      return
    case 'json-escaped':
      // JSON.stringify puts the JSON-escaped form between the quotes
      return sendJson(res, 200, { channel, echo: secret, tail: 'ok' })
    case 'url-encoded':
      return sendJson(res, 200, { channel, echo: urlEncoded(secret), tail: 'ok' })
    case 'split-tcp':
      res.writeHead(200, { 'content-type': 'application/json' })
      return writeCut(res, JSON.stringify({ channel, echo: secret, tail: 'ok' }), jsonEscaped(secret))
    case 'sse-split-tcp':
      res.writeHead(200, SSE_HEADERS)
      res.write(chunkEvent({ role: 'assistant', content: '' }))
      return writeCut(res, chunkEvent({ content: STREAM_BEFORE + secret + STREAM_AFTER }, 'stop'), jsonEscaped(secret), 20, DONE_EVENT)
    case 'sse-split-events': {
      const half = Math.floor(secret.length / 2)
      res.writeHead(200, SSE_HEADERS)
      return writeEvents(res, [
        chunkEvent({ role: 'assistant', content: STREAM_BEFORE + secret.slice(0, half) }),
        chunkEvent({ content: secret.slice(half) + STREAM_AFTER }, 'stop'),
      ], 20)
    }
    case 'header-200':
      return sendJson(res, 200, { channel, tail: 'ok' }, { 'x-echo': auth, 'x-request-id': 'abc', 'retry-after': '3' })
    case 'header-400':
      return sendJson(res, 400, HEADER_400_ENVELOPE, { 'x-echo': auth, 'x-request-id': 'abc', 'retry-after': '3' })
    case 'nominated':
      return sendJson(res, 200, { channel, tail: 'ok' }, { connection: 'x-private', 'x-private': '1', 'x-kept': '1' })
    case 'gzip':
    case 'br':
    case 'deflate': {
      const body = Buffer.from(JSON.stringify({ echo: secret }))
      const compressed = channel === 'gzip' ? gzipSync(body) : channel === 'br' ? brotliCompressSync(body) : deflateSync(body)
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': channel, 'content-length': String(compressed.length) })
      res.end(compressed)
      return
    }
    case 'gzip-400': {
      const body = gzipSync(JSON.stringify({ error: { message: `rejected key ${secret} for this call`, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } }))
      res.writeHead(400, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': String(body.length) })
      res.end(body)
      return
    }
    case 'progress': {
      const pieces: string[] = []
      for (let i = 0; i < secret.length; i += 3) pieces.push(secret.slice(i, i + 3))
      res.writeHead(200, SSE_HEADERS)
      return writeEvents(res, [
        chunkEvent({ role: 'assistant', content: PROGRESS_BEFORE }),
        ...pieces.map((content) => chunkEvent({ content })),
        chunkEvent({ content: PROGRESS_AFTER }, 'stop'),
      ], 5)
    }
    default:
      return sendJson(res, 404, { error: { message: `no channel ${channel}`, type: 'invalid_request_error', param: null, code: null } })
  }
}

export async function startHostileUpstream (): Promise<HostileUpstream> {
  const requests: HostileRequest[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') })
      answer(req, res)
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    async close () {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
