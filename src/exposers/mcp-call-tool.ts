import { toErrorResponse } from '../errors/envelope.js'
import type { Logger } from '../logger.js'
import type { Redactor } from '../bindings/redact.js'
import { assembleEventStream } from './assemble-stream.js'
import { invokeOperation, isEventStream, parseUpstreamJson, readJson } from './invoke.js'
import { McpInputs, type PreparedTool } from './mcp-tools.js'

export interface CallToolResult {
  content: Array<{ type: 'text', text: string }>
  structuredContent?: Record<string, unknown>
  isError?: boolean
  [key: string]: unknown
}

/** What a tool call can do besides returning: report progress, and be aborted. */
export interface ToolCallContext {
  signal: AbortSignal
  /** present only when the client asked for progress */
  progress?: (progress: number, message: string) => void
  heartbeatMs: number
  logger: Logger
  /** scrubs bound secrets out of upstream error text */
  redact: Redactor | undefined
}

/**
 * Runs one tool call through the shared call path. Failures are results with `isError: true`
 * (the MCP convention for tool errors), never protocol errors or crashes: bad arguments name the
 * argument, an upstream non-2xx answer carries its status and the upstream's error message.
 */
export async function callTool (tool: PreparedTool, rawArgs: unknown, ctx: ToolCallContext): Promise<CallToolResult> {
  const args = (rawArgs ?? {}) as Record<string, unknown>
  const problem = tool.checkArguments(args)
  if (problem !== undefined) return errorResult(problem)
  const invocation = tool.invocation
  const inputs = new McpInputs(args)
  if (invocation.kind === 'unsupported') return errorResult(`This tool uses ${invocation.feature}, which this runtime does not execute yet.`)
  if (invocation.kind === 'mock') return result(invocation.render(inputs), undefined, ctx.redact)

  const started = performance.now()
  const heartbeat = startHeartbeat(ctx, started)
  let status: number | undefined
  try {
    const upstream = await invokeOperation(invocation, inputs, ctx.signal)
    status = upstream.status
    if (upstream.status < 200 || upstream.status >= 300) {
      const message = upstreamMessage(await upstream.body.text().catch(() => ''))
      return errorResult(`Upstream answered ${upstream.status}: ${ctx.redact === undefined ? message : ctx.redact(message)}`)
    }
    if (isEventStream(upstream.headers)) {
      heartbeat?.stop()
      let events = 0
      const assembled = await assembleEventStream(upstream, (p) => {
        events++
        ctx.progress?.(events, p.text)
      })
      return result(invocation.output.map(assembled), undefined, ctx.redact)
    }
    if (invocation.output.identity) {
      // the upstream's JSON text is the text block as it is: no second serialisation
      const text = await upstream.body.text()
      return result(parseUpstreamJson(text), text, ctx.redact)
    }
    return result(invocation.output.map(await readJson(upstream)), undefined, ctx.redact)
  } catch (err) {
    if (ctx.signal.aborted) return errorResult('The call was cancelled.')
    const { body } = toErrorResponse(err)
    if (body.error.code === 'internal_error') ctx.logger.error({ err, tool: tool.definition.name }, 'tool call failed')
    return errorResult(`${body.error.code}: ${body.error.message}`)
  } finally {
    heartbeat?.stop()
    ctx.logger.info({ tool: tool.definition.name, upstreamStatus: status ?? null, ms: Math.round((performance.now() - started) * 100) / 100 }, 'tool call')
  }
}

/** While a slow non-streaming upstream works, progress notifications keep clients' request
 * timeouts from expiring (clients that reset their timeout on progress). */
function startHeartbeat (ctx: ToolCallContext, started: number): { stop: () => void } | undefined {
  if (ctx.progress === undefined || ctx.heartbeatMs <= 0) return undefined
  let beats = 0
  const timer = setInterval(() => {
    beats++
    ctx.progress?.(beats, `waiting for the upstream (${Math.round((performance.now() - started) / 1000)} s)`)
  }, ctx.heartbeatMs)
  timer.unref()
  return { stop: () => clearInterval(timer) }
}

/** A result never carries a bound secret, even one the upstream echoed in a success answer. */
function result (original: unknown, json: string | undefined, redact: Redactor | undefined): CallToolResult {
  const serialised = json ?? JSON.stringify(original ?? null)
  const text = redact === undefined ? serialised : redact(serialised)
  let value = original
  if (text !== serialised) {
    try {
      value = JSON.parse(text)
    } catch {
      return errorResult('The upstream answer held a credential of the gateway and was withheld.')
    }
  }
  const out: CallToolResult = { content: [{ type: 'text', text }] }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) out.structuredContent = value as Record<string, unknown>
  else out.structuredContent = { result: value ?? null }
  return out
}

function errorResult (message: string): CallToolResult {
  return { content: [{ type: 'text', text: message }], isError: true }
}

/** The upstream's own error text: OpenAI-style `error.message`, a top-level `message`, or the
 * start of the body. */
function upstreamMessage (body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown } | string, message?: unknown }
    if (typeof parsed.error === 'object' && typeof parsed.error?.message === 'string') return parsed.error.message
    if (typeof parsed.error === 'string') return parsed.error
    if (typeof parsed.message === 'string') return parsed.message
  } catch {}
  return body.length > 500 ? `${body.slice(0, 500)}…` : body
}
