/**
 * Fake OpenAI-compatible upstream for gateway tests.
 *
 * A real `node:http` server on 127.0.0.1:<random port> that speaks the wire
 * format of `POST /v1/chat/completions` and `POST /v1/responses` (JSON and
 * SSE), `POST /v1/embeddings`, `GET /v1/models`, the OpenAI error envelope and
 * the realistic response headers (x-request-id, openai-*, x-ratelimit-*,
 * cloudflare noise). Every request is recorded with
 * its raw body bytes so tests can assert what the gateway actually sent.
 *
 * Routes
 *   POST /v1/chat/completions   auth; validation; completion / SSE stream / tool calls
 *   POST /v1/responses          auth; validation; response / SSE stream / function calls
 *   GET  /v1/responses/:id      auth; a stored response, or 404
 *   POST /v1/embeddings         auth; validation; float or base64 vectors
 *   GET  /v1/models             auth; `{object:"list", data:[...]}`
 *   GET  /v1/models/:id         auth; one model (any id is known)
 *   ANY  /echo/...              NO auth; 200 `{method, path, url, query, headers, body}`
 *   anything else               auth; 404 `Invalid URL (METHOD /path)`, code `unknown_url`
 *
 * Content of a completion is deterministic: `echo: <text of the last user
 * message>` (content parts of type text are joined). Tool calls are produced
 * when `tools` has functions, `tool_choice` is not "none" and either
 * `tool_choice` forces a call ("required" -> first tool, or a named function)
 * or the last message is a user message that mentions a tool's name
 * (case-insensitive). Arguments are a JSON object built from the function's
 * `parameters` schema (required properties, or all if none are required):
 * strings get the last user text, numbers 1, booleans true, arrays [],
 * objects {}, enums their first value.
 * Usage: completion_tokens = number of streamed content pieces (one word each),
 * prompt_tokens = words in all messages + 3 per message + 3.
 * `max_tokens` / `max_completion_tokens` below that count cut the answer and
 * give finish_reason "length".
 *
 * Responses API: `input` is a string (one user message) or a list of items
 * (`message` items with role/content, with or without `type`; `function_call`;
 * `function_call_output` with call_id/output; `item_reference` to a stored
 * item), after the conversation of `previous_response_id` if given. A
 * `function_call_output` without a matching earlier `function_call` is a 400,
 * as on the real API. The answer is one output item:
 *   - a `function_call` when a function tool (`{type:'function', name,
 *     parameters}`) is chosen by the chat path's rule (tool_choice, or the
 *     last item is a user message naming the tool). Arguments: a JSON object
 *     written in the user text (`run shell {"command":["ls"]}`) if any, else
 *     sampled from the schema as on the chat path;
 *   - else a `message` whose text is `echo: <output>` when the input ends with
 *     a function_call_output, or `echo: <last user text>`.
 * Responses are stored unless `store: false` (GET, previous_response_id and
 * item_reference use them). Streams are named events (`event: <type>` +
 * `data: {type, sequence_number, ...}`) in the real order, one word per
 * `response.output_text.delta`, arguments in 8-character
 * `response.function_call_arguments.delta`s, ending with `response.completed`
 * and no `[DONE]`.
 * Embeddings: deterministic unit vectors per input text (1536 dimensions, 3072
 * for `*large*` models, or `dimensions`), floats or base64 float32 as
 * `encoding_format` asks (the openai SDK asks base64 by default).
 *
 * Magic controls (fault injection)
 *   Given either as header `x-fake-behaviour: <c1>,<c2>,...` (any route,
 *   including /echo; unknown names -> 400) or as the chat `model` value
 *   `fake-<c1>,<c2>` e.g. `model: "fake-429"`, `"fake-stream-delay:50"`
 *   (unknown names after `fake-` are ignored, so `fake-model` is a plain model).
 *   The `model` of /v1/responses and /v1/embeddings requests works the same way.
 *     429               429 rate_limit_exceeded (type "requests"), retry-after: 1,
 *                       retry-after-ms: 1000, x-ratelimit-remaining-requests: 0
 *     500               500 server_error envelope
 *     503               503 server_error envelope ("overloaded")
 *     model-not-found   404 model_not_found envelope
 *     slow:<ms>         wait <ms> before sending the response headers
 *     stream-delay:<ms> wait <ms> between SSE events (default 0)
 *     truncate          SSE: send role chunk + 2 content chunks, then destroy the
 *                       socket (no finish chunk, no [DONE]). JSON answers: send
 *                       headers (full content-length) + half the body, then destroy.
 *     end-without-done  SSE: same first 3 chunks, then end the response cleanly
 *                       without the finish chunk and without `data: [DONE]`.
 *                       Responses streams keep the events up to the second delta.
 *     hang              never answer (no headers); close() destroys the socket.
 *     echo-auth         chat and Responses: the answer text ends with
 *                       ` <the presented bearer key>`,
 *                       the key split over two delta events when streamed
 *                       (to test that a gateway scrubs a secret spelled across events).
 *   Order of effects: unknown header control -> 400, hang, slow, (echo answers
 *   here), auth -> 401, status faults, route.
 *
 * Recording: a request is pushed to `requests` once its body has been read
 * (or the client went away first). `aborted` turns true when the client closes
 * the connection before the response finished; sockets the fake destroys
 * itself (truncate, close()) are not client aborts.
 */
