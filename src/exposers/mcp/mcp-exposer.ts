import { AsyncLocalStorage } from 'node:async_hooks'
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http'
import type * as ServerSdk from '@modelcontextprotocol/server'
import type { McpExpose } from '../../capability/model.js'
import { toErrorResponse } from '../../errors/envelope.js'
import { NaftikoError } from '../../errors/naftiko-error.js'
import { traceContextOf, type TraceContext } from '../../expressions/trace-context.js'
import { Cancellation } from '../../server/cancellation.js'
import { flatLine, type Logger } from '../../server/logger.js'
import { NO_METRICS, type Metrics } from '../../server/metrics.js'
import { watchRequest } from '../../server/request-watch.js'
import type { RequestSpan, SpanAttributes, Tracing } from '../../server/tracing.js'
import { answerClientError } from '../../server/client-error.js'
import { refuseHostOrOrigin, type OriginPolicy } from '../auth/loopback-guard.js'
import { repeatsCredential } from '../auth/inbound-auth.js'
import type { JsonBodyReader } from '../../server/json-body.js'
import { joinPieces, readJsonBody } from '../../server/read-json-body.js'
import type { buildInboundAuth, InboundCheck } from '../auth/inbound-auth.js'
import { CallRegistry } from './call-registry.js'
import { callTool, withStructuredContent, type ToolCallContext, type ToolCallFields } from './mcp-call-tool.js'
import { directResultWriter, matchDirectCall } from './mcp-direct-call.js'
import type { PreparedTool } from './mcp-tools.js'
import { servePrompts, type PreparedPrompts } from './mcp-prompts.js'
import { serveResources, type PreparedResources } from './mcp-resources.js'

export interface McpExposerOptions {
  bodyLimit: number
  /** large messages are taken apart off the main thread */
  bodies: JsonBodyReader
  heartbeatMs: number
  coalesceMs: number
  logger: Logger
  metrics: Metrics
  /** present when spans are exported */
  tracing?: Tracing | undefined
  /** what the server says it is (name, title, version) */
  serverInfo: { name: string, title?: string, version: string }
  /** the expose's `description`: the server's instructions to the client */
  instructions: string | undefined
  /** only when the expose declares some: the server then advertises them */
  resources?: PreparedResources | undefined
  prompts?: PreparedPrompts | undefined
}

/** The HTTP request a message arrived on: the client going away aborts the upstream call (an
 * HTTP disconnect is not an MCP cancellation in the SDK), and `client` tells callers apart. */
export interface Connection { signal: AbortSignal, client: string, trace: TraceContext | undefined, span: RequestSpan | undefined }

/** What one MCP expose owns: its calls in flight and, over HTTP, the request each message came on. */
export interface McpInstance {
  readonly calls: CallRegistry
  readonly connection: AsyncLocalStorage<Connection> | undefined
}

/**
 * The per-request server factory only wires prebuilt definitions: the tool list is a constant and
 * `tools/call` looks the tool up by name. The low-level Server is used so that nothing per tool
 * (schema conversion, validator compilation) happens per request.
 */
