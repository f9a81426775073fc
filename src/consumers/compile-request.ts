import type { Readable } from 'node:stream'
import type { ConsumedNamespace, ConsumedOperation, ConsumedParameter, RequestBody, UpstreamAuthentication } from '../capability/model.js'
import { NaftikoError } from '../errors/naftiko-error.js'
import { type CallContext, JsonBody, plainValue } from '../expressions/call-context.js'
import { compileJsonTemplate, compileValue, resolveStaticText, type ExpressionScope, type ValueExpression } from '../expressions/compile-value.js'
import { normalizeName, splitPath } from '../expressions/template.js'
import { hasType } from '../invocations/input-types.js'

export interface UpstreamRequest {
  method: string
  /** Path and query, relative to the origin (base path included). */
  path: string
  headers: Record<string, string>
  /** a stream only for a forwarded request's body, sent as it arrives */
  body: Buffer | string | readonly Buffer[] | Readable | null
}

export type RequestBuilder = (ctx: CallContext) => UpstreamRequest

type PathPart = string | { name: string, expr: ValueExpression }
interface Param { name: string, expr: ValueExpression }

const NO_BODY = new Set(['GET', 'HEAD'])
// eslint-disable-next-line no-control-regex
const UNSAFE_HEADER_VALUE = /[\r\n\u0000]/

/**
 * Compiles one consumed operation into a function that builds the upstream request from a call
 * context. Everything that does not depend on the call (base path, auth headers, fixed query
 * parameters and headers) is computed here, once.
 */
export function compileRequest (consumes: ConsumedNamespace, operation: ConsumedOperation, basePath: string, scope: ExpressionScope): RequestBuilder {
  const method = operation.method
  const params = operation.parameters
  const lookup = (p: ConsumedParameter): ValueExpression => p.value === undefined ? byName(p.name) : compileValue(p.value, scope)

  const pathParts = compilePath(joinPath(basePath, operation.path), params.filter((p) => p.in === 'path'), lookup, scope)
  const query: Param[] = params.filter((p) => p.in === 'query').map((p) => ({ name: p.name, expr: lookup(p) }))
  const headerParams: Param[] = params.filter((p) => p.in === 'header').map((p) => ({ name: p.name.toLowerCase(), expr: lookup(p) }))
  const cookies: Param[] = params.filter((p) => p.in === 'cookie').map((p) => ({ name: p.name, expr: lookup(p) }))

  const credentialHeaders: Record<string, string> = {}
  for (const [name, value] of Object.entries(consumes.headers)) {
    const v = compileValue(value, scope)
    headerParams.unshift({ name: name.toLowerCase(), expr: v })
  }
  const staticQuery: string[] = []
  applyAuthentication(consumes.authentication, scope, credentialHeaders, staticQuery)
  // like the auth header, a query credential is never doubled or replaced by a caller's value
  const credentialNames = new Set(staticQuery.map((pair) => pair.slice(0, pair.indexOf('='))))
  if (credentialNames.size > 0) {
    for (let i = query.length - 1; i >= 0; i--) if (credentialNames.has(encodeURIComponent((query[i] as Param).name))) query.splice(i, 1)
  }

  const body = NO_BODY.has(method) ? undefined : compileBody(operation.body, params.filter((p) => p.in === 'body'), lookup, scope)
  const staticQueryText = staticQuery.join('&')
  const auth = consumes.authentication
  const bodyCredential = auth?.type === 'apikey' && auth.placement === 'body' && auth.key !== undefined
    ? { name: resolveStaticText(auth.key, scope), value: resolveStaticText(auth.value, scope) }
    : undefined

  return (ctx) => {
    const headers: Record<string, string> = {}
    for (const h of headerParams) {
      const v = plainValue(h.expr(ctx))
      if (v === undefined || v === null) continue
      const text = typeof v === 'object' ? JSON.stringify(v) : String(v)
      if (UNSAFE_HEADER_VALUE.test(text)) throw new NaftikoError('invalid_request', `Header parameter "${h.name}" contains a line break.`, { param: h.name })
      headers[h.name] = text
    }
    if (cookies.length > 0) {
      const pairs: string[] = []
      for (const c of cookies) {
        const v = plainValue(c.expr(ctx))
        if (v !== undefined && v !== null) pairs.push(`${c.name}=${encodeURIComponent(String(v))}`)
      }
      if (pairs.length > 0) headers.cookie = pairs.join('; ')
    }
    let payload: Buffer | string | readonly Buffer[] | null = null
    let piecesLength: number | undefined
    if (body !== undefined) {
      const built = body(ctx)
      if (built !== undefined) {
        payload = built.data
        if (headers['content-type'] === undefined && built.contentType !== undefined) headers['content-type'] = built.contentType
        piecesLength = built.length
      }
    }
    // the answer is scanned for secrets and read by mappings: ask for it uncompressed
    headers['accept-encoding'] ??= 'identity'
    // the credential is applied last: nothing the caller sends can replace it
    Object.assign(headers, credentialHeaders)
    if (bodyCredential !== undefined) {
      payload = withBodyCredential(payload, headers['content-type'], bodyCredential)
      headers['content-type'] = 'application/json'
    } else if (piecesLength !== undefined) {
      // pieces go as an iterable, whose length undici cannot know
      headers['content-length'] = String(piecesLength)
    }
    return { method, path: buildPath(pathParts, ctx) + buildQuery(query, staticQueryText, ctx), headers, body: payload }
  }
}

