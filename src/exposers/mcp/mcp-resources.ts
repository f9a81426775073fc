import type { Dirent } from 'node:fs'
import { readdir, readFile, realpath, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type * as ServerSdk from '@modelcontextprotocol/server'
import { escapeRegExp, type Redactor } from '../../bindings/redact.js'
import { filePathOf } from '../../capability/file-location.js'
import type { McpDynamicResource, McpExpose, McpStaticResource } from '../../capability/model.js'
import { toErrorResponse } from '../../errors/envelope.js'
import type { UpstreamWatch } from '../../expressions/call-context.js'
import { splitPath } from '../../expressions/template.js'
import type { TraceContext } from '../../expressions/trace-context.js'
import { collectOutcome, compileInvocation, type Invocation, type InvocationContext } from '../../invocations/compile-invocation.js'
import type { Outcome } from '../../invocations/outcome.js'
import { Cancellation } from '../../server/cancellation.js'
import type { Logger } from '../../server/logger.js'
import type { Metrics } from '../../server/metrics.js'
import { watchRequest } from '../../server/request-watch.js'
import type { McpInstance } from './mcp-exposer.js'
import { McpInputs } from './mcp-tools.js'
import { isInside, isText, mimeTypeOf, scrubFile } from '../served-files.js'

/** The wire forms `resources/list` and `resources/templates/list` return. */
export interface ResourceDefinition { uri: string, name: string, title?: string, description?: string, mimeType?: string }
export interface ResourceTemplateDefinition { uriTemplate: string, name: string, title?: string, description?: string, mimeType?: string }

export interface ResourceContents { uri: string, mimeType: string, text?: string, blob?: string }

/** What a read came to: the contents, or why not (the exposer turns it into a JSON-RPC error). */
export type ReadResult =
  | { ok: true, contents: ResourceContents[] }
  | { ok: false, notFound: boolean, message: string, data?: Record<string, unknown> }

/** Everything `resources/*` needs, built once at startup: the lists are constants, a read is a lookup. */
export interface PreparedResources {
  readonly list: { resources: ResourceDefinition[] }
  readonly templates: { resourceTemplates: ResourceTemplateDefinition[] }
  /** `call`: the caller's trace context and what watches the upstream call, as for a tool call */
  read (uri: string, signal: Cancellation, logger: Logger, call?: { trace?: TraceContext | undefined, watch?: UpstreamWatch | undefined }): Promise<ReadResult>
}

/** A file of a static resource, found when the gateway started. */
interface StaticFile { resource: McpStaticResource, path: string, root: string, mimeType: string }

interface Dynamic { resource: McpDynamicResource, invocation: Invocation }

interface Template extends Dynamic { match: (uri: string) => Record<string, string> | undefined }

/**
 * Dynamic resources (`call`/`steps` + `with`) run through the same invocation and outcome path as
 * tools, so scrubbing, limits and upstream errors behave the same; a `{param}` in the URI makes a
 * resource template whose values become the call's inputs. Static resources serve the files under
 * `location` that exist when the gateway starts (hidden files and symlinks leading outside left
 * out): a read looks the URI up among them, so no client-given path ever reaches the file system.
 */
export async function prepareResources (expose: McpExpose, context: InvocationContext, capabilityPath: string): Promise<PreparedResources> {
  const resources: ResourceDefinition[] = []
  const resourceTemplates: ResourceTemplateDefinition[] = []
  const files = new Map<string, StaticFile>()
  const exact = new Map<string, Dynamic>()
  const templates: Template[] = []
  for (const resource of expose.resources) {
    const shown = { name: resource.name, ...(resource.label === undefined ? {} : { title: resource.label }), ...(resource.description === undefined ? {} : { description: resource.description }) }
    if (resource.kind === 'static') {
      const root = await realpath(filePathOf(resource.location, capabilityPath))
      const single = (await stat(root)).isFile()
      const found = single ? [''] : await listFiles(root)
      const base = resource.uri.endsWith('/') ? resource.uri.slice(0, -1) : resource.uri
      for (const rel of found) {
        const uri = rel === '' ? resource.uri : `${base}/${rel.split('/').map(encodeURIComponent).join('/')}`
        const path = rel === '' ? root : join(root, ...rel.split('/'))
        const mimeType = resource.mimeType ?? mimeTypeOf(path)
        files.set(uri, { resource, path, root, mimeType })
        resources.push({ uri, ...shown, ...(rel === '' ? {} : { name: `${resource.name}/${rel}` }), mimeType })
      }
      continue
    }
    const dynamic = { resource, invocation: compileInvocation(resource, context) }
    const mime = resource.mimeType === undefined ? {} : { mimeType: resource.mimeType }
    const match = compileUriTemplate(resource.uri)
    if (match === undefined) {
      exact.set(resource.uri, dynamic)
      resources.push({ uri: resource.uri, ...shown, ...mime })
    } else {
      templates.push({ ...dynamic, match })
      resourceTemplates.push({ uriTemplate: resource.uri, ...shown, ...mime })
    }
  }
  const { redactor, responseLimit } = context
  return {
    list: { resources },
    templates: { resourceTemplates },
    async read (uri, signal, logger, call) {
      const file = files.get(uri)
      if (file !== undefined) return await readStaticFile(uri, file, redactor, responseLimit)
      const fixed = exact.get(uri)
      if (fixed !== undefined) return await readDynamic(uri, fixed, new McpInputs({}, call?.trace, call?.watch), signal, logger)
      for (const template of templates) {
        const values = template.match(uri)
        if (values !== undefined) return await readDynamic(uri, template, new McpInputs(values, call?.trace, call?.watch), signal, logger)
      }
      return { ok: false, notFound: true, message: `Resource ${uri} not found.` }
    },
  }
}

/** Registers `resources/list`, `resources/templates/list` and `resources/read` on one SDK server. */
export function serveResources (server: ServerSdk.Server, sdk: typeof ServerSdk, resources: PreparedResources, instance: McpInstance, logger: Logger, metrics: Metrics, expose: string): void {
  const { ProtocolError, ProtocolErrorCode, ResourceNotFoundError } = sdk
  const { calls, connection } = instance
  server.setRequestHandler('resources/list', () => resources.list as never)
  server.setRequestHandler('resources/templates/list', () => resources.templates as never)
  server.setRequestHandler('resources/read', async (request, ctx) => {
    const http = connection?.getStore()
    const cancellation = new Cancellation().follow(ctx.mcpReq.signal)
    if (http !== undefined) cancellation.follow(http.signal)
    const done = calls.track(http?.client ?? 'stdio', ctx.mcpReq.id, cancellation)
    try {
      const result = await resources.read(request.params.uri, cancellation, logger, { trace: http?.trace, watch: watchRequest(metrics, expose, 'resources/read', http?.span) })
      if (result.ok) return { contents: result.contents } as never
      if (result.notFound) throw new ResourceNotFoundError(request.params.uri, result.message)
      throw new ProtocolError(ProtocolErrorCode.InternalError, result.message, result.data)
    } finally {
      done()
    }
  })
}

// ---------------------------------------------------------------------------------------------
// static files
// ---------------------------------------------------------------------------------------------

/** The regular files under `root`, as `/`-separated relative paths, sorted; hidden entries are left out. */
async function listFiles (root: string): Promise<string[]> {
  const out: string[] = []
  const walk = async (dir: string, rel: string): Promise<void> => {
    const entries: Dirent[] = await readdir(dir, { withFileTypes: true })
    entries.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue
      const path = join(dir, entry.name)
      const relative = rel === '' ? entry.name : `${rel}/${entry.name}`
      if (entry.isDirectory()) await walk(path, relative)
      else if (entry.isFile()) out.push(relative)
      // a symlink is served only when it leads to a file inside the root (directories are not followed)
      else if (entry.isSymbolicLink() && await insideFile(path, root)) out.push(relative)
    }
  }
  await walk(root, '')
  return out
}