import http from 'node:http'
import { createHash, randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { setTimeout as sleepTimer } from 'node:timers/promises'
import type { AddressInfo } from 'node:net'

export interface RecordedRequest {
  method: string
  url: string
  headers: Record<string, string | string[] | undefined>
  body: Buffer
  json?: unknown
  /** becomes true if the client closed the socket before the response finished */
  aborted: boolean
}

export interface FakeOpenAI {
  /** e.g. http://127.0.0.1:PORT/v1 */
  url: string
  origin: string
  requests: RecordedRequest[]
  close(): Promise<void>
  /** resolve when n requests recorded */
  waitForRequests(n: number, timeoutMs?: number): Promise<void>
  /** ms from request start to abort */
  waitForAbort(index: number, timeoutMs?: number): Promise<number>
}

export interface FakeOpenAIOptions {
  apiKey?: string
  host?: string
  /** default 0: any free port */
  port?: number
}

const DEFAULT_API_KEY = 'sk-test-upstream'
const DEFAULT_WAIT_MS = 5000
const SYSTEM_FINGERPRINT = 'fp_f33640a400'
const RATE_LIMIT_REQUESTS = 10000
const RATE_LIMIT_TOKENS = 30000000
/** How many SSE events truncate / end-without-done send before cutting. */
const PARTIAL_STREAM_EVENTS = 3

// ---------------------------------------------------------------------------
// Magic controls
// ---------------------------------------------------------------------------

interface Controls {
  status?: 429 | 500 | 503 | 404
  slowMs: number
  streamDelayMs: number
  truncate: boolean
  endWithoutDone: boolean
  hang: boolean
  echoAuth: boolean
}

/** Applies one control token; returns false when the token is unknown. */
function applyControl (c: Controls, token: string): boolean {
  const colon = token.indexOf(':')
  const name = (colon < 0 ? token : token.slice(0, colon)).trim().toLowerCase()
  const arg = colon < 0 ? '' : token.slice(colon + 1).trim()
  const ms = Math.max(0, Number.parseInt(arg, 10) || 0)
  switch (name) {
    case '429': c.status = 429; return true
    case '500': c.status = 500; return true
    case '503': c.status = 503; return true
    case 'model-not-found': c.status = 404; return true
    case 'slow': c.slowMs = ms; return true
    case 'stream-delay': c.streamDelayMs = ms; return true
    case 'truncate': c.truncate = true; return true
    case 'end-without-done': c.endWithoutDone = true; return true
    case 'hang': c.hang = true; return true
    case 'echo-auth': c.echoAuth = true; return true
    default: return false
  }
}

function splitTokens (value: string): string[] {
  return value.split(',').map((t) => t.trim()).filter((t) => t.length > 0)
}

function defaultControls (): Controls {
  return { slowMs: 0, streamDelayMs: 0, truncate: false, endWithoutDone: false, hang: false, echoAuth: false }
}

/** Header controls are strict (typos fail loudly); `fake-*` model controls are lenient. */
function parseControls (header: string | string[] | undefined, model: unknown): { controls: Controls; unknown: string[] } {
  const controls = defaultControls()
  const unknown: string[] = []
  const headerValue = Array.isArray(header) ? header.join(',') : header ?? ''
  for (const token of splitTokens(headerValue)) {
    if (!applyControl(controls, token)) unknown.push(token)
  }
  if (typeof model === 'string' && model.startsWith('fake-')) {
    for (const token of splitTokens(model.slice('fake-'.length))) applyControl(controls, token)
  }
  return { controls, unknown }
}

// ---------------------------------------------------------------------------
// Small utilities
// ---------------------------------------------------------------------------

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

function randomAlnum (length: number): string {
  const bytes = randomBytes(length)
  let out = ''
  for (const b of bytes) out += ALNUM[b % ALNUM.length]
  return out
}

function randomHex (length: number): string {
  return randomBytes(Math.ceil(length / 2)).toString('hex').slice(0, length)
}

function isRecord (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function tryParseJson (buf: Buffer): { ok: true; value: unknown } | { ok: false } {
  if (buf.length === 0) return { ok: false }
  try {
    return { ok: true, value: JSON.parse(buf.toString('utf8')) as unknown }
  } catch {
    return { ok: false }
  }
}

/** Resolves true after ms, or false as soon as the signal aborts (client gone / server closing). */
async function sleep (ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false
  if (ms <= 0) return true
  try {
    await sleepTimer(ms, undefined, { signal })
    return true
  } catch {
    return false
  }
}

/** Words with their leading whitespace, so that pieces.join('') === text. */
function splitWords (text: string): string[] {
  return text.match(/\s*\S+|\s+$/gu) ?? []
}

function countWords (text: string): number {
  return text.match(/\S+/gu)?.length ?? 0
}

/** OpenAI shows the first 8 and last 4 characters of a wrong key; short keys verbatim. */
export function maskApiKey (key: string): string {
  if (key.length <= 12) return key
  return `${key.slice(0, 8)}${'*'.repeat(key.length - 12)}${key.slice(-4)}`
}

// ---------------------------------------------------------------------------
// Per-request state
// ---------------------------------------------------------------------------

interface RequestMeta {
  startedAt: number
  /** set when the client went away before the response finished */
  abortedAt?: number
  /** response finished, or the fake itself destroyed the socket */
  settledWithoutAbort: boolean
  /** the fake is about to destroy this socket on purpose */
  serverDestroying: boolean
}

interface Exchange {
  req: http.IncomingMessage
  res: http.ServerResponse
  record: RecordedRequest
  meta: RequestMeta
  path: string
  query: URLSearchParams
  /** aborts when the connection closes for any reason */
  signal: AbortSignal
  requestId: string
  controls: Controls
}

type Route = (ex: Exchange, state: ServerState) => Promise<void>

interface ServerState {
  apiKey: string
  requests: RecordedRequest[]
  meta: WeakMap<RecordedRequest, RequestMeta>
  events: EventEmitter
  served: number
  closed: boolean
  /** stored responses (`store` not false), for GET /v1/responses/:id and previous_response_id */
  responses: Map<string, StoredResponse>
  /** output items of stored responses, for `item_reference` inputs */
  items: Map<string, Item>
}

// ---------------------------------------------------------------------------
// Response writing
// ---------------------------------------------------------------------------

type HeaderMap = Record<string, string | string[]>

/** The headers api.openai.com sends on every answer (values are plausible, not real). */
function upstreamHeaders (ex: Exchange, state: ServerState, rateLimited: boolean): HeaderMap {
  const remaining = rateLimited ? 0 : Math.max(0, RATE_LIMIT_REQUESTS - state.served)
  const cookieExpiry = new Date(Date.now() + 30 * 60_000).toUTCString()
  return {
    'x-request-id': ex.requestId,
    'openai-organization': 'fake-org-upstream',
    'openai-project': 'proj_fakeUpstream000000000',
    'openai-processing-ms': String(Math.round(performance.now() - ex.meta.startedAt)),
    'openai-version': '2020-10-01',
    'x-ratelimit-limit-requests': String(RATE_LIMIT_REQUESTS),
    'x-ratelimit-limit-tokens': String(RATE_LIMIT_TOKENS),
    'x-ratelimit-remaining-requests': String(remaining),
    'x-ratelimit-remaining-tokens': String(RATE_LIMIT_TOKENS - 10),
    'x-ratelimit-reset-requests': rateLimited ? '1s' : '6ms',
    'x-ratelimit-reset-tokens': '0s',
    'access-control-expose-headers': 'X-Request-ID',
    'strict-transport-security': 'max-age=31536000; includeSubDomains; preload',
    'x-content-type-options': 'nosniff',
    'cf-cache-status': 'DYNAMIC',
    'set-cookie': [
      `__cf_bm=${randomAlnum(43)}-${Math.floor(Date.now() / 1000)}-1.0.1.1-${randomAlnum(20)}; path=/; expires=${cookieExpiry}; domain=.api.openai.com; HttpOnly; Secure; SameSite=None`,
      `_cfuvid=${randomAlnum(32)}-${Date.now()}-0.0.1.1-604800000; path=/; domain=.api.openai.com; HttpOnly; Secure; SameSite=None`,
    ],
    server: 'cloudflare',
    'cf-ray': `${randomHex(16)}-SJC`,
    'alt-svc': 'h3=":443"; ma=86400',
  }
}

/** Destroys the socket on purpose, so the close is not mistaken for a client abort. */
function destroyOnPurpose (ex: Exchange): void {
  ex.meta.serverDestroying = true
  ex.res.destroy()
}

function writeAndFlush (res: http.ServerResponse, data: string | Buffer): Promise<void> {
  return new Promise((resolve) => {
    if (res.destroyed) return resolve()
    res.write(data, () => resolve())
  })
}

/** Sends a JSON answer; honours `truncate` by cutting the body mid-way. */
async function sendJson (ex: Exchange, state: ServerState, status: number, body: unknown, extra: HeaderMap = {}): Promise<void> {
  if (ex.res.destroyed) return
  const payload = Buffer.from(JSON.stringify(body), 'utf8')
  ex.res.writeHead(status, {
    ...upstreamHeaders(ex, state, status === 429),
    ...extra,
    'content-type': 'application/json',
    'content-length': String(payload.length),
  })
  if (!ex.controls.truncate) {
    ex.res.end(payload)
    return
  }
  await writeAndFlush(ex.res, payload.subarray(0, Math.floor(payload.length / 2)))
  destroyOnPurpose(ex)
}

interface ErrorSpec {
  status: number
  message: string
  type: string
  param?: string | null
  code?: string | null
  headers?: HeaderMap
}

function sendError (ex: Exchange, state: ServerState, spec: ErrorSpec): Promise<void> {
  const envelope = { error: { message: spec.message, type: spec.type, param: spec.param ?? null, code: spec.code ?? null } }
  return sendJson(ex, state, spec.status, envelope, spec.headers)
}

// ---------------------------------------------------------------------------
// Canned errors (texts as api.openai.com words them)
// ---------------------------------------------------------------------------

function authError (authorization: string | undefined, apiKey: string): ErrorSpec | undefined {
  const match = /^Bearer\s+(.*)$/i.exec(authorization ?? '')
  const presented = match?.[1]?.trim()
  if (presented === apiKey) return undefined
  const message = presented
    ? `Incorrect API key provided: ${maskApiKey(presented)}. You can find your API key at https://platform.openai.com/account/api-keys.`
    : "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys."
  return { status: 401, message, type: 'invalid_request_error', code: 'invalid_api_key' }
}

function faultError (status: NonNullable<Controls['status']>, model: string): ErrorSpec {
  switch (status) {
    case 429:
      return {
        status,
        message: `Rate limit reached for ${model} in organization org-fakeupstream on requests per min (RPM): Limit ${RATE_LIMIT_REQUESTS}, Used ${RATE_LIMIT_REQUESTS}, Requested 1. Please try again in 1s. Visit https://platform.openai.com/account/rate-limits to learn more.`,
        type: 'requests',
        code: 'rate_limit_exceeded',
        headers: { 'retry-after': '1', 'retry-after-ms': '1000' },
      }
    case 500:
      return { status, message: 'The server had an error while processing your request. Sorry about that!', type: 'server_error' }
    case 503:
      return {
        status,
        message: 'That model is currently overloaded with other requests. You can retry your request, or contact us through our help center at help.openai.com if the error persists.',
        type: 'server_error',
      }
    case 404:
      return modelNotFound(model)
  }
}

function modelNotFound (model: string): ErrorSpec {
  return {
    status: 404,
    message: `The model \`${model}\` does not exist or you do not have access to it.`,
    type: 'invalid_request_error',
    code: 'model_not_found',
  }
}

const INVALID_JSON_MESSAGE =
  "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)"

function invalidRequest (message: string, param: string | null, code: string | null): ErrorSpec {
  return { status: 400, message, type: 'invalid_request_error', param, code }
}

function jsonTypeName (v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`
}

function validateModel (body: Record<string, unknown>): ErrorSpec | undefined {
  if (body.model === undefined || body.model === null || body.model === '') {
    return invalidRequest("Missing required parameter: 'model'.", 'model', 'missing_required_parameter')
  }
  if (typeof body.model !== 'string') {
    return invalidRequest(`Invalid type for 'model': expected a string, but got ${jsonTypeName(body.model)} instead.`, 'model', 'invalid_type')
  }
  return undefined
}

/** Mirrors OpenAI's checks of the two required fields; returns the first problem. */
function validateChatBody (parsed: { ok: true; value: unknown } | { ok: false }): ErrorSpec | undefined {
  if (!parsed.ok) return invalidRequest(INVALID_JSON_MESSAGE, null, null)
  const body = parsed.value
  if (!isRecord(body)) return invalidRequest(`Invalid type for request body: expected an object, but got ${jsonTypeName(body)} instead.`, null, 'invalid_type')
  const model = validateModel(body)
  if (model) return model
  if (body.messages === undefined || body.messages === null) {
    return invalidRequest("Missing required parameter: 'messages'.", 'messages', 'missing_required_parameter')
  }
  if (!Array.isArray(body.messages)) {
    return invalidRequest(`Invalid type for 'messages': expected an array, but got ${jsonTypeName(body.messages)} instead.`, 'messages', 'invalid_type')
  }
  if (body.messages.length === 0) {
    return invalidRequest("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", 'messages', 'empty_array')
  }
  const badIndex = body.messages.findIndex((m) => !isRecord(m) || typeof m.role !== 'string')
  if (badIndex >= 0) {
    return invalidRequest(`Missing required parameter: 'messages[${badIndex}].role'.`, `messages[${badIndex}].role`, 'missing_required_parameter')
  }
  return undefined
}

// ---------------------------------------------------------------------------
// Chat completion planning (what the "model" answers)
// ---------------------------------------------------------------------------

interface ChatMessage { role: string; content?: unknown }
interface FunctionTool { name: string; parameters?: unknown }

interface ChatPlan {
  id: string
  created: number
  model: string
  /** content pieces (one word each); empty when answering with a tool call */
  pieces: string[]
  toolCall?: { id: string; name: string; arguments: string }
  finishReason: 'stop' | 'length' | 'tool_calls'
  usage: Record<string, unknown>
  includeUsage: boolean
}

function messageText (message: ChatMessage | undefined): string {
  const content = message?.content
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) return ''
  return content
    .filter((p): p is { type: 'text'; text: string } => isRecord(p) && p.type === 'text' && typeof p.text === 'string')
    .map((p) => p.text)
    .join('')
}

function functionTools (tools: unknown): FunctionTool[] {
  if (!Array.isArray(tools)) return []
  const out: FunctionTool[] = []
  for (const t of tools) {
    if (isRecord(t) && isRecord(t.function) && typeof t.function.name === 'string') {
      out.push({ name: t.function.name, parameters: t.function.parameters })
    }
  }
  return out
}

/** Decides whether the fake model calls a tool (see the header comment for the rule). */
function chooseTool (body: Record<string, unknown>, messages: ChatMessage[], lastUserText: string): FunctionTool | undefined {
  const tools = functionTools(body.tools)
  const choice = body.tool_choice
  if (tools.length === 0 || choice === 'none') return undefined
  if (isRecord(choice) && isRecord(choice.function) && typeof choice.function.name === 'string') {
    const name = choice.function.name
    return tools.find((t) => t.name === name) ?? { name }
  }
  if (choice === 'required') return tools[0]
  if (messages.at(-1)?.role !== 'user') return undefined
  const text = lastUserText.toLowerCase()
  return tools.find((t) => text.includes(t.name.toLowerCase()))
}

function sampleValue (schema: unknown, text: string): unknown {
  if (!isRecord(schema)) return text
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0]
  switch (schema.type) {
    case 'number':
    case 'integer': return 1
    case 'boolean': return true
    case 'array': return []
    case 'object': return {}
    default: return text
  }
}

function sampleArguments (parameters: unknown, text: string): Record<string, unknown> {
  if (!isRecord(parameters) || !isRecord(parameters.properties)) return {}
  const properties = parameters.properties
  const required = Array.isArray(parameters.required) ? parameters.required.filter((r): r is string => typeof r === 'string') : []
  const names = required.length > 0 ? required : Object.keys(properties)
  const args: Record<string, unknown> = {}
  for (const name of names) args[name] = sampleValue(properties[name], text)
  return args
}

function completionLimit (body: Record<string, unknown>): number | undefined {
  const limit = body.max_completion_tokens ?? body.max_tokens
  return typeof limit === 'number' && limit >= 0 ? Math.floor(limit) : undefined
}

/** `extra`: pieces appended to the answer text (the `echo-auth` control). */
function planChat (body: Record<string, unknown>, extra: string[] = []): ChatPlan {
  const messages = (body.messages as unknown[]).filter(isRecord) as unknown as ChatMessage[]
  const lastUser = [...messages].reverse().find((m) => m.role === 'user')
  const lastUserText = messageText(lastUser)
  const promptTokens = messages.reduce((n, m) => n + countWords(messageText(m)) + 3, 3)
  const streamOptions = body.stream_options
  const base = {
    id: `chatcmpl-${randomAlnum(29)}`,
    created: Math.floor(Date.now() / 1000),
    model: String(body.model),
    includeUsage: isRecord(streamOptions) && streamOptions.include_usage === true,
  }

  const tool = chooseTool(body, messages, lastUserText)
  if (tool) {
    const args = JSON.stringify(sampleArguments(tool.parameters, lastUserText))
    const completionTokens = Math.max(1, Math.ceil(args.length / 4))
    return {
      ...base,
      pieces: [],
      toolCall: { id: `call_${randomAlnum(24)}`, name: tool.name, arguments: args },
      finishReason: 'tool_calls',
      usage: usageObject(promptTokens, completionTokens),
    }
  }

  let pieces = [...splitWords(`echo: ${lastUserText}`), ...extra]
  let finishReason: ChatPlan['finishReason'] = 'stop'
  const limit = completionLimit(body)
  if (limit !== undefined && limit < pieces.length) {
    pieces = pieces.slice(0, limit)
    finishReason = 'length'
  }
  return { ...base, pieces, finishReason, usage: usageObject(promptTokens, pieces.length) }
}

function usageObject (prompt: number, completion: number): Record<string, unknown> {
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  }
}

function toolCallObject (plan: ChatPlan): Record<string, unknown>[] | undefined {
  if (!plan.toolCall) return undefined
  const { id, name, arguments: args } = plan.toolCall
  return [{ id, type: 'function', function: { name, arguments: args } }]
}

function completionObject (plan: ChatPlan): Record<string, unknown> {
  const toolCalls = toolCallObject(plan)
  const message: Record<string, unknown> = {
    role: 'assistant',
    content: toolCalls ? null : plan.pieces.join(''),
    refusal: null,
    annotations: [],
  }
  if (toolCalls) message.tool_calls = toolCalls
  return {
    id: plan.id,
    object: 'chat.completion',
    created: plan.created,
    model: plan.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: plan.finishReason }],
    usage: plan.usage,
    service_tier: 'default',
    system_fingerprint: SYSTEM_FINGERPRINT,
  }
}

/** Splits a string into code-point-safe slices (tool arguments stream in small fragments). */
function fragments (text: string, size: number): string[] {
  const chars = Array.from(text)
  const out: string[] = []
  for (let i = 0; i < chars.length; i += size) out.push(chars.slice(i, i + size).join(''))
  return out
}

/** All SSE payloads of a stream, in order, without the final [DONE]. */
function streamChunks (plan: ChatPlan): Record<string, unknown>[] {
  const chunk = (delta: Record<string, unknown>, finishReason: string | null): Record<string, unknown> => ({
    id: plan.id,
    object: 'chat.completion.chunk',
    created: plan.created,
    model: plan.model,
    service_tier: 'default',
    system_fingerprint: SYSTEM_FINGERPRINT,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    // With include_usage, OpenAI sends `usage: null` on every chunk but the last.
    ...(plan.includeUsage ? { usage: null } : {}),
  })

  const chunks: Record<string, unknown>[] = []
  if (plan.toolCall) {
    const { id, name, arguments: args } = plan.toolCall
    chunks.push(chunk({ role: 'assistant', content: null, tool_calls: [{ index: 0, id, type: 'function', function: { name, arguments: '' } }], refusal: null }, null))
    for (const part of fragments(args, 8)) chunks.push(chunk({ tool_calls: [{ index: 0, function: { arguments: part } }] }, null))
  } else {
    chunks.push(chunk({ role: 'assistant', content: '', refusal: null }, null))
    for (const piece of plan.pieces) chunks.push(chunk({ content: piece }, null))
  }
  chunks.push(chunk({}, plan.finishReason))
  if (plan.includeUsage) {
    chunks.push({ ...chunk({}, null), choices: [], usage: plan.usage })
  }
  return chunks
}

function sendStream (ex: Exchange, state: ServerState, plan: ChatPlan): Promise<void> {
  const events = streamChunks(plan).map((c) => `data: ${JSON.stringify(c)}\n\n`)
  return writeEvents(ex, state, [...events, 'data: [DONE]\n\n'], PARTIAL_STREAM_EVENTS)
}

/**
 * Writes SSE events `stream-delay` apart. With `truncate` or `end-without-done` only the first
 * `partial` events go out, then the socket is destroyed or the response ends cleanly.
 */
async function writeEvents (ex: Exchange, state: ServerState, all: string[], partial: number): Promise<void> {
  const { res, controls } = ex
  res.writeHead(200, {
    ...upstreamHeaders(ex, state, false),
    'content-type': 'text/event-stream; charset=utf-8',
  })
  const events = controls.truncate || controls.endWithoutDone ? all.slice(0, partial) : all
  for (const [i, event] of events.entries()) {
    if (i > 0 && !(await sleep(controls.streamDelayMs, ex.signal))) return
    if (res.destroyed) return
    // Wait for the flush so a following destroy cannot swallow buffered chunks.
    await writeAndFlush(res, event)
  }
  if (controls.truncate) destroyOnPurpose(ex)
  else res.end()
}

// ---------------------------------------------------------------------------
// Responses API (POST /v1/responses, GET /v1/responses/:id)
// ---------------------------------------------------------------------------

type Item = Record<string, unknown>

/** A stored response and the conversation it ends (its input items, then its output). */
interface StoredResponse { response: Record<string, unknown>; conversation: Item[] }

interface ResponsePlan {
  id: string
  createdAt: number
  model: string
  body: Record<string, unknown>
  /** the output item: a message or a function call, status completed */
  item: Item
  /** message text pieces (one word each), or the function call's argument fragments */
  pieces: string[]
  usage: Record<string, unknown>
  conversation: Item[]
}

/** The `echo-auth` control: the presented key after the text, split over two pieces (two deltas). */
function authPieces (ex: Exchange): string[] {
  if (!ex.controls.echoAuth) return []
  const key = /^Bearer\s+(.*)$/i.exec(ex.req.headers.authorization ?? '')?.[1]?.trim() ?? ''
  const half = Math.ceil(key.length / 2)
  return [` ${key.slice(0, half)}`, key.slice(half)]
}

function validateResponsesBody (parsed: { ok: true; value: unknown } | { ok: false }): ErrorSpec | undefined {
  if (!parsed.ok) return invalidRequest(INVALID_JSON_MESSAGE, null, null)
  const body = parsed.value
  if (!isRecord(body)) return invalidRequest(`Invalid type for request body: expected an object, but got ${jsonTypeName(body)} instead.`, null, 'invalid_type')
  const model = validateModel(body)
  if (model) return model
  const input = body.input
  if ((input === undefined || input === null) && typeof body.previous_response_id !== 'string') {
    return invalidRequest("Missing required parameter: 'input'.", 'input', 'missing_required_parameter')
  }
  if (input !== undefined && input !== null && typeof input !== 'string' && !Array.isArray(input)) {
    return invalidRequest(`Invalid type for 'input': expected one of a string or an array of input items, but got ${jsonTypeName(input)} instead.`, 'input', 'invalid_type')
  }
  if (body.tools !== undefined && !Array.isArray(body.tools)) {
    return invalidRequest(`Invalid type for 'tools': expected an array, but got ${jsonTypeName(body.tools)} instead.`, 'tools', 'invalid_type')
  }
  return undefined
}

/**
 * The whole conversation the model sees: the previous response's conversation, then the input
 * (a string is one user message; `item_reference`s resolve to stored items). Every
 * `function_call_output` must answer a `function_call` before it, as the real API insists.
 */
function expandInput (state: ServerState, body: Record<string, unknown>): Item[] | ErrorSpec {
  const items: Item[] = []
  const previous = body.previous_response_id
  if (typeof previous === 'string') {
    const stored = state.responses.get(previous)
    if (!stored) return invalidRequest(`Previous response with id '${previous}' not found.`, 'previous_response_id', 'previous_response_not_found')
    items.push(...stored.conversation)
  }
  const input = body.input
  if (typeof input === 'string') items.push({ type: 'message', role: 'user', content: input })
  for (const [i, raw] of (Array.isArray(input) ? input : []).entries()) {
    if (!isRecord(raw)) return invalidRequest(`Invalid type for 'input[${i}]': expected an input item, but got ${jsonTypeName(raw)} instead.`, `input[${i}]`, 'invalid_type')
    if (raw.type === 'item_reference') {
      const found = typeof raw.id === 'string' ? state.items.get(raw.id) : undefined
      if (!found) return invalidRequest(`Item with id '${String(raw.id)}' not found.`, 'input', null)
      items.push(found)
    } else {
      items.push(raw.type === undefined && typeof raw.role === 'string' ? { type: 'message', ...raw } : raw)
    }
  }
  const calls = new Set<unknown>()
  for (const item of items) {
    if (item.type === 'function_call') calls.add(item.call_id)
    if (item.type === 'function_call_output' && !calls.has(item.call_id)) {
      return invalidRequest(`No tool call found for function call output with call_id ${String(item.call_id)}.`, 'input', null)
    }
  }
  return items
}

/** Text of a message content (string or parts) or of a function_call_output's output. */
function partsText (content: unknown): string {
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) return ''
  return content
    .filter((p): p is { text: string } => isRecord(p) && typeof p.text === 'string' && ['input_text', 'output_text', 'text'].includes(String(p.type)))
    .map((p) => p.text)
    .join('')
}

function itemText (item: Item): string {
  if (item.type === 'message') return partsText(item.content)
  if (item.type === 'function_call_output') return partsText(item.output)
  if (item.type === 'function_call') return typeof item.arguments === 'string' ? item.arguments : ''
  return ''
}

function isUserMessage (item: Item | undefined): boolean {
  return item?.type === 'message' && item.role === 'user'
}

/** Function tools of a Responses request: `{type: 'function', name, parameters}` (flat, unlike chat). */
function responseFunctionTools (tools: unknown): FunctionTool[] {
  if (!Array.isArray(tools)) return []
  return tools
    .filter((t): t is { name: string; parameters?: unknown } => isRecord(t) && t.type === 'function' && typeof t.name === 'string')
    .map((t) => ({ name: t.name, parameters: t.parameters }))
}

/** Same rule as the chat path: forced by tool_choice, or the last item is a user message naming a tool. */
function chooseResponseTool (body: Record<string, unknown>, items: Item[], lastUserText: string): FunctionTool | undefined {
  const tools = responseFunctionTools(body.tools)
  const choice = body.tool_choice
  if (tools.length === 0 || choice === 'none') return undefined
  if (isRecord(choice) && choice.type === 'function' && typeof choice.name === 'string') {
    const name = choice.name
    return tools.find((t) => t.name === name) ?? { name }
  }
  if (choice === 'required') return tools[0]
  if (!isUserMessage(items.at(-1))) return undefined
  const text = lastUserText.toLowerCase()
  return tools.find((t) => text.includes(t.name.toLowerCase()))
}

/** A JSON object written in the user text (`... {"command": ["ls"]}`) is taken as the arguments. */
function inlineArguments (text: string): Record<string, unknown> | undefined {
  const start = text.indexOf('{')
  const end = text.lastIndexOf('}')
  if (start < 0 || end < start) return undefined
  try {
    const value = JSON.parse(text.slice(start, end + 1)) as unknown
    return isRecord(value) ? value : undefined
  } catch {
    return undefined
  }
}

/** Echoes the request's tools as the real API does (function tools get `description` and `strict`). */
function echoTools (tools: unknown): unknown[] {
  if (!Array.isArray(tools)) return []
  return tools.map((t) => isRecord(t) && t.type === 'function'
    ? { type: 'function', description: null, strict: true, ...t }
    : t)
}

function responseUsage (input: number, output: number): Record<string, unknown> {
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: input + output,
  }
}

function messageItem (id: string, status: string, text: string | undefined): Item {
  const content = text === undefined ? [] : [{ type: 'output_text', annotations: [], logprobs: [], text }]
  return { id, type: 'message', status, content, role: 'assistant' }
}

function functionCallItem (id: string, status: string, call: { callId: string; name: string; arguments: string }): Item {
  return { id, type: 'function_call', status, arguments: call.arguments, call_id: call.callId, name: call.name }
}

function planResponse (body: Record<string, unknown>, items: Item[], extra: string[]): ResponsePlan {
  const lastUser = [...items].reverse().find(isUserMessage)
  const lastUserText = lastUser ? itemText(lastUser) : ''
  const instructions = typeof body.instructions === 'string' ? body.instructions : ''
  const inputTokens = items.reduce((n, item) => n + countWords(itemText(item)) + 3, countWords(instructions) + 3)
  const base = {
    id: `resp_${randomHex(48)}`,
    createdAt: Math.floor(Date.now() / 1000),
    model: String(body.model),
    body,
  }

  const tool = chooseResponseTool(body, items, lastUserText)
  if (tool) {
    const args = JSON.stringify(inlineArguments(lastUserText) ?? sampleArguments(tool.parameters, lastUserText))
    const call = { callId: `call_${randomAlnum(24)}`, name: tool.name, arguments: args }
    const item = functionCallItem(`fc_${randomHex(48)}`, 'completed', call)
    return { ...base, item, pieces: fragments(args, 8), usage: responseUsage(inputTokens, Math.max(1, Math.ceil(args.length / 4))), conversation: [...items, item] }
  }

  // After a tool ran, the answer echoes its output; otherwise the last user text.
  const last = items.at(-1)
  const echoed = last?.type === 'function_call_output' ? itemText(last) : lastUserText
  const pieces = [...splitWords(`echo: ${echoed}`), ...extra]
  const item = messageItem(`msg_${randomHex(48)}`, 'completed', pieces.join(''))
  return { ...base, item, pieces, usage: responseUsage(inputTokens, pieces.length), conversation: [...items, item] }
}

function responseObject (plan: ResponsePlan, status: 'in_progress' | 'completed', output: Item[]): Record<string, unknown> {
  const b = plan.body
  const completed = status === 'completed'
  return {
    id: plan.id,
    object: 'response',
    created_at: plan.createdAt,
    status,
    background: false,
    completed_at: completed ? plan.createdAt : null,
    error: null,
    incomplete_details: null,
    instructions: b.instructions ?? null,
    max_output_tokens: b.max_output_tokens ?? null,
    max_tool_calls: b.max_tool_calls ?? null,
    model: plan.model,
    output,
    parallel_tool_calls: b.parallel_tool_calls ?? true,
    previous_response_id: b.previous_response_id ?? null,
    prompt_cache_key: b.prompt_cache_key ?? null,
    reasoning: { effort: null, summary: null },
    safety_identifier: b.safety_identifier ?? null,
    service_tier: 'default',
    store: b.store ?? true,
    temperature: b.temperature ?? 1,
    text: isRecord(b.text) ? { format: { type: 'text' }, verbosity: 'medium', ...b.text } : { format: { type: 'text' }, verbosity: 'medium' },
    tool_choice: b.tool_choice ?? 'auto',
    tools: echoTools(b.tools),
    top_logprobs: b.top_logprobs ?? 0,
    top_p: b.top_p ?? 1,
    truncation: b.truncation ?? 'disabled',
    usage: completed ? plan.usage : null,
    user: b.user ?? null,
    metadata: b.metadata ?? {},
  }
}

/** Every event of a streamed response, in the order the real API sends them, without numbers. */
function responseEvents (plan: ResponsePlan): Item[] {
  const { item, pieces } = plan
  const id = String(item.id)
  const at = { output_index: 0 }
  const inProgress = responseObject(plan, 'in_progress', [])
  const events: Item[] = [
    { type: 'response.created', response: inProgress },
    { type: 'response.in_progress', response: inProgress },
  ]
  const obfuscation = (): string => randomAlnum(1 + Math.floor(Math.random() * 15))
  if (item.type === 'function_call') {
    const call = { callId: String(item.call_id), name: String(item.name), arguments: '' }
    events.push({ type: 'response.output_item.added', ...at, item: functionCallItem(id, 'in_progress', call) })
    for (const delta of pieces) events.push({ type: 'response.function_call_arguments.delta', item_id: id, ...at, delta, obfuscation: obfuscation() })
    events.push({ type: 'response.function_call_arguments.done', item_id: id, ...at, name: item.name, arguments: item.arguments })
  } else {
    const part = { content_index: 0 }
    const text = pieces.join('')
    events.push({ type: 'response.output_item.added', ...at, item: messageItem(id, 'in_progress', undefined) })
    events.push({ type: 'response.content_part.added', item_id: id, ...at, ...part, part: { type: 'output_text', annotations: [], logprobs: [], text: '' } })
    for (const delta of pieces) events.push({ type: 'response.output_text.delta', item_id: id, ...at, ...part, delta, logprobs: [], obfuscation: obfuscation() })
    events.push({ type: 'response.output_text.done', item_id: id, ...at, ...part, text, logprobs: [] })
    events.push({ type: 'response.content_part.done', item_id: id, ...at, ...part, part: { type: 'output_text', annotations: [], logprobs: [], text } })
  }
  events.push({ type: 'response.output_item.done', ...at, item })
  events.push({ type: 'response.completed', response: responseObject(plan, 'completed', [item]) })
  return events
}

function sendResponseStream (ex: Exchange, state: ServerState, plan: ResponsePlan): Promise<void> {
  const events = responseEvents(plan)
  const lines = events.map(({ type, ...rest }, sequence) =>
    `event: ${String(type)}\ndata: ${JSON.stringify({ type, sequence_number: sequence, ...rest })}\n\n`)
  // truncate / end-without-done: cut after the first two deltas, like the chat path
  const firstDelta = events.findIndex((e) => String(e.type).endsWith('.delta'))
  return writeEvents(ex, state, lines, firstDelta < 0 ? PARTIAL_STREAM_EVENTS : firstDelta + 2)
}

async function handleResponses (ex: Exchange, state: ServerState): Promise<void> {
  const parsed = tryParseJson(ex.record.body)
  const problem = validateResponsesBody(parsed)
  if (problem) return sendError(ex, state, problem)
  const body = (parsed as { ok: true; value: Record<string, unknown> }).value
  const items = expandInput(state, body)
  if (!Array.isArray(items)) return sendError(ex, state, items)
  const plan = planResponse(body, items, authPieces(ex))
  const final = responseObject(plan, 'completed', [plan.item])
  if (body.store !== false) {
    state.responses.set(plan.id, { response: final, conversation: plan.conversation })
    state.items.set(String(plan.item.id), plan.item)
  }
  if (body.stream === true) return sendResponseStream(ex, state, plan)
  return sendJson(ex, state, 200, final)
}

function handleGetResponse (id: string): Route {
  return (ex, state) => {
    const stored = state.responses.get(id)
    if (stored) return sendJson(ex, state, 200, stored.response)
    return sendError(ex, state, { status: 404, message: `Response with id '${id}' not found.`, type: 'invalid_request_error', param: null, code: null })
  }
}

// ---------------------------------------------------------------------------
// Embeddings (POST /v1/embeddings)
// ---------------------------------------------------------------------------

function isTokenArray (v: unknown): v is number[] {
  return Array.isArray(v) && v.length > 0 && v.every((n) => Number.isInteger(n))
}

/** The inputs to embed: a string, a token array, or a non-empty list of either. */
function embeddingInputs (input: unknown): Array<string | number[]> | undefined {
  if (typeof input === 'string') return input === '' ? undefined : [input]
  if (isTokenArray(input)) return [input]
  if (!Array.isArray(input) || input.length === 0) return undefined
  const ok = input.every((v) => (typeof v === 'string' && v !== '') || isTokenArray(v))
  return ok ? input as Array<string | number[]> : undefined
}

function validateEmbeddingsBody (parsed: { ok: true; value: unknown } | { ok: false }): ErrorSpec | undefined {
  if (!parsed.ok) return invalidRequest(INVALID_JSON_MESSAGE, null, null)
  const body = parsed.value
  if (!isRecord(body)) return invalidRequest(`Invalid type for request body: expected an object, but got ${jsonTypeName(body)} instead.`, null, 'invalid_type')
  const model = validateModel(body)
  if (model) return model
  if (body.input === undefined || body.input === null) {
    return invalidRequest("Missing required parameter: 'input'.", 'input', 'missing_required_parameter')
  }
  if (!embeddingInputs(body.input)) {
    return invalidRequest("'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", 'input', null)
  }
  if (body.encoding_format !== undefined && body.encoding_format !== 'float' && body.encoding_format !== 'base64') {
    return invalidRequest(`Invalid value for 'encoding_format': expected one of 'float' or 'base64', but got '${String(body.encoding_format)}'.`, 'encoding_format', 'invalid_value')
  }
  return undefined
}

/** A deterministic unit vector for a text, in float32 precision (what the API returns). */
function embeddingVector (seed: string, dimensions: number): number[] {
  const raw: number[] = []
  for (let block = 0; raw.length < dimensions; block++) {
    const digest = createHash('sha256').update(`${seed}\u0000${block}`).digest()
    for (let i = 0; i + 1 < digest.length && raw.length < dimensions; i += 2) raw.push(digest.readUInt16LE(i) / 32767.5 - 1)
  }
  const norm = Math.sqrt(raw.reduce((sum, v) => sum + v * v, 0)) || 1
  return raw.map((v) => Math.fround(v / norm))
}

function embeddingDimensions (body: Record<string, unknown>): number {
  if (typeof body.dimensions === 'number' && Number.isInteger(body.dimensions) && body.dimensions > 0) return body.dimensions
  return String(body.model).includes('large') ? 3072 : 1536
}

function handleEmbeddings (ex: Exchange, state: ServerState): Promise<void> {
  const parsed = tryParseJson(ex.record.body)
  const problem = validateEmbeddingsBody(parsed)
  if (problem) return sendError(ex, state, problem)
  const body = (parsed as { ok: true; value: Record<string, unknown> }).value
  const inputs = embeddingInputs(body.input) ?? []
  const dimensions = embeddingDimensions(body)
  const data = inputs.map((input, index) => {
    const vector = embeddingVector(typeof input === 'string' ? input : input.join(','), dimensions)
    const embedding = body.encoding_format === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector
    return { object: 'embedding', index, embedding }
  })
  const tokens = inputs.reduce((n, input) => n + (typeof input === 'string' ? countWords(input) : input.length), 0)
  return sendJson(ex, state, 200, { object: 'list', data, model: String(body.model), usage: { prompt_tokens: tokens, total_tokens: tokens } })
}

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------

async function handleChat (ex: Exchange, state: ServerState): Promise<void> {
  const parsed = tryParseJson(ex.record.body)
  const problem = validateChatBody(parsed)
  if (problem) return sendError(ex, state, problem)
  const body = (parsed as { ok: true; value: Record<string, unknown> }).value
  const plan = planChat(body, authPieces(ex))
  if (body.stream === true) return sendStream(ex, state, plan)
  return sendJson(ex, state, 200, completionObject(plan))
}

const MODELS = ['gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'gpt-4.1-mini', 'o3-mini', 'gpt-5']

function modelObject (id: string): Record<string, unknown> {
  return { id, object: 'model', created: 1715367049, owned_by: 'system' }
}

function handleModels (ex: Exchange, state: ServerState): Promise<void> {
  return sendJson(ex, state, 200, { object: 'list', data: MODELS.map(modelObject) })
}

function queryObject (query: URLSearchParams): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const key of new Set(query.keys())) {
    const values = query.getAll(key)
    out[key] = values.length === 1 ? values[0] ?? '' : values
  }
  return out
}

function handleEcho (ex: Exchange, state: ServerState): Promise<void> {
  const parsed = tryParseJson(ex.record.body)
  return sendJson(ex, state, 200, {
    method: ex.record.method,
    path: ex.path,
    url: ex.record.url,
    query: queryObject(ex.query),
    headers: { ...ex.req.headers },
    body: parsed.ok ? parsed.value : ex.record.body.toString('utf8'),
  })
}

function findRoute (method: string, path: string): Route | undefined {
  if (method === 'POST' && path === '/v1/chat/completions') return handleChat
  if (method === 'POST' && path === '/v1/responses') return handleResponses
  if (method === 'POST' && path === '/v1/embeddings') return handleEmbeddings
  if (method === 'GET' && path === '/v1/models') return handleModels
  const response = /^\/v1\/responses\/([^/]+)$/.exec(path)
  if (method === 'GET' && response?.[1]) return handleGetResponse(decodeURIComponent(response[1]))
  const model = /^\/v1\/models\/([^/]+)$/.exec(path)
  if (method === 'GET' && model?.[1]) {
    const id = decodeURIComponent(model[1])
    return (ex, state) => sendJson(ex, state, 200, modelObject(id))
  }
  return undefined
}

// ---------------------------------------------------------------------------
// Request pipeline
// ---------------------------------------------------------------------------

/** Routes whose JSON `model` may carry `fake-*` controls. */
const MODEL_CONTROL_PATHS = new Set(['/v1/chat/completions', '/v1/responses', '/v1/embeddings'])

function readBody (req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    const done = (): void => resolve(Buffer.concat(chunks))
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', done)
    // A client that vanishes mid-upload still gets recorded, with the partial body.
    req.on('close', done)
    req.on('error', done)
  })
}

function isEchoPath (path: string): boolean {
  return path === '/echo' || path.startsWith('/echo/')
}

/** Parses the path without normalising it, so tests see exactly what the gateway sent. */
function splitUrl (rawUrl: string): { path: string; query: URLSearchParams } {
  const q = rawUrl.indexOf('?')
  return q < 0
    ? { path: rawUrl, query: new URLSearchParams() }
    : { path: rawUrl.slice(0, q), query: new URLSearchParams(rawUrl.slice(q + 1)) }
}

function pushRecord (state: ServerState, record: RecordedRequest): void {
  if (state.requests.includes(record)) return
  state.requests.push(record)
  state.events.emit('change')
}

/** Watches the connection: settles the request as finished, aborted, or closed by us. */
function trackLifecycle (state: ServerState, ex: Exchange, controller: AbortController): void {
  ex.res.on('error', () => { /* writes after a client abort must not crash the fake */ })
  ex.res.on('close', () => {
    controller.abort()
    if (ex.res.writableFinished || ex.meta.serverDestroying || state.closed) {
      ex.meta.settledWithoutAbort = true
    } else {
      ex.record.aborted = true
      ex.meta.abortedAt = performance.now()
    }
    pushRecord(state, ex.record)
    state.events.emit('change')
  })
}

async function handle (state: ServerState, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const meta: RequestMeta = { startedAt: performance.now(), settledWithoutAbort: false, serverDestroying: false }
  const record: RecordedRequest = { method: req.method ?? 'GET', url: req.url ?? '/', headers: { ...req.headers }, body: Buffer.alloc(0), aborted: false }
  state.meta.set(record, meta)
  const controller = new AbortController()
  const { path, query } = splitUrl(record.url)
  const ex: Exchange = {
    req,
    res,
    record,
    meta,
    path,
    query,
    signal: controller.signal,
    requestId: `req_${randomHex(32)}`,
    controls: defaultControls(), // replaced once the body (and so `model`) is known
  }
  trackLifecycle(state, ex, controller)

  record.body = await readBody(req)
  const parsed = tryParseJson(record.body)
  if (parsed.ok) record.json = parsed.value
  pushRecord(state, record)
  state.served += 1

  const model = MODEL_CONTROL_PATHS.has(path) && parsed.ok && isRecord(parsed.value) ? parsed.value.model : undefined
  const { controls, unknown } = parseControls(req.headers['x-fake-behaviour'], model)
  ex.controls = controls

  if (unknown.length > 0) {
    return sendError(ex, state, invalidRequest(`Unknown x-fake-behaviour control(s): ${unknown.join(', ')}`, null, 'unknown_fake_behaviour'))
  }
  if (controls.hang) return // the socket stays open until the client or close() ends it
  if (!(await sleep(controls.slowMs, ex.signal))) return
  if (isEchoPath(path)) {
    if (controls.status) return sendError(ex, state, faultError(controls.status, 'echo'))
    return handleEcho(ex, state)
  }

  const auth = authError(req.headers.authorization, state.apiKey)
  if (auth) return sendError(ex, state, auth)
  if (controls.status) return sendError(ex, state, faultError(controls.status, typeof model === 'string' ? model : 'gpt-4o'))

  const route = findRoute(record.method, path)
  if (!route) {
    return sendError(ex, state, { ...invalidRequest(`Invalid URL (${record.method} ${path})`, null, 'unknown_url'), status: 404 })
  }
  return route(ex, state)
}

/** Last-resort guard: a bug in the fake must show up as a 500, never as a crashed test run. */
function handleSafely (state: ServerState, req: http.IncomingMessage, res: http.ServerResponse): void {
  handle(state, req, res).catch((err: unknown) => {
    try {
      if (res.headersSent) {
        res.destroy()
        return
      }
      const body = JSON.stringify({ error: { message: `fake-openai internal error: ${String(err)}`, type: 'server_error', param: null, code: null } })
      res.writeHead(500, { 'content-type': 'application/json' }).end(body)
    } catch {
      res.destroy()
    }
  })
}

// ---------------------------------------------------------------------------
// Waiting helpers
// ---------------------------------------------------------------------------

/**
 * Re-evaluates `check` on every state change until it yields a value (resolve),
 * an Error (reject) or the timeout passes.
 */
function waitUntil<T> (state: ServerState, check: () => T | Error | undefined, timeoutMs: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const evaluate = (): boolean => {
      const result = check()
      if (result === undefined) return false
      cleanup()
      if (result instanceof Error) reject(result)
      else resolve(result)
      return true
    }
    const onChange = (): void => { evaluate() }
    const timer = setTimeout(() => {
      cleanup()
      reject(new Error(`fake-openai: timed out after ${timeoutMs}ms waiting for ${what}`))
    }, timeoutMs)
    const cleanup = (): void => {
      clearTimeout(timer)
      state.events.off('change', onChange)
    }
    state.events.on('change', onChange)
    evaluate()
  })
}

// ---------------------------------------------------------------------------
// Public entry point
// ---------------------------------------------------------------------------

function formatOrigin (host: string, port: number): string {
  return host.includes(':') ? `http://[${host}]:${port}` : `http://${host}:${port}`
}

export async function startFakeOpenAI (opts: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const host = opts.host ?? '127.0.0.1'
  const state: ServerState = {
    apiKey: opts.apiKey ?? DEFAULT_API_KEY,
    requests: [],
    meta: new WeakMap(),
    events: new EventEmitter(),
    served: 0,
    closed: false,
    responses: new Map(),
    items: new Map(),
  }
  state.events.setMaxListeners(0)

  const server = http.createServer((req, res) => handleSafely(state, req, res))
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  const origin = formatOrigin(host, port)

  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      state.closed = true
      state.events.emit('change') // fail pending waiters right away
      server.close(() => resolve())
      server.closeAllConnections() // includes hanging and streaming requests
    })
    return closing
  }

  const waitForRequests = (n: number, timeoutMs = DEFAULT_WAIT_MS): Promise<void> =>
    waitUntil(state, () => {
      if (state.requests.length >= n) return true
      if (state.closed) return new Error(`fake-openai closed with ${state.requests.length}/${n} requests recorded`)
      return undefined
    }, timeoutMs, `${n} request(s), have ${state.requests.length}`).then(() => undefined)

  const waitForAbort = (index: number, timeoutMs = DEFAULT_WAIT_MS): Promise<number> =>
    waitUntil(state, () => {
      const record = state.requests[index]
      const meta = record ? state.meta.get(record) : undefined
      if (meta?.abortedAt !== undefined) return meta.abortedAt - meta.startedAt
      if (meta?.settledWithoutAbort) return new Error(`fake-openai: request ${index} ended without a client abort`)
      if (state.closed) return new Error(`fake-openai closed before request ${index} was aborted`)
      return undefined
    }, timeoutMs, `client abort of request ${index}`)

  return { url: `${origin}/v1`, origin, requests: state.requests, close, waitForRequests, waitForAbort }
}