/** `https://x/v1` + `chat` and `https://x/v1/` + `/chat` both give `/v1/chat`. */
function joinPath (basePath: string, path: string): string {
  const base = basePath.endsWith('/') ? basePath.slice(0, -1) : basePath
  if (path === '' || path === undefined) return base === '' ? '/' : base
  return base + (path.startsWith('/') ? path : '/' + path)
}

/** A parameter without `value` takes the `with` value or the caller's input of the same name. */
function byName (name: string): ValueExpression {
  const key = normalizeName(name)
  return (ctx) => ctx.args.has(key) ? ctx.args.get(key) : ctx.inputs.get(key)
}

/** `/users/{id}` and `/users/{{id}}` are both placeholders (DESIGN 2.1); a bound variable is filled in now. */
function compilePath (path: string, pathParams: ConsumedParameter[], lookup: (p: ConsumedParameter) => ValueExpression, scope: ExpressionScope): PathPart[] {
  return splitPath(path).map((part) => {
    if (typeof part === 'string') return part
    const bound = scope.values.get(part.token)
    if (bound !== undefined) return bound
    const declared = pathParams.find((p) => normalizeName(p.name) === normalizeName(part.name))
    return { name: part.name, expr: declared === undefined ? byName(part.name) : lookup(declared) }
  })
}

function buildPath (parts: PathPart[], ctx: CallContext): string {
  let out = ''
  for (const part of parts) {
    if (typeof part === 'string') { out += part; continue }
    const v = plainValue(part.expr(ctx))
    if (v === undefined || v === null || v === '') {
      throw new NaftikoError('missing_required_parameter', `Missing required path parameter "${part.name}".`, { param: part.name })
    }
    const text = String(v)
    // encodeURIComponent keeps '.' as is: a whole segment of dots would climb the upstream's path
    if (text === '.' || text === '..') throw new NaftikoError('invalid_request', `Path parameter "${part.name}" may not be "${text}".`, { param: part.name })
    out += encodeURIComponent(text)
  }
  return out
}

function buildQuery (query: Param[], staticQuery: string, ctx: CallContext): string {
  let out = staticQuery
  for (const q of query) {
    const v = plainValue(q.expr(ctx))
    if (v === undefined || v === null) continue
    const values = Array.isArray(v) ? v : [v]
    for (const item of values) {
      const text = typeof item === 'object' ? JSON.stringify(item) : String(item)
      out += (out === '' ? '' : '&') + encodeURIComponent(q.name) + '=' + encodeURIComponent(text)
    }
  }
  return out === '' ? '' : '?' + out
}

function applyAuthentication (auth: UpstreamAuthentication | undefined, scope: ExpressionScope, headers: Record<string, string>, query: string[]): void {
  if (auth === undefined) return
  const text = (v: unknown): string => resolveStaticText(v, scope)
  switch (auth.type) {
    case 'bearer':
      headers.authorization = `Bearer ${text(auth.token)}`
      break
    case 'basic':
      headers.authorization = `Basic ${Buffer.from(`${text(auth.username)}:${text(auth.password)}`).toString('base64')}`
      break
    case 'apikey':
      if (auth.placement === 'query') query.push(`${encodeURIComponent(text(auth.key))}=${encodeURIComponent(text(auth.value))}`)
      else if (auth.placement === undefined || auth.placement === 'header') {
        if (auth.key !== undefined) headers[text(auth.key).toLowerCase()] = text(auth.value)
      }
      for (const [name, value] of Object.entries(auth.headers)) headers[name.toLowerCase()] = text(value)
      break
  }
}

/**
 * `apikey` with `placement: body` (Mailchimp Transactional and the like): the key is a field of the
 * JSON request body, set last so that no caller's field of that name replaces it. A body that is not
 * a JSON object cannot carry it.
 */
function withBodyCredential (payload: Buffer | string | readonly Buffer[] | null, contentType: string | undefined, credential: { name: string, value: string }): string {
  let body: unknown = {}
  if (payload !== null && payload.length > 0) {
    if (contentType !== undefined && !/^application\/([\w.+-]*\+)?json/i.test(contentType)) {
      throw new NaftikoError('invalid_request', 'This operation sends its API key in a JSON request body; the request body is not JSON.')
    }
    try {
      body = JSON.parse((Array.isArray(payload) ? Buffer.concat(payload) : payload).toString())
    } catch {
      throw new NaftikoError('invalid_json', 'The request body is not valid JSON.')
    }
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new NaftikoError('invalid_request', 'This operation sends its API key in the request body, which must be a JSON object.')
  }
  return JSON.stringify({ ...body, [credential.name]: credential.value })
}