async function insideFile (path: string, root: string): Promise<boolean> {
  try {
    const real = await realpath(path)
    return isInside(real, root) && (await stat(real)).isFile()
  } catch {
    return false
  }
}

/**
 * Reads one listed file. Its real path is checked again, so that a file replaced by a symlink
 * leading outside the root after startup is refused; text goes through the redactor like every
 * other byte that leaves, binary content is base64.
 */
async function readStaticFile (uri: string, file: StaticFile, redactor: Redactor, limit: number): Promise<ReadResult> {
  let bytes: Buffer
  try {
    const real = await realpath(file.path)
    const info = await stat(real)
    if (!isInside(real, file.root) || !info.isFile()) return { ok: false, notFound: true, message: `Resource ${uri} not found.` }
    if (info.size > limit) return { ok: false, notFound: false, message: `Resource ${uri} is larger than ${limit} bytes, the most the gateway reads whole (--response-limit).` }
    bytes = await readFile(real)
  } catch {
    return { ok: false, notFound: true, message: `Resource ${uri} not found.` }
  }
  const leaving = scrubFile(bytes, file.mimeType, redactor)
  if (leaving === undefined) return { ok: false, notFound: false, message: `Resource ${uri} holds a credential of the gateway and was withheld.` }
  if ('text' in leaving) return { ok: true, contents: [{ uri, mimeType: file.mimeType, text: leaving.text }] }
  return { ok: true, contents: [{ uri, mimeType: file.mimeType, blob: leaving.bytes.toString('base64') }] }
}

