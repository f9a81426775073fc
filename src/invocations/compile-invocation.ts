import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'
import { pipeline, type Readable, type Transform } from 'node:stream'
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib'
import type { AggregateFunction, Invocable, Target } from '../capability/model.js'
import type { Redactor } from '../bindings/redact.js'
import type { Consumers, ConsumedOperationRuntime } from '../consumers/build-consumers.js'
import { sendUpstream, type UpstreamResponse, type UpstreamSignal } from '../consumers/send-upstream.js'
import { NaftikoError } from '../errors/naftiko-error.js'
import { plainValue, type CallContext, type CallInputs } from '../expressions/call-context.js'
import { compileValue, type ExpressionScope, type ValueExpression } from '../expressions/compile-value.js'
import { normalizeName } from '../expressions/template.js'
import { MAX_JSON_DEPTH } from '../server/json-body.js'
import { checkJson } from '../server/json-check.js'
import type { Logger } from '../server/logger.js'
import { assembleEventStream, type StreamProgress } from './assemble-stream.js'
import { compileOutputMapping } from './compile-mapping.js'
import { compileSteps } from './orchestration/compile-steps.js'
import type { OutputFormats } from './formats/load-output-formats.js'
import { jsonOutcome, type AnswerShape, type Outcome } from './outcome.js'
import { relayHeaders } from './response-headers.js'
import { UpstreamBody } from './upstream-body.js'

/** A REST operation or MCP tool, compiled once at startup. */
export interface Invocation {
  /** the consumed operation it calls, when it calls one (MCP derives argument schemas from it) */
  readonly operation: ConsumedOperationRuntime | undefined
  /** Runs the call and says what it came to; never throws. */
  invoke (inputs: CallInputs, signal: UpstreamSignal): Promise<Outcome>
}

export interface InvocationContext {
  readonly consumers: Consumers
  readonly scope: ExpressionScope
  readonly redactor: Redactor
  readonly logger: Logger
  /** the most an upstream answer read whole may hold */
  readonly responseLimit: number
  /** aggregate functions compiled so far: every `ref` that adds nothing of its own shares one */
  readonly functions: Map<AggregateFunction, Invocation>
  /** converters of answers in another format than JSON, by `namespace.operation` */
  readonly formats: OutputFormats
}

const NO_ARGS: ReadonlyMap<string, unknown> = new Map()

export function compileInvocation (item: Invocable, context: InvocationContext): Invocation {
  const target = item.target
  switch (target.kind) {
    case 'mock': return compileMock(item, context)
    case 'steps': return compileSteps(item, target, context)
    case 'ref': return compileRef(item, target, context)
    case 'none': return unsupportedInvocation('no call')
    case 'call': {
      const operation = context.consumers.operation(target.call)
      if (operation === undefined) return unsupportedInvocation(`call ${target.call}`)
      // a call that cannot carry its declared credential is never made
      if (operation.unsupported !== undefined) return { ...unsupportedInvocation(operation.unsupported), operation }
      return compileCall(item, operation, context)
    }
  }
}

/**
 * `ref`: the aggregate function's call or steps. The adapter's fields were merged in when the
 * model was built (capability/inherit-ref.ts); when it kept the function's `with` and outputs, the
 * function is compiled once for every adapter that refers to it.
 */
function compileRef (item: Invocable, target: Extract<Target, { kind: 'ref' }>, context: InvocationContext): Invocation {
  const fn = target.function
  // the checker refuses a ref that names no function
  if (fn === undefined) return unsupportedInvocation(`ref ${target.ref}`)
  if (item.with !== fn.with || item.outputParameters !== fn.outputParameters) return compileInvocation({ ...item, target: fn.target }, context)
  let compiled = context.functions.get(fn)
  if (compiled === undefined) {
    compiled = compileInvocation(fn, context)
    context.functions.set(fn, compiled)
  }
  return compiled
}

export function unsupportedInvocation (feature: string): Invocation {
  const outcome: Outcome = { kind: 'error', error: new NaftikoError('feature_not_supported', `This operation uses ${feature}, which this runtime does not execute yet.`) }
  return { operation: undefined, invoke: async () => outcome }
}