/** `data`: a large JSON body is the pieces it arrived in, sent one after the other */
interface BuiltBody { data: Buffer | string | readonly Buffer[], contentType: string | undefined, length?: number }

/** An operation `body:` template wins; else one body parameter is the whole body and several are
 * assembled into one JSON object by name (DESIGN 2.1). */
function compileBody (template: RequestBody | undefined, bodyParams: ConsumedParameter[], lookup: (p: ConsumedParameter) => ValueExpression, scope: ExpressionScope): ((ctx: CallContext) => BuiltBody | undefined) | undefined {
  // `{type: json}` with no `data` (generator files) means the body comes from the caller
  if (template !== undefined && template.type !== 'caller') return compileBodyTemplate(template, scope)
  if (bodyParams.length === 0) return undefined
  if (bodyParams.length === 1) {
    const only = bodyParams[0] as ConsumedParameter
    const expr = lookup(only)
    const check = only.required || only.type === 'object' || only.type === 'array'
    if (!check) return (ctx) => serialize(expr(ctx) ?? (only.value === undefined ? ctx.inputs.body : undefined))
    return (ctx) => {
      const value = expr(ctx) ?? (only.value === undefined ? ctx.inputs.body : undefined)
      // a large body kept as received is typed by its first byte: checking it never parses it
      checkBodyParameter(only, value instanceof JsonBody ? value : plainValue(value))
      return serialize(value)
    }
  }
  const fields = bodyParams.map((p) => ({ name: p.name, expr: lookup(p) }))
  return (ctx) => {
    const out: Record<string, unknown> = {}
    let any = false
    for (const f of fields) {
      const v = plainValue(f.expr(ctx))
      if (v !== undefined) { out[f.name] = v; any = true }
    }
    return any ? { data: JSON.stringify(out), contentType: 'application/json' } : undefined
  }
}

/** A required or typed body parameter is checked before any call, whichever exposer the call came from. */
function checkBodyParameter (param: ConsumedParameter, value: unknown): void {
  if (value === undefined) {
    if (param.required) throw new NaftikoError('missing_required_parameter', `Missing required body parameter "${param.name}".`, { param: param.name })
    return
  }
  if (param.type !== undefined && !hasType(value, param.type)) {
    throw new NaftikoError('invalid_request', `Body parameter "${param.name}" must be ${param.type === 'array' || param.type === 'object' ? 'an' : 'a'} ${param.type}.`, { param: param.name })
  }
}

function serialize (value: unknown): BuiltBody | undefined {
  if (value === undefined) return undefined
  if (value instanceof JsonBody) {
    const data = value.bytes
    return Buffer.isBuffer(data) ? { data, contentType: 'application/json' } : { data, contentType: 'application/json', length: value.length }
  }
  if (typeof value === 'string') return { data: value, contentType: 'text/plain; charset=utf-8' }
  return { data: JSON.stringify(value), contentType: 'application/json' }
}

const TEXT_TYPES: Record<'text' | 'xml' | 'sparql', string> = {
  text: 'text/plain; charset=utf-8',
  xml: 'application/xml',
  sparql: 'application/sparql-query',
}

function compileBodyTemplate (template: Exclude<RequestBody, { type: 'caller' }>, scope: ExpressionScope): (ctx: CallContext) => BuiltBody | undefined {
  // a raw `body:` string, or json `data` given as text, is JSON text with templates filled in as JSON
  // (the format and the official engine send it as JSON); a header parameter may still set another type
  if ((template.type === 'raw' || template.type === 'json') && typeof template.data === 'string') {
    const json = compileJsonTemplate(template.data, scope)
    return (ctx) => ({ data: json(ctx), contentType: 'application/json' })
  }
  const expr = compileValue(template.data, scope)
  switch (template.type) {
    case 'raw':
    case 'json':
      return (ctx) => ({ data: JSON.stringify(plainValue(expr(ctx)) ?? null), contentType: 'application/json' })
    case 'form':
      return (ctx) => {
        const v = plainValue(expr(ctx))
        if (typeof v === 'string') return { data: v, contentType: 'application/x-www-form-urlencoded' }
        const form = new URLSearchParams()
        for (const [k, item] of Object.entries((v ?? {}) as Record<string, unknown>)) {
          if (item !== undefined && item !== null) form.append(k, typeof item === 'object' ? JSON.stringify(item) : String(item))
        }
        return { data: form.toString(), contentType: 'application/x-www-form-urlencoded' }
      }
    case 'multipart':
      return () => { throw new NaftikoError('feature_not_supported', 'Multipart request bodies are not supported yet.') }
    default: {
      const contentType = TEXT_TYPES[template.type]
      return (ctx) => textBody(expr(ctx), contentType)
    }
  }
}

function textBody (value: unknown, contentType: string): BuiltBody | undefined {
  const v = plainValue(value)
  if (v === undefined || v === null) return undefined
  return { data: typeof v === 'string' ? v : JSON.stringify(v), contentType }
}