export function serverFactory (sdk: typeof ServerSdk, tools: ReadonlyMap<string, PreparedTool>, options: McpExposerOptions, instance: McpInstance): () => ServerSdk.Server {
  const { Server, ProtocolError, ProtocolErrorCode } = sdk
  const list = { tools: [...tools.values()].map((t) => t.definition) }
  const logger = options.logger
  const { calls, connection } = instance
  const { resources, prompts } = options
  const capabilities = {
    tools: { listChanged: false },
    ...(resources === undefined ? {} : { resources: { listChanged: false } }),
    ...(prompts === undefined ? {} : { prompts: { listChanged: false } }),
  }
  return () => {
    const server = new Server(options.serverInfo, { capabilities, ...(options.instructions === undefined ? {} : { instructions: options.instructions }) })
    if (resources !== undefined) serveResources(server, sdk, resources, instance, logger, options.metrics, options.serverInfo.name)
    if (prompts !== undefined) servePrompts(server, sdk, prompts)
    server.setRequestHandler('tools/list', () => list as never)
    server.setRequestHandler('tools/call', async (request, ctx) => {
      const tool = tools.get(request.params.name)
      if (tool === undefined) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Tool ${request.params.name} not found`)
      const http = connection?.getStore()
      const cancellation = new Cancellation().follow(ctx.mcpReq.signal)
      if (http !== undefined) cancellation.follow(http.signal)
      const done = calls.track(http?.client ?? 'stdio', ctx.mcpReq.id, cancellation)
      const progressToken = ctx.mcpReq._meta?.progressToken
      // over HTTP the request's span covers the call; over stdio each call has a span of its own
      const span = http?.span ?? (options.tracing === undefined ? undefined : stdioSpan(options.tracing, options.serverInfo.name, tool.definition.name, ctx.mcpReq._meta))
      const callCtx: ToolCallContext = {
        signal: cancellation,
        heartbeatMs: options.heartbeatMs,
        coalesceMs: options.coalesceMs,
        logger,
        toolError: (kind, route) => options.metrics.toolError(options.serverInfo.name, kind, route),
        trace: http?.trace ?? traceOfMeta(ctx.mcpReq._meta),
        watch: watchRequest(options.metrics, options.serverInfo.name, tool.route, span),
      }
      if (progressToken !== undefined) {
        callCtx.progress = (progress, message) => {
          ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken, progress, message } }).catch(() => {})
        }
      }
      try {
        const result = withStructuredContent(await callTool(tool, request.params.arguments, callCtx))
        if (result.isError === true) span?.fail('tool_error')
        return server.projectCallToolResult(result as never, tool.definition.outputSchema) as never
      } finally {
        done()
        if (http === undefined) span?.end(undefined)
      }
    })
    server.setNotificationHandler('notifications/cancelled', (notification) => {
      calls.cancel(connection?.getStore()?.client ?? 'stdio', notification.params.requestId)
    })
    return server
  }
}

export interface McpHttpExposer {
  server: HttpServer
  close (): Promise<void>
}

/** Streamable HTTP at `/mcp`: one endpoint for 2026-07-28 clients and, statelessly, 2025-era ones. */
export function buildMcpHttpExposer (expose: McpExpose, tools: ReadonlyMap<string, PreparedTool>, options: McpExposerOptions, origins: OriginPolicy, auth: ReturnType<typeof buildInboundAuth>): McpHttpExposer {
  const log = options.logger.child({ expose: expose.namespace })
  const requestLine = flatLine(log)
  const instance: McpInstance = { calls: new CallRegistry(), connection: new AsyncLocalStorage<Connection>() }
  const connection = instance.connection as AsyncLocalStorage<Connection>
  // The SDK (with zod) is loaded when a request first needs it: tools/call, the common case, is
  // answered without it, and a gateway that serves none of the rest never pays its startup time.
  let sdk: Promise<{ node: (req: IncomingMessage, res: ServerResponse, parsed?: unknown) => Promise<void>, close: () => Promise<void> }> | undefined
  const loadSdk = (): NonNullable<typeof sdk> => {
    sdk ??= Promise.all([import('@modelcontextprotocol/server'), import('@modelcontextprotocol/node')]).then(([server, nodeAdapter]) => {
      const handler = server.createMcpHandler(serverFactory(server, tools, { ...options, logger: log }, instance), {
        maxRequestBodySize: options.bodyLimit,
        onerror: (err) => log.debug({ err }, 'mcp request rejected'),
      })
      const node = nodeAdapter.toNodeHandler(handler, { maxRequestBodySize: options.bodyLimit, onerror: (err) => log.error({ err }, 'mcp handler failed') })
      return { node, close: () => handler.close() }
    })
    return sdk
  }

  const tracing = options.tracing
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now()
    const url = req.url ?? '/'
    const mark = url.indexOf('?')
    const path = mark === -1 ? url : url.slice(0, mark)
    const span = tracing === undefined ? undefined : startSpan(tracing, req, path, expose.namespace, performance.timeOrigin + started)
    if (span !== undefined) res.once('close', () => span.end(res.headersSent ? res.statusCode : undefined))
    const notes: RequestNotes = {}
    // 'finish' and 'close' come once per response: `on` spares the wrapper `once` builds per request
    res.on('finish', () => {
      const ms = performance.now() - started
      options.metrics.request(expose.namespace, notes.metricRoute ?? (req.method === 'GET' || req.method === 'DELETE' ? req.method : 'other'), res.statusCode, ms)
      const tool = notes.tool
      requestLine({ method: req.method, route: path, rpc: notes.rpc, tool: tool?.tool, upstreamStatus: tool?.upstreamStatus, cause: tool?.cause, status: res.statusCode, ms: Math.round(ms * 100) / 100 }, 'request')
    })
    if (auth?.resourceServer?.metadataPaths.includes(path) === true && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json', 'access-control-allow-origin': '*' })
      res.end(JSON.stringify(auth.resourceServer.metadata))
      return
    }
    if (path !== '/mcp' && path !== '/mcp/') return sendError(res, new NaftikoError('unknown_route', `No route for ${req.method ?? ''} ${path}; the MCP endpoint is /mcp.`))
    // DNS-rebinding protection on loopback, and a browser's Origin checked on every bind
    const refused = refuseHostOrOrigin(req.headers, origins)
    if (refused !== undefined) return sendJsonRpcError(res, 403, -32000, refused)
    if (!ALLOWED_METHODS.has(req.method ?? '')) return sendJsonRpcError(res, 405, -32000, `Method ${req.method ?? ''} is not allowed on /mcp.`, { allow: 'GET, POST, DELETE' })
    if (repeatsCredential(req.rawHeaders)) return sendError(res, new NaftikoError('invalid_request', 'The request carries more than one Authorization header.'))
    if (auth !== undefined) {
      void authenticate(auth.check, req, res).then((ok) => { if (ok) serve(req, res, span, notes) }, (err: unknown) => sendError(res, err))
      return
    }
    serve(req, res, span, notes)
  })

  const writeDirectResult = directResultWriter(options.serverInfo)
  const toolErrorMetric = (kind: string, route: string): void => options.metrics.toolError(expose.namespace, kind, route)
  // who may cancel a call: with inbound authentication, the principal (the credential it presented,
  // wherever it connects from); without, the address and user agent (the only cue there is)
  const credentialHeader = expose.authentication?.type === 'apikey' && expose.authentication.placement === 'header' ? expose.authentication.key.toLowerCase() : 'authorization'
  const clientOf = (req: IncomingMessage): string => auth === undefined
    ? `anonymous|${req.socket.remoteAddress ?? ''}|${req.headers['user-agent'] ?? ''}`
    : `principal|${String(req.headers[credentialHeader] ?? new URL(req.url ?? '/', 'http://x').search)}`
  const serve = (req: IncomingMessage, res: ServerResponse, span: RequestSpan | undefined, notes: RequestNotes): void => {
    const client = clientOf(req)
    const viaSdk = (parsed?: unknown): void => {
      const abort = new AbortController()
      res.once('close', () => { if (!res.writableFinished) abort.abort() })
      loadSdk().then(({ node }) => connection.run({ signal: abort.signal, client, trace: traceContextOf(req.headers), span }, () => node(req, res, parsed))).catch((err: unknown) => {
        log.error({ err }, 'mcp request failed')
        if (!res.headersSent) sendError(res, err)
        else res.destroy()
      })
    }
    if (req.method !== 'POST') return viaSdk()
    // a message that failed before or during its call: a JSON-RPC error while nothing was sent
    const failed = (err: unknown): void => {
      if (res.headersSent) {
        res.destroy()
        return
      }
      if (err instanceof NaftikoError && err.code === 'invalid_json') return sendJsonRpcError(res, 400, -32700, `Parse error: ${err.message}`)
      if (err instanceof NaftikoError && err.code === 'body_too_large') {
        res.once('finish', () => req.destroy())
        return sendJsonRpcError(res, 413, -32600, `The request body exceeds the size limit of ${options.bodyLimit} bytes.`)
      }
      sendError(res, err)
    }
    const handle = (message: unknown): void => {
      notes.rpc = rpcMethodOf(message)
      if (options.metrics !== NO_METRICS) notes.metricRoute = metricRouteOf(message, tools)
      if (span !== undefined) nameSpan(span, message, tools)
      // batching was removed in 2025-06-18: one HTTP request must not fan out to many upstream calls
      const version = req.headers['mcp-protocol-version']
      if (Array.isArray(message) && typeof version === 'string' && version >= '2025-06-18') {
        return sendJsonRpcError(res, 400, -32600, `JSON-RPC batches are not supported in protocol version ${version}.`)
      }
      const direct = matchDirectCall(message, req.headers, tools)
      if (direct === undefined) return viaSdk(message)
      const cancellation = new Cancellation()
      res.on('close', () => { if (!res.writableFinished) cancellation.abort() })
      const done = instance.calls.track(client, direct.id, cancellation)
      const watch = watchRequest(options.metrics, expose.namespace, direct.tool.route, span)
      // a tool call answered here is logged on its request's line: one line per call
      const logFields: ToolCallFields = notes.tool = {}
      const ctx: ToolCallContext = { signal: cancellation, heartbeatMs: 0, coalesceMs: 0, logger: log, toolError: toolErrorMetric, trace: traceContextOf(req.headers), watch, logFields }
      // the call is over when its result is in (two callbacks: `finally` costs two more promises);
      // its promise is not returned, which would cost the message's promise two more turns to adopt it
      callTool(direct.tool, direct.args, ctx).then((result) => {
        done()
        if (result.isError === true) span?.fail('tool_error')
        try {
          writeDirectResult(res, direct, result)
        } catch (err) {
          failed(err)
        }
      }, (err: unknown) => {
        done()
        failed(err)
      })
    }
    readJsonBody(req, req.headers['content-length'], { limit: options.bodyLimit }).then(({ pieces, length }) => {
      // a small message is parsed here and handled at once; a large one comes back from the worker
      const message = options.bodies.message(joinPieces(pieces, length))
      return message instanceof Promise ? message.then(handle) : handle(message)
    }).catch(failed)
  }
  server.on('clientError', answerClientError)
  return {
    server,
    async close () {
      if (sdk !== undefined) await (await sdk).close()
    },
  }
}

/** What a request's log line and metric learn while it is served. */
interface RequestNotes {
  /** the JSON-RPC method(s) */
  rpc?: string | undefined
  metricRoute?: string
  /** a tool call answered without the SDK */
  tool?: ToolCallFields
}

const ALLOWED_METHODS = new Set(['GET', 'POST', 'DELETE'])

/** The JSON-RPC method(s) of a message, for its log line. */
function rpcMethodOf (message: unknown): string | undefined {
  const one = (m: unknown): string => typeof (m as { method?: unknown } | null)?.method === 'string' ? (m as { method: string }).method : 'response'
  if (Array.isArray(message)) return `batch: ${message.map(one).join(', ')}`
  return message === null || typeof message !== 'object' ? undefined : one(message)
}

const MCP_METHODS = new Set(['initialize', 'ping', 'server/discover', 'tools/list', 'tools/call', 'resources/list', 'resources/templates/list', 'resources/read', 'prompts/list', 'prompts/get', 'completion/complete', 'logging/setLevel', 'notifications/initialized', 'notifications/cancelled', 'notifications/progress'])

/** A metric label from a bounded set, whatever a client sends: the MCP method, with the tool's name
 * for a call of a declared tool. */
function metricRouteOf (message: unknown, tools: ReadonlyMap<string, PreparedTool>): string {
  if (Array.isArray(message)) return 'batch'
  const m = message as { method?: unknown, params?: { name?: unknown } } | null
  if (m === null || typeof m !== 'object') return 'other'
  if (typeof m.method !== 'string') return 'response'
  if (!MCP_METHODS.has(m.method)) return 'other'
  if (m.method !== 'tools/call') return m.method
  const name = m.params?.name
  return (typeof name === 'string' ? tools.get(name)?.route : undefined) ?? 'tools/call (unknown tool)'
}

/**
 * The caller's trace context over stdio, where there are no headers: `traceparent` and
 * `tracestate` in the request's `_meta`, as MCP clients that trace send them.
 */
function traceOfMeta (meta: Record<string, unknown> | undefined): TraceContext | undefined {
  const { traceparent, tracestate } = meta ?? {}
  return traceContextOf({ traceparent: typeof traceparent === 'string' ? traceparent : undefined, tracestate: typeof tracestate === 'string' ? tracestate : undefined })
}

/** The SERVER span of one tool call over stdio. */
function stdioSpan (tracing: Tracing, expose: string, tool: string, meta: Record<string, unknown> | undefined): RequestSpan {
  const attributes: SpanAttributes = { 'naftiko.expose': expose, 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': tool, 'gen_ai.operation.name': 'execute_tool', 'network.transport': 'pipe' }
  return tracing.startRequest(`tools/call ${tool}`, attributes, traceOfMeta(meta), performance.timeOrigin + performance.now())
}

/** The SERVER span of a request to an MCP expose, named for now by its HTTP method (and `/mcp`). */
function startSpan (tracing: Tracing, req: IncomingMessage, path: string, expose: string, startTime: number): RequestSpan {
  const method = req.method ?? 'HTTP'
  const endpoint = path === '/mcp' || path === '/mcp/'
  const attributes: SpanAttributes = { 'http.request.method': method, 'url.scheme': 'http', 'naftiko.expose': expose }
  if (endpoint) attributes['http.route'] = '/mcp'
  return tracing.startRequest(endpoint ? `${method} /mcp` : method, attributes, traceContextOf(req.headers), startTime)
}

/** Names a message's span by its method and tool (`tools/call list-ships`), from the same bounded set as the metric labels. */
function nameSpan (span: RequestSpan, message: unknown, tools: ReadonlyMap<string, PreparedTool>): void {
  const route = metricRouteOf(message, tools)
  const m = Array.isArray(message) ? undefined : message as { method?: unknown, params?: { name?: unknown } } | null
  const attributes: SpanAttributes = {}
  if (typeof m?.method === 'string' && MCP_METHODS.has(m.method)) attributes['mcp.method.name'] = m.method
  const name = m?.params?.name
  if (m?.method === 'tools/call' && typeof name === 'string' && tools.has(name)) {
    attributes['gen_ai.tool.name'] = name
    attributes['gen_ai.operation.name'] = 'execute_tool'
  }
  span.rename(route, attributes)
}

function sendJsonRpcError (res: ServerResponse, status: number, code: number, message: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }))
}

/** The expose's inbound credential check; a refusal is answered here (401 or 403 with a challenge). */
async function authenticate (check: InboundCheck, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const verdict = await check(req.headers, req.url ?? '/')
  if (verdict.ok) return true
  sendError(res, new NaftikoError(verdict.status === 403 ? 'insufficient_scope' : 'unauthorized', verdict.message), { 'www-authenticate': verdict.challenge })
  return false
}

function sendError (res: ServerResponse, err: unknown, headers: Record<string, string> = {}): void {
  const { status, body } = toErrorResponse(err)
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(body))
}