/**
 * Mock outputs: `{name, type, value}` whose values may hold `{{input}}` templates, typed as declared:
 * a `number` or `boolean` whose text reads as one is one; any other text stays as it is (nothing is
 * lost to a failed conversion); an absent input is null.
 */
function compileMock (item: Invocable, context: InvocationContext): Invocation {
  const fields = item.outputParameters.map((o) => {
    const expr = compileValue(o.value, context.scope)
    const typed = o.type === 'number' || o.type === 'boolean' ? (ctx: CallContext) => asDeclared(expr(ctx), o.type as string) : expr
    return [o.name as string, typed] as const
  })
  const headers = { 'content-type': 'application/json; charset=utf-8' }
  return {
    operation: undefined,
    async invoke (inputs) {
      const ctx = { inputs, args: NO_ARGS }
      const out: Record<string, unknown> = {}
      for (const [name, expr] of fields) out[name] = plainValue(expr(ctx)) ?? null
      return jsonOutcome(200, headers, out, context.redactor)
    },
  }
}

function asDeclared (value: unknown, type: string): unknown {
  if (typeof value !== 'string') return value
  const text = value.trim()
  if (type === 'number') return text !== '' && Number.isFinite(Number(text)) ? Number(text) : value
  return text === 'true' ? true : text === 'false' ? false : value
}

function compileCall (item: Invocable, operation: ConsumedOperationRuntime, context: InvocationContext): Invocation {
  const args = compileArgs(item.with, context.scope)
  const output = compileOutputMapping(item.outputParameters)
  // an answer the mapping leaves as it is is relayed in whatever format it comes
  const convert = output.identity ? undefined : context.formats.get(`${operation.definition.namespace}.${operation.definition.name}`)
  const shape: AnswerShape = { output, redactor: context.redactor, convert }
  return {
    operation,
    async invoke (inputs, signal) {
      let upstream: UpstreamResponse
      try {
        upstream = await sendUpstream(operation, args(inputs), signal)
      } catch (err) {
        return { kind: 'error', error: err }
      }
      return answerOutcome(upstream, shape, context, operation.definition.name, false)
    },
  }
}

/**
 * What an upstream answer becomes: relayed or streamed as it comes (scanned for secrets), read whole
 * for a mapping, or an upstream error. `relayErrors`: a non-2xx answer is relayed like any other
 * (a `forward`), not read as an error.
 */
export function answerOutcome (upstream: UpstreamResponse, shape: AnswerShape, context: InvocationContext, name: string, relayErrors: boolean): Outcome | Promise<Outcome> {
  const { redactor, logger } = context
  const status = upstream.status
  const eventStream = isEventStream(upstream.headers['content-type'])
  const ok = relayErrors || (status >= 200 && status < 300)
  const untouched = !redactor.active && ok && shape.output.identity && !eventStream
  // a compressed answer is decoded wherever it is read or scanned; only an untouched relay keeps it
  const decoded = untouched ? undefined : decodeContent(upstream)
  // the body's length changes only where a secret is replaced in it, or where it is decoded
  const relayed = relayHeaders(decoded?.headers ?? upstream.headers, redactor, untouched)
  if (relayed.withheld.length > 0) logger.warn({ headers: relayed.withheld, call: name }, 'upstream response headers withheld: they held a bound secret')
  const body = new UpstreamBody(decoded?.body ?? upstream.body, redactor, eventStream, context.responseLimit)
  if (!ok) return upstreamError(status, relayed.headers, body)
  if (eventStream) return { kind: 'stream', status, headers: relayed.headers, body, shape }
  if (shape.output.identity) return { kind: 'relay', status, headers: relayed.headers, body, shape }
  // a mapping needs the whole JSON body
  return collectOutcome({ kind: 'relay', status, headers: relayed.headers, body, shape })
}

