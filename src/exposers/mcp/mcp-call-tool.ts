import { toErrorResponse } from '../../errors/envelope.js'
import { collectOutcome } from '../../invocations/compile-invocation.js'
import type { StreamProgress } from '../../invocations/assemble-stream.js'
import type { Outcome } from '../../invocations/outcome.js'
import type { UpstreamWatch } from '../../expressions/call-context.js'
import type { TraceContext } from '../../expressions/trace-context.js'
import type { Cancellation } from '../../server/cancellation.js'
import type { Logger } from '../../server/logger.js'
import { McpInputs, type PreparedTool } from './mcp-tools.js'

/**
 * Where a result's `structuredContent` is known as JSON text (the outcome's text), the text under
 * this key, and no `structuredContent` yet: the direct writer puts the text in place; a result that
 * goes through the SDK gets the parsed value (`withStructuredContent`). A symbol, so that nothing that
 * serialises or validates the result sees it.
 */
export const STRUCTURED_JSON: unique symbol = Symbol('structuredContent as JSON text')

/** The result with its structured content as a value, for the SDK, which validates and serialises it. */
export function withStructuredContent (result: CallToolResult): CallToolResult {
  const json = result[STRUCTURED_JSON]
  if (json === undefined || result.structuredContent !== undefined) return result
  return { ...result, structuredContent: JSON.parse(json) as Record<string, unknown> }
}