// ---------------------------------------------------------------------------------------------
// dynamic resources
// ---------------------------------------------------------------------------------------------

/**
 * `data://users/{userId}/profile` -> a matcher that gives `{userId}` from a requested URI, or
 * undefined when the URI has no placeholder. A value is one or more characters up to the next `/`,
 * percent-decoded.
 */
function compileUriTemplate (uriTemplate: string): ((uri: string) => Record<string, string> | undefined) | undefined {
  const parts = splitPath(uriTemplate)
  const names = parts.filter((p) => typeof p !== 'string').map((p) => p.name)
  if (names.length === 0) return undefined
  const pattern = new RegExp(`^${parts.map((p) => typeof p === 'string' ? escapeRegExp(p) : '([^/]+)').join('')}$`)
  return (uri) => {
    const m = pattern.exec(uri)
    if (m === null) return undefined
    const values: Record<string, string> = {}
    try {
      names.forEach((name, i) => { values[name] = decodeURIComponent(m[i + 1] as string) })
    } catch {
      return undefined
    }
    return values
  }
}

async function readDynamic (uri: string, entry: Dynamic, inputs: McpInputs, signal: Cancellation, logger: Logger): Promise<ReadResult> {
  const started = performance.now()
  const declared = entry.resource.mimeType
  let outcome: Outcome = await entry.invocation.invoke(inputs, signal)
  let blob: { mimeType: string, bytes: Buffer } | undefined
  // a binary answer relayed as it is goes out as a blob; everything else (no type: like a tool's
  // answer) is read as text or JSON
  const contentType = outcome.kind === 'relay' ? declared ?? outcome.headers['content-type'] : undefined
  if (outcome.kind === 'relay' && typeof contentType === 'string' && !isText(contentType)) {
    try {
      const chunks: Buffer[] = []
      for await (const chunk of outcome.body.chunks()) chunks.push(chunk)
      blob = { mimeType: contentType, bytes: Buffer.concat(chunks) }
    } catch (err) {
      outcome = { kind: 'error', error: err }
    }
  } else {
    outcome = await collectOutcome(outcome)
  }
  const upstreamStatus = outcome.kind === 'error' ? null : outcome.status
  const cause = outcome.kind === 'error' ? (signal.aborted ? 'cancelled' : toErrorResponse(outcome.error).body.error.code) : outcome.kind === 'upstream_error' ? (outcome.code ?? `upstream ${outcome.status}`) : undefined
  logger.info({ method: 'resources/read', resource: entry.resource.name, upstreamStatus, cause, ms: Math.round((performance.now() - started) * 100) / 100 }, 'resource read')
  if (blob !== undefined) return { ok: true, contents: [{ uri, mimeType: blob.mimeType, blob: blob.bytes.toString('base64') }] }
  switch (outcome.kind) {
    case 'json':
      return { ok: true, contents: [{ uri, mimeType: declared ?? 'application/json', text: outcome.text }] }
    case 'text':
      return { ok: true, contents: [{ uri, mimeType: declared ?? String(outcome.headers['content-type'] ?? 'text/plain'), text: outcome.text }] }
    case 'upstream_error': {
      const code = outcome.code === undefined ? '' : ` (${outcome.code})`
      const retry = outcome.retryAfter === undefined ? '' : ` Retry after ${outcome.retryAfter} s.`
      return { ok: false, notFound: false, message: `Upstream answered ${outcome.status}${code}: ${outcome.message}${retry}`, data: { status: outcome.status, code: outcome.code ?? null, retryAfter: outcome.retryAfter ?? null } }
    }
    case 'error': {
      if (signal.aborted) return { ok: false, notFound: false, message: 'The read was cancelled.' }
      const { body } = toErrorResponse(outcome.error)
      if (body.error.code === 'internal_error') logger.error({ err: outcome.error, resource: entry.resource.name }, 'resource read failed')
      return { ok: false, notFound: false, message: `${body.error.code}: ${body.error.message}`, data: { code: body.error.code } }
    }
    default:
      return { ok: false, notFound: false, message: 'internal_error: the answer could not be read.', data: { code: 'internal_error' } }
  }
}
