import type { IncomingHttpHeaders, ServerResponse } from 'node:http'
import type { CallToolResult } from './mcp-call-tool.js'
import type { PreparedTool } from './mcp-tools.js'
import { ResultFrame } from './result-bytes.js'

/**
 * The common case of MCP traffic, a single `tools/call` with no progress requested, is answered
 * without the SDK's web Request/Response round trip, which cost about 60% of the MCP route's time in
 * the benchmark's profile. The answer is byte-compatible with what the SDK writes for the same
 * request; anything else (other methods, batches, progress, unknown tools, unusual headers) goes to
 * the SDK, so protocol behaviour stays the SDK's.
 */
export interface DirectCall {
  era: 'modern' | 'legacy'
  id: string | number
  tool: PreparedTool
  args: unknown
}

const MODERN = '2026-07-28'
const LEGACY_VERSIONS = new Set(['2025-03-26', '2025-06-18', '2025-11-25'])
const VERSION_KEY = 'io.modelcontextprotocol/protocolVersion'

export function matchDirectCall (message: unknown, headers: IncomingHttpHeaders, tools: ReadonlyMap<string, PreparedTool>): DirectCall | undefined {
  if (message === null || typeof message !== 'object' || Array.isArray(message)) return undefined
  const m = message as { jsonrpc?: unknown, id?: unknown, method?: unknown, params?: { name?: unknown, arguments?: unknown, _meta?: Record<string, unknown> } }
  if (m.jsonrpc !== '2.0' || m.method !== 'tools/call' || (typeof m.id !== 'string' && typeof m.id !== 'number')) return undefined
  const params = m.params
  if (params === null || typeof params !== 'object' || typeof params.name !== 'string') return undefined
  // anything beyond name, arguments and _meta (task augmentation, ...) is the SDK's to handle
  for (const key in params) if (key !== 'name' && key !== 'arguments' && key !== '_meta') return undefined
  const tool = tools.get(params.name)
  if (tool === undefined || params._meta?.progressToken !== undefined) return undefined
  const accept = headers.accept ?? ''
  if (!accept.includes('application/json') || !accept.includes('text/event-stream')) return undefined
  // a slice compared, not `startsWith` (several times slower on Node 20)
  if ((headers['content-type'] ?? '').slice(0, 16) !== 'application/json') return undefined
  const version = headers['mcp-protocol-version']
  const claimed = params._meta?.[VERSION_KEY]
  if (version === MODERN && claimed === MODERN && headers['mcp-method'] === 'tools/call' && headers['mcp-name'] === params.name && validEnvelope(params._meta)) {
    return { era: 'modern', id: m.id, tool, args: params.arguments }
  }
  if (typeof version === 'string' && LEGACY_VERSIONS.has(version) && claimed === undefined && headers['mcp-method'] === undefined) {
    return { era: 'legacy', id: m.id, tool, args: params.arguments }
  }
  return undefined
}

const ENVELOPE_PREFIX = 'io.modelcontextprotocol/'
// built once: a key built per call would be looked up in V8's string table at each read
const INFO_KEY = `${ENVELOPE_PREFIX}clientInfo`
const CAPABILITIES_KEY = `${ENVELOPE_PREFIX}clientCapabilities`
const PLAIN_ENVELOPE = new Set([VERSION_KEY, INFO_KEY, CAPABILITIES_KEY])

/**
 * The 2026-07-28 envelope the SDK accepts: client capabilities as an object, client info (when
 * given) with a string name and version, and no other reserved key. Anything else goes to the SDK,
 * which answers it (with its own error where it is invalid).
 */
function validEnvelope (meta: Record<string, unknown> | undefined): boolean {
  if (meta === undefined) return false
  // the set first: a plain key needs no more (and `startsWith` costs several lookups on Node 20)
  for (const key in meta) if (!PLAIN_ENVELOPE.has(key) && key.startsWith(ENVELOPE_PREFIX)) return false
  const capabilities = meta[CAPABILITIES_KEY]
  if (capabilities === null || typeof capabilities !== 'object' || Array.isArray(capabilities)) return false
  const info = meta[INFO_KEY] as { name?: unknown, version?: unknown } | undefined
  return info === undefined || (typeof info === 'object' && info !== null && typeof info.name === 'string' && typeof info.version === 'string')
}

/**
 * Writes direct answers as the SDK would: 2026-07-28, a JSON body with the result marked complete
 * and the server named; 2025, one SSE message. The envelope around the result is put together as
 * text (the server's info serialised once per expose), so that each call serialises only its
 * result; with its length declared, the answer leaves in one write (chunked framing cost a writev
 * of five buffers per call).
 */
export function directResultWriter (serverInfo: { name: string, title?: string, version: string }): (res: ServerResponse, call: DirectCall, result: CallToolResult) => void {
  // the two members the 2026-07-28 result adds
  const modern = new ResultFrame('{"result":', `"resultType":"complete","_meta":${JSON.stringify({ 'io.modelcontextprotocol/serverInfo': serverInfo })}`, false)
  // one data line: a line break in the upstream's JSON text (whitespace between tokens, as in
  // pretty-printed JSON; never inside a string) would end it, and the client would wait forever
  const legacy = new ResultFrame('event: message\ndata: {"result":', '', true)
  return (res, call, result) => {
    const id = JSON.stringify(call.id)
    if (call.era === 'modern') {
      const body = modern.bytes(result, `,"jsonrpc":"2.0","id":${id}}`)
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length })
      res.end(body)
      return
    }
    const body = legacy.bytes(result, `,"jsonrpc":"2.0","id":${id}}\n\n`)
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache, no-transform', 'x-accel-buffering': 'no', 'content-length': body.length })
    res.end(body)
  }
}