/** `with`: the values the exposed side computes for the consumed operation's parameters. */
function compileArgs (withBlock: Readonly<Record<string, unknown>>, scope: ExpressionScope): (inputs: CallInputs) => CallContext {
  const entries: Array<[string, ValueExpression]> = Object.entries(withBlock).map(([key, value]) => [normalizeName(key), compileValue(value, scope)])
  if (entries.length === 0) return (inputs) => ({ inputs, args: NO_ARGS })
  return (inputs) => {
    const values = new Map<string, unknown>()
    const ctx = { inputs, args: values }
    for (const [key, expr] of entries) {
      const v = expr(ctx)
      // an input that is absent is left out of the upstream call (DESIGN 2.1)
      if (v !== undefined) values.set(key, v)
    }
    return ctx
  }
}

const MESSAGE_LIMIT = 500

async function upstreamError (status: number, headers: OutgoingHttpHeaders, body: UpstreamBody): Promise<Outcome> {
  let text: string
  try {
    text = await body.text()
  } catch (err) {
    if (err instanceof NaftikoError) return { kind: 'error', error: err }
    // an error answer broken off mid-body still says its status
    text = ''
  }
  delete headers['content-length']
  const retryAfter = headers['retry-after']
  return { kind: 'upstream_error', status, headers, body: text, ...upstreamErrorOf(text), retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined }
}

/** The upstream's own error (the text already scrubbed): OpenAI-style `error.message` and `code`,
 * a top-level `message`, or the start of the body, cut after scrubbing so that a cut never splits a
 * secret. */
function upstreamErrorOf (body: string): { message: string, code: string | undefined } {
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown, code?: unknown, type?: unknown } | string, message?: unknown, code?: unknown }
    const error = parsed.error
    const code = typeof error === 'object' && (typeof error.code === 'string' || typeof error.type === 'string')
      ? String(error.code ?? error.type)
      : typeof parsed.code === 'string' ? parsed.code : undefined
    if (typeof error === 'object' && typeof error.message === 'string') return { message: error.message, code }
    if (typeof error === 'string') return { message: error, code }
    if (typeof parsed.message === 'string') return { message: parsed.message, code }
  } catch {}
  return { message: body.length > MESSAGE_LIMIT ? `${body.slice(0, MESSAGE_LIMIT)}…` : body, code: undefined }
}

/** An upstream answer's headers for the JSON text read from it: its type JSON, its length and encoding the text's to set. */
function jsonHeaders (upstream: OutgoingHttpHeaders): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {}
  for (const name in upstream) {
    if (name !== 'content-length' && name !== 'content-encoding' && name !== 'content-type') headers[name] = upstream[name]
  }
  headers['content-type'] = 'application/json; charset=utf-8'
  return headers
}

/**
 * Reads a relayed or streamed answer whole, for a caller that needs one value (an MCP tool result, a
 * mapping): JSON is mapped, an answer in another declared format is converted and mapped, an event
 * stream is assembled (reporting progress), other text stays text. Any other outcome is returned as
 * it is. An answer already in is read at once (the common JSON relay), without a promise.
 */
export function collectOutcome (outcome: Outcome, onProgress?: (p: StreamProgress) => void): Outcome | Promise<Outcome> {
  if (outcome.kind !== 'relay' && outcome.kind !== 'stream') return outcome
  const { status, body, shape } = outcome
  const headers = jsonHeaders(outcome.headers)
  if (outcome.kind === 'relay' && shape.convert === undefined && shape.output.identity) {
    // the common case, answered without a promise when the answer is in already
    const bytes = body.whole()
    return bytes instanceof Promise
      ? bytes.then((whole) => identityOutcome(status, headers, outcome.headers, whole), (error: unknown): Outcome => ({ kind: 'error', error }))
      : identityOutcome(status, headers, outcome.headers, bytes)
  }
  return collectWhole(outcome, headers, onProgress)
}

/** The upstream's JSON text is the answer as it is: checked here, parsed only if read. */
function identityOutcome (status: number, headers: OutgoingHttpHeaders, upstreamHeaders: OutgoingHttpHeaders, bytes: Buffer): Outcome {
  const text = bytes.toString('utf8')
  const verdict = bytes.length === 0 ? 'ok' : checkJson(bytes, MAX_JSON_DEPTH)
  if (verdict === 'syntax' || (verdict === 'deep' && parseJson(text) === NOT_JSON)) return { kind: 'text', status, headers: upstreamHeaders, text }
  return new JsonText(status, headers, text)
}