/** JSON text of an object: its first character after whitespace */
const OBJECT_TEXT = /^[ \t\n\r]*\{/

export interface CallToolResult {
  content: Array<{ type: 'text', text: string }>
  structuredContent?: Record<string, unknown>
  isError?: boolean
  [STRUCTURED_JSON]?: string
  [key: string]: unknown
}

/** What a tool call can do besides returning: report progress, and be aborted. */
export interface ToolCallContext {
  signal: Cancellation
  /** present only when the client asked for progress */
  progress?: (progress: number, message: string) => void
  heartbeatMs: number
  /** shortest time between two progress notifications of a stream */
  coalesceMs: number
  logger: Logger
  /** counts a call that failed on the upstream's side, by kind (`upstream_timeout`, `status_503`), and
   * the tool's metric route (`tools/call NAME`) */
  toolError: (kind: string, route: string) => void
  /** the HTTP caller's W3C trace context, which the upstream call joins */
  trace?: TraceContext | undefined
  /** what the upstream call reports to (its duration, its span), when something watches */
  watch?: UpstreamWatch | undefined
  /** set: the call's fields join the HTTP request's own log line here instead of a line of their own */
  logFields?: ToolCallFields
}

/** What a tool call's log line says besides the JSON-RPC method. */
export interface ToolCallFields {
  tool?: string
  upstreamStatus?: number | null
  cause?: string | undefined
}

/**
 * Runs one tool call and renders its outcome as a tool result. Failures are results with
 * `isError: true` (the MCP convention for tool errors), never protocol errors or crashes: bad
 * arguments name the argument, an upstream non-2xx answer carries its status and the upstream's
 * error message. What the outcome means (scrubbed, mapped, assembled) is decided in invocations/.
 */
export async function callTool (tool: PreparedTool, rawArgs: unknown, ctx: ToolCallContext): Promise<CallToolResult> {
  const args = (rawArgs ?? {}) as Record<string, unknown>
  const problem = tool.checkArguments(args)
  if (problem !== undefined) return errorResult(problem)
  const started = performance.now()
  const progress = progressOf(ctx)
  const heartbeat = startHeartbeat(ctx, progress, started)
  let outcome: Outcome
  try {
    outcome = await tool.invocation.invoke(new McpInputs(args, ctx.trace, ctx.watch), ctx.signal)
  } finally {
    heartbeat?.stop()
  }
  try {
    // read without a promise when the answer is in already
    const collected = collectOutcome(outcome, progress?.report)
    outcome = collected instanceof Promise ? await collected : collected
  } finally {
    progress?.stop()
  }
  const upstreamStatus = outcome.kind === 'error' ? null : outcome.status
  // a failure names its cause: the gateway's error code, or the upstream's own
  const cause = outcome.kind === 'error' ? (ctx.signal.aborted ? 'cancelled' : toErrorResponse(outcome.error).body.error.code) : outcome.kind === 'upstream_error' ? (outcome.code ?? `upstream ${outcome.status}`) : undefined
  if (outcome.kind === 'upstream_error') ctx.toolError(`status_${outcome.status}`, tool.route)
  else if (cause?.startsWith('upstream_') === true) ctx.toolError(cause, tool.route)
  const fields = ctx.logFields
  if (fields !== undefined) {
    fields.tool = tool.definition.name
    fields.upstreamStatus = upstreamStatus
    fields.cause = cause
  } else ctx.logger.info({ method: 'tools/call', tool: tool.definition.name, upstreamStatus, cause, ms: Math.round((performance.now() - started) * 100) / 100 }, 'tool call')
  return toolResult(outcome, ctx, tool.definition.name)
}

function toolResult (outcome: Outcome, ctx: ToolCallContext, tool: string): CallToolResult {
  switch (outcome.kind) {
    case 'json': {
      // an object is the structured content as it is; any other value is wrapped. Known from the
      // text's first character, so the value is not parsed here: the direct writer puts the text in
      // place, and the SDK's path parses it (`withStructuredContent`)
      const plain = OBJECT_TEXT.test(outcome.text)
      // the text is the value's JSON, or empty for an empty answer (null)
      const json = outcome.text === '' ? 'null' : outcome.text
      return { content: [{ type: 'text', text: outcome.text }], [STRUCTURED_JSON]: plain ? json : `{"result":${json}}` }
    }
    case 'text':
      return { content: [{ type: 'text', text: outcome.text }] }
    case 'upstream_error': {
      // what an agent needs to back off or correct itself: status, code, message, retry-after
      const code = outcome.code === undefined ? '' : ` (${outcome.code})`
      const retry = outcome.retryAfter === undefined ? '' : ` Retry after ${outcome.retryAfter} s.`
      const error = { status: outcome.status, code: outcome.code ?? null, message: outcome.message, retryAfter: outcome.retryAfter ?? null }
      return { content: [{ type: 'text', text: `Upstream answered ${outcome.status}${code}: ${outcome.message}${retry}` }], structuredContent: { error }, isError: true }
    }
    case 'error': {
      if (ctx.signal.aborted) return errorResult('The call was cancelled.')
      const { body } = toErrorResponse(outcome.error)
      if (body.error.code === 'internal_error') ctx.logger.error({ err: outcome.error, tool }, 'tool call failed')
      return errorResult(`${body.error.code}: ${body.error.message}`)
    }
    default:
      // collectOutcome reads relays and streams whole
      return errorResult('internal_error: the answer could not be read.')
  }
}

interface Progress {
  /** the next notification's `progress`: a running count, so that it always increases */
  send: (message: string) => void
  /** a stream's text so far: what is new since the last notification leaves, at most once per interval */
  report: (p: StreamProgress) => void
  stop: () => void
}

/** Progress for a client that asked for it (a progress token), else undefined. */
function progressOf (ctx: ToolCallContext): Progress | undefined {
  const notify = ctx.progress
  if (notify === undefined) return undefined
  let count = 0
  let sent = 0
  let lastAt = 0
  let pending: StreamProgress | undefined
  let timer: NodeJS.Timeout | undefined
  const send = (message: string): void => { notify(++count, message) }
  const flush = (): void => {
    timer = undefined
    const text = pending?.text ?? ''
    if (text.length <= sent) return
    send(text.slice(sent))
    sent = text.length
    lastAt = performance.now()
  }
  return {
    send,
    report (p) {
      pending = p
      const wait = ctx.coalesceMs - (performance.now() - lastAt)
      if (p.done === true || wait <= 0) {
        clearTimeout(timer)
        flush()
      } else {
        timer ??= setTimeout(flush, wait)
      }
    },
    stop: () => clearTimeout(timer),
  }
}

/** While a slow upstream works, progress notifications keep clients' request timeouts from
 * expiring (clients that reset their timeout on progress). */
function startHeartbeat (ctx: ToolCallContext, progress: Progress | undefined, started: number): { stop: () => void } | undefined {
  if (progress === undefined || ctx.heartbeatMs <= 0) return undefined
  const timer = setInterval(() => {
    progress.send(`waiting for the upstream (${Math.round((performance.now() - started) / 1000)} s)`)
  }, ctx.heartbeatMs)
  timer.unref()
  return { stop: () => clearInterval(timer) }
}

function errorResult (message: string): CallToolResult {
  return { content: [{ type: 'text', text: message }], isError: true }
}
