import type { OutgoingHttpHeaders } from 'node:http'
import type { Invocable } from '../capability/model.js'
import type { Redactor } from '../bindings/redact.js'
import type { Consumers, ConsumedOperationRuntime } from '../consumers/build-consumers.js'
import { sendUpstream, type UpstreamResponse, type UpstreamSignal } from '../consumers/send-upstream.js'
import { NaftikoError } from '../errors/naftiko-error.js'
import type { CallContext, CallInputs } from '../expressions/call-context.js'
import { compileValue, type ExpressionScope, type ValueExpression } from '../expressions/compile-value.js'
import { normalizeName } from '../expressions/template.js'
import type { Logger } from '../server/logger.js'
import { assembleEventStream, type StreamProgress } from './assemble-stream.js'
import { compileOutputMapping } from './compile-mapping.js'
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
}

const NO_ARGS: ReadonlyMap<string, unknown> = new Map()

export function compileInvocation (item: Invocable, context: InvocationContext): Invocation {
  const target = item.target
  switch (target.kind) {
    case 'mock': return compileMock(item, context)
    case 'steps': return unsupportedInvocation('orchestration steps')
    case 'ref': return unsupportedInvocation('aggregate function ref')
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

export function unsupportedInvocation (feature: string): Invocation {
  const outcome: Outcome = { kind: 'error', error: new NaftikoError('feature_not_supported', `This operation uses ${feature}, which this runtime does not execute yet.`) }
  return { operation: undefined, invoke: async () => outcome }
}

/** Mock outputs: `{name, value}` pairs whose values may hold `{{input}}` templates. */
function compileMock (item: Invocable, context: InvocationContext): Invocation {
  const fields = item.outputParameters.map((o) => [o.name as string, compileValue(o.value, context.scope)] as const)
  const headers = { 'content-type': 'application/json; charset=utf-8' }
  return {
    operation: undefined,
    async invoke (inputs) {
      const ctx = { inputs, args: NO_ARGS }
      const out: Record<string, unknown> = {}
      for (const [name, expr] of fields) out[name] = expr(ctx)
      return jsonOutcome(200, headers, out, context.redactor)
    },
  }
}

function compileCall (item: Invocable, operation: ConsumedOperationRuntime, context: InvocationContext): Invocation {
  const args = compileArgs(item.with, context.scope)
  const shape: AnswerShape = { output: compileOutputMapping(item.outputParameters), redactor: context.redactor }
  const { redactor, logger } = context
  return {
    operation,
    async invoke (inputs, signal) {
      let upstream: UpstreamResponse
      try {
        upstream = await sendUpstream(operation, args(inputs), signal)
      } catch (err) {
        return { kind: 'error', error: err }
      }
      const status = upstream.status
      const eventStream = isEventStream(upstream.headers['content-type'])
      const ok = status >= 200 && status < 300
      // the body's length changes only where a secret is replaced in it
      const relayed = relayHeaders(upstream.headers, redactor, !redactor.active && ok && shape.output.identity && !eventStream)
      if (relayed.withheld.length > 0) logger.warn({ headers: relayed.withheld, call: operation.definition.name }, 'upstream response headers withheld: they held a bound secret')
      const body = new UpstreamBody(upstream.body, redactor, eventStream)
      if (!ok) return upstreamError(status, relayed.headers, body)
      if (eventStream) return { kind: 'stream', status, headers: relayed.headers, body, shape }
      if (shape.output.identity) return { kind: 'relay', status, headers: relayed.headers, body, shape }
      // a mapping needs the whole JSON body
      return collectOutcome({ kind: 'relay', status, headers: relayed.headers, body, shape })
    },
  }
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
  } catch {
    text = ''
  }
  delete headers['content-length']
  return { kind: 'upstream_error', status, headers, body: text, message: upstreamMessage(text) }
}

/** The upstream's own error text (already scrubbed): OpenAI-style `error.message`, a top-level
 * `message`, or the start of the body. Cut after scrubbing, so a cut never splits a secret. */
function upstreamMessage (body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown } | string, message?: unknown }
    if (typeof parsed.error === 'object' && typeof parsed.error?.message === 'string') return parsed.error.message
    if (typeof parsed.error === 'string') return parsed.error
    if (typeof parsed.message === 'string') return parsed.message
  } catch {}
  return body.length > MESSAGE_LIMIT ? `${body.slice(0, MESSAGE_LIMIT)}…` : body
}

/**
 * Reads a relayed or streamed answer whole, for a caller that needs one value (an MCP tool result, a
 * mapping): JSON is mapped, an event stream is assembled (reporting progress), other text stays
 * text. Any other outcome is returned as it is.
 */
export async function collectOutcome (outcome: Outcome, onProgress?: (p: StreamProgress) => void): Promise<Outcome> {
  if (outcome.kind !== 'relay' && outcome.kind !== 'stream') return outcome
  const { status, body, shape } = outcome
  const headers = { ...outcome.headers, 'content-type': 'application/json; charset=utf-8' }
  delete headers['content-length']
  delete headers['content-encoding']
  // progress text is assembled across events: a secret split between two events is whole in it
  const report = onProgress === undefined ? undefined : (p: StreamProgress): void => onProgress({ events: p.events, text: shape.redactor.redact(p.text) })
  try {
    if (outcome.kind === 'stream') {
      const assembled = await assembleEventStream(body.chunks(), report)
      return jsonOutcome(status, headers, shape.output.map(assembled), shape.redactor)
    }
    const text = await body.text()
    if (shape.output.identity) {
      const value = parseJson(text)
      if (value === NOT_JSON) return { kind: 'text', status, headers: outcome.headers, text }
      // the upstream's JSON text is the answer as it is: no second serialisation
      return { kind: 'json', status, headers, value, text }
    }
    const value = parseJson(text)
    if (value === NOT_JSON) return { kind: 'error', error: new NaftikoError('upstream_invalid_response', 'The upstream answered with a body that is not valid JSON.') }
    return jsonOutcome(status, headers, shape.output.map(value), shape.redactor)
  } catch (err) {
    return { kind: 'error', error: err }
  }
}

const NOT_JSON = Symbol('not JSON')

function parseJson (text: string): unknown {
  if (text === '') return null
  try {
    return JSON.parse(text)
  } catch {
    return NOT_JSON
  }
}

export function isEventStream (contentType: string | undefined): boolean {
  return contentType !== undefined && contentType.startsWith('text/event-stream')
}