/** A stream assembled, an answer converted or mapped: read whole, then shaped. */
async function collectWhole (outcome: Outcome & { kind: 'relay' | 'stream' }, headers: OutgoingHttpHeaders, onProgress?: (p: StreamProgress) => void): Promise<Outcome> {
  const { status, body, shape } = outcome
  // progress text is assembled across events: a secret split between two events is whole in it; an
  // end that could be the start of a secret waits for the next event
  const redactor = shape.redactor
  let last: StreamProgress | undefined
  const report = onProgress === undefined
    ? undefined
    : (p: StreamProgress): void => {
        last = p
        const text = redactor.redact(p.text)
        onProgress({ events: p.events, text: text.slice(0, redactor.releasable(text)) })
      }
  try {
    if (outcome.kind === 'stream') {
      const assembled = await assembleEventStream(body.chunks(), report)
      // the stream is over: its end can no longer be the start of a secret
      if (last !== undefined) onProgress?.({ events: last.events, text: redactor.redact(last.text), done: true })
      return jsonOutcome(status, headers, shape.output.map(assembled), shape.redactor)
    }
    if (shape.convert !== undefined) {
      // converted before the redactor sees it: the JSON that leaves is scrubbed whole, secrets that
      // the format escaped (`&#65;`, a quoted CSV field) included
      const value = await shape.convert(await body.bytes(), outcome.headers['content-type'] as string | undefined)
      return jsonOutcome(status, headers, shape.output.map(value), shape.redactor)
    }
    const text = await body.text()
    const value = parseJson(text)
    if (value === NOT_JSON) return { kind: 'error', error: new NaftikoError('upstream_invalid_response', 'The upstream answered with a body that is not valid JSON.') }
    return jsonOutcome(status, headers, shape.output.map(value), shape.redactor)
  } catch (err) {
    return { kind: 'error', error: err }
  }
}

const NOT_JSON = Symbol('not JSON')
const UNREAD = Symbol('not parsed yet')

/** A `json` outcome of text known to be JSON, its value parsed when first read (an MCP result and a
 * REST answer need only the text). */
class JsonText {
  readonly kind = 'json'
  private parsed: unknown = UNREAD

  constructor (readonly status: number, readonly headers: OutgoingHttpHeaders, readonly text: string) {}

  get value (): unknown {
    if (this.parsed === UNREAD) this.parsed = this.text === '' ? null : JSON.parse(this.text)
    return this.parsed
  }
}

function parseJson (text: string): unknown {
  if (text === '') return null
  try {
    return JSON.parse(text)
  } catch {
    return NOT_JSON
  }
}

const DECODERS: Record<string, () => Transform> = {
  gzip: () => createGunzip(),
  'x-gzip': () => createGunzip(),
  deflate: () => createInflate(),
  br: () => createBrotliDecompress(),
}

/**
 * An upstream that compresses although the gateway asked for `identity` (compile-request.ts): its
 * body is decoded so that it can be scanned and read, and goes on without `content-encoding`. An
 * encoding the gateway cannot decode is left as it is.
 */
function decodeContent (upstream: UpstreamResponse): { body: Readable, headers: IncomingHttpHeaders } | undefined {
  const encoding = upstream.headers['content-encoding']?.trim().toLowerCase()
  const decoder = encoding === undefined ? undefined : DECODERS[encoding]
  if (decoder === undefined) return undefined
  const headers = { ...upstream.headers }
  delete headers['content-encoding']
  delete headers['content-length']
  // an upstream that lies about its encoding breaks the body: a read error, like a reset
  return { body: pipeline(upstream.body.readable(), decoder(), () => {}), headers }
}

export function isEventStream (contentType: string | undefined): boolean {
  return contentType !== undefined && contentType.startsWith('text/event-stream')
}
