/**
 * Issue 9's acceptance test: every capability file of the api-evangelist corpus
 * (`../shared/corpus/api-evangelist/`) run for real. Each file is started with the built CLI
 * (`node dist/cli.js run FILE`), its consumed namespaces pointed at one local recording upstream
 * the documented ways (`NAFTIKO_BASE_URI_<NAMESPACE>`, and `--server-var` /
 * `NAFTIKO_SERVER_VAR_<NAME>` for base URIs with OpenAPI server variables), every bound variable a
 * distinct fake secret. Every REST operation and every MCP tool is called once, and the recorder
 * must have seen the consumed method, path (placeholders filled and encoded), declared query
 * parameters with the values sent, and the credential where the capability puts it and nowhere
 * else. Calls the runtime answers 501 by design are counted apart, with their feature.
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli, startCliServing, type ServingCli } from '../helpers/cli.js'
import {
  bindings, CAPABILITIES, consumedOperations, consumesOf, CORPUS, corpusExists, EXPECTED_REJECTIONS, expressionEvaluator, exposesOf,
  isObject, type Json, list, modelConsumedPath, modelConsumedQuery, norm, PLACEHOLDER, skipWithoutCorpus, str, type Target,
} from '../helpers/corpus.js'
import { startRecordingUpstream, type RecordedRequest, type RecordingUpstream } from '../helpers/recording-upstream.js'

// ---------------------------------------------------------------------------------------------
// The files
// ---------------------------------------------------------------------------------------------

const FILES = CAPABILITIES.filter((rel) => rel.startsWith('api-evangelist/'))
const REJECTED = FILES.filter((rel) => EXPECTED_REJECTIONS[rel] !== undefined)
const RUNNABLE = FILES.filter((rel) => EXPECTED_REJECTIONS[rel] === undefined)
/** CLI processes at a time: the machine has 2 cores */
const CONCURRENCY = 3
/** one call's longest wait: the recorder answers at once */
const CALL_TIMEOUT = 15_000

/** The README's rule for `NAFTIKO_BASE_URI_<NAMESPACE>` and `NAFTIKO_SERVER_VAR_<NAME>`. */
const envName = (name: string): string => name.toUpperCase().replace(/[^A-Z0-9]/g, '_')
/** `{subdomain}` of `https://{subdomain}.zendesk.com`, not the `{{VAR}}` of a template */
const SERVER_VARIABLE = /(?<!\{)\{([^{}]+)\}(?!\})/g
const serverVariables = (uri: string): string[] => [...uri.matchAll(SERVER_VARIABLE)].map((m) => m[1] as string)

/**
 * How a namespace whose base URI has server variables reaches the recorder, taken in turn by the
 * files that have one: the whole namespace replaced by `NAFTIKO_BASE_URI_*`, or a base URI on the
 * recorder that keeps the original's variables (`http://127.0.0.1:P/f3/ns/{subdomain}.{site}`),
 * filled by `--server-var` flags or by `NAFTIKO_SERVER_VAR_*`.
 */
const SERVER_VAR_MODES = ['NAFTIKO_BASE_URI', '--server-var', 'NAFTIKO_SERVER_VAR'] as const
type ServerVarMode = typeof SERVER_VAR_MODES[number]
const WITH_SERVER_VARS = RUNNABLE.filter((rel) => consumesOf(rel).some((c) => serverVariables(str(c.baseUri) ?? '').length > 0))

const servedExposes = (rel: string): Json[] => exposesOf(rel).filter((e) => e.type === 'rest' || (e.type === 'mcp' && e.transport !== 'stdio'))

// ---------------------------------------------------------------------------------------------
// Credentials: where the capability puts each, from its `authentication` and the fake secrets
// ---------------------------------------------------------------------------------------------

const TOKEN = /\{\{\s*([^{}]+?)\s*\}\}/g

interface Credential {
  kind: string
  /** headers the upstream must see (lower-case names) */
  headers: Record<string, string>
  /** query parameters the credential adds */
  query: Array<[string, string]>
  /** a field of the JSON request body */
  bodyField: [string, string] | undefined
  /** bound values the credential is made of: each must appear nowhere else in the request */
  secrets: string[]
  /** a credential the runtime cannot send yet: the call answers 501 by design */
  unsupported: string | undefined
}

function credentialOf (consumes: Json, bound: ReadonlyMap<string, string>): Credential {
  const auth = isObject(consumes.authentication) ? consumes.authentication : undefined
  const secrets: string[] = []
  const fill = (v: unknown): string => String(v ?? '').replace(TOKEN, (whole, t: string) => {
    const value = bound.get(t) ?? (t.startsWith('env.') ? bound.get(t.slice(4)) : undefined)
    if (value === undefined) return whole
    secrets.push(value)
    return value
  })
  const none: Credential = { kind: 'none', headers: {}, query: [], bodyField: undefined, secrets, unsupported: undefined }
  if (auth === undefined) return none
  switch (auth.type) {
    case 'bearer': return { ...none, kind: 'bearer', headers: { authorization: `Bearer ${fill(auth.token)}` } }
    case 'basic': return { ...none, kind: 'basic', headers: { authorization: `Basic ${Buffer.from(`${fill(auth.username)}:${fill(auth.password)}`).toString('base64')}` } }
    case 'apikey': {
      const headers = Object.fromEntries(Object.entries(isObject(auth.headers) ? auth.headers : {}).map(([k, v]) => [k.toLowerCase(), fill(v)]))
      const placement = str(auth.placement) ?? 'header'
      if (auth.key === undefined) return { ...none, kind: 'apikey headers', headers }
      const key = fill(auth.key)
      const value = fill(auth.value)
      if (placement === 'query') return { ...none, kind: 'apikey query', headers, query: [[key, value]] }
      if (placement === 'body') return { ...none, kind: 'apikey body', headers, bodyField: [key, value] }
      if (placement === 'header') return { ...none, kind: 'apikey header', headers: { ...headers, [key.toLowerCase()]: value } }
      return { ...none, kind: `apikey ${placement}`, headers, unsupported: `apikey placement "${placement}"` }
    }
    case 'oauth2': return { ...none, kind: 'oauth2', unsupported: 'oauth2 authentication to an upstream' }
    default: return { ...none, kind: String(auth.type) }
  }
}

// ---------------------------------------------------------------------------------------------
// Values to send: typed from the schema, recognisable, with a space, `/` and `&` to encode
// ---------------------------------------------------------------------------------------------

function sample (schema: unknown, text: string): unknown {
  const s = isObject(schema) ? schema : {}
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[0]
  const type = Array.isArray(s.type) ? s.type[0] : s.type
  switch (type) {
    case 'integer': case 'number': return 7
    case 'boolean': return true
    case 'array': return [sample(s.items, text)]
    case 'object': return { probe: text }
    default: return text
  }
}

// ---------------------------------------------------------------------------------------------
// One call and what the recorder must see for it
// ---------------------------------------------------------------------------------------------

interface Expected {
  method: string
  /** the path on the recorder, base path included, still encoded */
  path: string
  /** every query parameter, decoded, sorted */
  query: Array<[string, string]>
  credential: Credential
  /** bound values the capability also writes into the path, query or headers itself */
  alsoUsed: Set<string>
}

type Outcome =
  | { kind: 'reached' }
  | { kind: 'not-supported', feature: string }
  | { kind: 'mock' }
  | { kind: 'problem', text: string }

interface Call {
  surface: 'rest' | 'mcp'
  label: string
  /** undefined: no upstream call is expected (501 by design, mock) */
  expected: Expected | undefined
  /** the feature the runtime does not execute yet, when 501 is the expected answer */
  unsupported: string | undefined
  mock: boolean
  send: () => Promise<{ ok: boolean, status: number, text: string }>
}

const SORT = (a: [string, string], b: [string, string]): number => a[0] === b[0] ? (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0) : a[0] < b[0] ? -1 : 1

function feature (item: Json, target: Target | undefined, credential: Credential | undefined): string | undefined {
  if (item.steps !== undefined) return 'orchestration steps'
  if (item.ref !== undefined && item.call === undefined) return 'aggregate function ref'
  if (credential?.unsupported !== undefined) return credential.unsupported
  const body = target?.operation.body
  if (isObject(body) && /multipart/i.test(String(body.type))) return 'multipart bodies'
  return undefined
}

const isMock = (item: Json): boolean => item.call === undefined && item.steps === undefined && item.ref === undefined &&
  list(item.outputParameters).length > 0 && list(item.outputParameters).every((o) => o.value !== undefined)

/** Bound values the consumes entry writes somewhere else than in its credential. */
function alsoUsedOf (consumes: Json, bound: ReadonlyMap<string, string>): Set<string> {
  const rest = JSON.stringify({ ...consumes, authentication: undefined, baseUri: undefined })
  const out = new Set<string>()
  for (const m of rest.matchAll(TOKEN)) {
    const t = m[1] as string
    const value = bound.get(t) ?? (t.startsWith('env.') ? bound.get(t.slice(4)) : undefined)
    if (value !== undefined) out.add(value)
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// Talking to the gateway
// ---------------------------------------------------------------------------------------------

/** 0.0.0.0 in an address line: call it on loopback */
const loopback = (url: string): string => url.replace('://0.0.0.0:', '://127.0.0.1:').replace('://[::]:', '://127.0.0.1:')

let rpcId = 0
/** makes every value sent unique across the run */
let valueId = 0
async function rpc (url: string, method: string, params: Json): Promise<{ status: number, message: Json | undefined, text: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { accept: 'application/json, text/event-stream', 'content-type': 'application/json', 'mcp-protocol-version': '2025-11-25' },
    body: JSON.stringify({ jsonrpc: '2.0', id: ++rpcId, method, params }),
    signal: AbortSignal.timeout(CALL_TIMEOUT),
  })
  const text = await res.text()
  const data = (res.headers.get('content-type') ?? '').includes('text/event-stream')
    ? text.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).filter((l) => l !== '').at(-1)
    : text
  let message: Json | undefined
  try { message = JSON.parse(data ?? '') as Json } catch { message = undefined }
  return { status: res.status, message, text }
}

// ---------------------------------------------------------------------------------------------
// One file: start it, call everything, compare with the recorder
// ---------------------------------------------------------------------------------------------

interface FileReport {
  rel: string
  started: boolean
  outcomes: Array<{ surface: 'rest' | 'mcp', label: string, outcome: Outcome }>
  /** problems not tied to one call (startup summary, warnings) */
  problems: string[]
  serverVarMode: ServerVarMode | undefined
  notServed: string[]
}

let recorder: RecordingUpstream
const running = new Set<ServingCli>()

async function runFile (rel: string, index: number): Promise<FileReport> {
  const report: FileReport = { rel, started: false, outcomes: [], problems: [], serverVarMode: undefined, notServed: [] }
  const prefix = `/f${index}`
  const { values: bound, env: bindEnv } = bindings(rel)
  const env: Record<string, string> = { ...bindEnv, NAFTIKO_LOG_LEVEL: 'warn', NAFTIKO_LOG_FORMAT: 'json' }
  const exposes = servedExposes(rel)
  const args = ['run', join(CORPUS, rel), '--port', 'rest=0', '--port', 'mcp=0', '--shutdown-timeout', '1000']
  // every expose on a free port: skill catalogs listen too (several files declare one on 3011)
  const listening = exposesOf(rel).filter((e) => exposes.includes(e) || e.type === 'skill')
  for (const e of listening) if (e.namespace !== undefined) args.push('--port', `${String(e.namespace)}=0`)
  // closed by default: the opt-in by flag for half the files, by environment for the other half
  if (index % 2 === 0) args.push('--allow-unauthenticated')
  else env.NAFTIKO_ALLOW_UNAUTHENTICATED = '1'
  report.notServed = exposesOf(rel).filter((e) => !exposes.includes(e)).map((e) => `${String(e.type)} ${String(e.namespace ?? e.name ?? '')}`)

  // base URIs: every namespace on the recorder, under /f<index>/<namespace>
  const consumes = consumesOf(rel)
  const bases = new Map<string, string>()
  const svIndex = WITH_SERVER_VARS.indexOf(rel)
  const mode = svIndex === -1 ? undefined : SERVER_VAR_MODES[svIndex % SERVER_VAR_MODES.length] as ServerVarMode
  report.serverVarMode = mode
  for (const c of consumes) {
    const ns = String(c.namespace)
    const original = str(c.baseUri) ?? ''
    const vars = serverVariables(original)
    let uri = `${recorder.origin}${prefix}/${ns}`
    let filled = uri
    if (vars.length > 0 && mode !== 'NAFTIKO_BASE_URI') {
      const tail = original.replace(/^[a-z]+:\/\//i, '')
      uri = `${recorder.origin}${prefix}/${ns}/${tail}`
      filled = uri
      for (const name of vars) {
        const value = `sv-${name.toLowerCase()}`
        filled = filled.split(`{${name}}`).join(value)
        if (mode === '--server-var') args.push('--server-var', `${name}=${value}`)
        else env[`NAFTIKO_SERVER_VAR_${envName(name)}`] = value
      }
    }
    env[`NAFTIKO_BASE_URI_${envName(ns)}`] = uri
    bases.set(ns, filled)
  }

  let cli: ServingCli
  try {
    cli = await startCliServing(args, env, { exposes: listening.length, upstreams: consumes.length })
  } catch (err) {
    report.problems.push(`does not start: ${String((err as Error).message).slice(0, 600)}`)
    return report
  }
  running.add(cli)
  report.started = true
  try {
    for (const [ns, base] of bases) {
      const line = cli.upstreams.get(ns)
      if (line !== base) report.problems.push(`startup summary: consumes ${ns} -> ${String(line)}, expected ${base}`)
    }
    const wide = exposes.filter((e) => e.address !== undefined && e.address !== '127.0.0.1' && e.address !== 'localhost')
    if (wide.length > 0 && !cli.stderr().includes('allowed by --allow-unauthenticated')) {
      report.problems.push(`exposes on ${wide.map((e) => String(e.address)).join(', ')} without inbound authentication started without the "allowed by --allow-unauthenticated" warning`)
    }

    const calls: Call[] = []
    const operations = consumedOperations(rel)
    for (const expose of exposes) {
      const namespace = String(expose.namespace)
      const address = cli.addresses.find((a) => a.namespace === namespace && a.type === expose.type)
      if (address === undefined) { report.problems.push(`${String(expose.type)} ${namespace}: no address line`); continue }
      const url = loopback(address.url)
      const inbound = inboundCredential(expose, bound)
      if (expose.type === 'rest') calls.push(...restCalls(rel, expose, url, inbound, operations, bound, bases))
      else calls.push(...await mcpCalls(rel, expose, url, inbound, operations, bound, bases, report))
    }

    const answers = await Promise.all(calls.map(async (c) => await c.send().catch((err: unknown) => ({ ok: false, status: 0, text: String(err) }))))
    // the recorder's log holds every file's requests: this file's are under its own prefix
    const unmatched = new Set(recorder.requests.filter((r) => r.path.startsWith(`${prefix}/`)))
    calls.forEach((call, i) => {
      const answer = answers[i] as { ok: boolean, status: number, text: string }
      report.outcomes.push({ surface: call.surface, label: call.label, outcome: judge(call, answer, unmatched) })
    })
    for (const extra of unmatched) report.problems.push(`an upstream request no call explains: ${extra.method} ${extra.path}?${extra.query}`)
  } finally {
    const code = await cli.stop()
    running.delete(cli)
    if (code !== 0) report.problems.push(`exited with ${String(code)} on SIGTERM: ${cli.stderr().slice(-400)}`)
  }
  return report
}

/** The credential a client must present to an expose with `authentication` (none in this corpus, modelled anyway). */
function inboundCredential (expose: Json, bound: ReadonlyMap<string, string>): { headers: Record<string, string>, query: Array<[string, string]> } {
  const auth = isObject(expose.authentication) ? expose.authentication : undefined
  const fill = (v: unknown): string => String(v ?? '').replace(TOKEN, (whole, t: string) => bound.get(t) ?? (t.startsWith('env.') ? bound.get(t.slice(4)) : undefined) ?? whole)
  if (auth === undefined) return { headers: {}, query: [] }
  if (auth.type === 'bearer') return { headers: { authorization: `Bearer ${fill(auth.token)}` }, query: [] }
  if (auth.type === 'basic') return { headers: { authorization: `Basic ${Buffer.from(`${fill(auth.username)}:${fill(auth.password)}`).toString('base64')}` }, query: [] }
  if (auth.type === 'apikey' && auth.placement === 'query') return { headers: {}, query: [[fill(auth.key), fill(auth.value)]] }
  if (auth.type === 'apikey') return { headers: { [fill(auth.key).toLowerCase()]: fill(auth.value) }, query: [] }
  throw new Error(`inbound ${String(auth.type)} authentication: not modelled by this test`)
}

function expectedFor (rel: string, caller: Json, target: Target, exposeNamespace: string, bound: ReadonlyMap<string, string>, bases: Map<string, string>, input: (name: string) => unknown): Expected {
  const evaluate = expressionEvaluator(bound, exposeNamespace, input)
  const path = modelConsumedPath(target, caller, bound, evaluate, input)
  const credential = credentialOf(target.consumes, bound)
  const credentialNames = new Set(credential.query.map(([k]) => k))
  const query = [...credential.query, ...modelConsumedQuery(target, caller, evaluate, input).filter(([k]) => !credentialNames.has(k))].sort(SORT)
  const base = new URL(bases.get(String(target.consumes.namespace)) ?? '').pathname.replace(/\/$/, '')
  return { method: String(target.operation.method).toUpperCase(), path: base + (path === '' ? '' : path), query, credential, alsoUsed: alsoUsedOf(target.consumes, bound) }
}

const WITH_BODY = new Set(['POST', 'PUT', 'PATCH'])

function restCalls (rel: string, expose: Json, url: string, inbound: ReturnType<typeof inboundCredential>, operations: Map<string, Target>, bound: ReadonlyMap<string, string>, bases: Map<string, string>): Call[] {
  const calls: Call[] = []
  const namespace = String(expose.namespace)
  for (const resource of list(expose.resources)) {
    const routePath = String(resource.path)
    const ops = list(resource.operations)
    if (resource.forward !== undefined && ops.length === 0) {
      calls.push({
        surface: 'rest',
        label: `${namespace} forward ${routePath}`,
        expected: undefined,
        unsupported: 'forward',
        mock: false,
        send: async () => {
          const res = await fetch(url + routePath.replace(PLACEHOLDER, 'x'), { headers: inbound.headers, signal: AbortSignal.timeout(CALL_TIMEOUT) })
          return { ok: res.ok, status: res.status, text: await res.text() }
        },
      })
    }
    for (const op of ops) {
      const id = valueId++
      const method = String(op.method).toUpperCase()
      const opPath = typeof op.path === 'string' ? op.path : routePath
      const label = `${namespace} ${method} ${opPath}`
      const target = typeof op.call === 'string' ? operations.get(op.call) : undefined
      const credential = target === undefined ? undefined : credentialOf(target.consumes, bound)
      const unsupported = feature(op, target, credential)
      // what the request carries: route values, then inputs by where the operation declares them
      const declared = new Map([...list(resource.inputParameters), ...list(op.inputParameters)].map((p) => [norm(String(p.name)), p]))
      const values = new Map<string, { name: string, value: unknown, where: string }>()
      let k = 0
      const text = (name: string): string => `v${id}.${k++} ${name.slice(0, 10)}/&x`
      const route = opPath.replace(PLACEHOLDER, (_m, name: string) => {
        const value = text(name)
        values.set(norm(name), { name, value, where: 'path' })
        return encodeURIComponent(value)
      })
      const input = (name: string): unknown => {
        const key = norm(name)
        const found = values.get(key)
        if (found !== undefined) return found.value
        if (key === 'body') return undefined
        const p = declared.get(key)
        const type = str(p?.type)
        const where = str(p?.in) ?? (type === 'object' || type === 'array' ? 'body' : 'query')
        const value = where === 'body' ? sample(p, text(name)) : text(name)
        values.set(key, { name: String(p?.name ?? name), value, where })
        return value
      }
      for (const p of declared.values()) if (p.required === true) input(String(p.name))
      const expected = target === undefined || unsupported !== undefined ? undefined : expectedFor(rel, op, target, namespace, bound, bases, input)
      const query = new URLSearchParams(inbound.query)
      const headers: Record<string, string> = { ...inbound.headers }
      const body: Json = { probe: `p${id}` }
      let hasBodyField = false
      for (const { name, value, where } of values.values()) {
        if (where === 'query') query.append(name, String(value))
        else if (where === 'header') headers[name] = String(value)
        else if (where === 'body') { body[name] = value; hasBodyField = true }
      }
      const search = query.toString()
      const sendsBody = WITH_BODY.has(method) || (hasBodyField && method !== 'GET' && method !== 'HEAD')
      calls.push({
        surface: 'rest',
        label,
        expected,
        unsupported,
        mock: target === undefined && isMock(op),
        send: async () => {
          const res = await fetch(url + route + (search === '' ? '' : `?${search}`), {
            method,
            headers: sendsBody ? { ...headers, 'content-type': 'application/json' } : headers,
            body: sendsBody ? JSON.stringify(body) : undefined,
            signal: AbortSignal.timeout(CALL_TIMEOUT),
          })
          return { ok: res.ok, status: res.status, text: await res.text() }
        },
      })
    }
  }
  return calls
}

async function mcpCalls (rel: string, expose: Json, url: string, inbound: ReturnType<typeof inboundCredential>, operations: Map<string, Target>, bound: ReadonlyMap<string, string>, bases: Map<string, string>, report: FileReport): Promise<Call[]> {
  const namespace = String(expose.namespace)
  const listed = await rpc(url, 'tools/list', {})
  const tools = (listed.message?.result as { tools?: Json[] } | undefined)?.tools
  if (tools === undefined) {
    report.problems.push(`${namespace}: tools/list answered ${listed.status} ${listed.text.slice(0, 300)}`)
    return []
  }
  const schemas = new Map(tools.map((t) => [String(t.name), isObject(t.inputSchema) ? t.inputSchema : {}]))
  const calls: Call[] = []
  for (const tool of list(expose.tools)) {
    const name = String(tool.name)
    const label = `${namespace} tool ${name}`
    const schema = schemas.get(name)
    if (schema === undefined) { report.problems.push(`${label}: not in tools/list`); continue }
    const target = typeof tool.call === 'string' ? operations.get(tool.call) : undefined
    const credential = target === undefined ? undefined : credentialOf(target.consumes, bound)
    const unsupported = feature(tool, target, credential)
    const properties = isObject(schema.properties) ? schema.properties : {}
    const args: Json = {}
    let k = 0
    const id = valueId++
    const text = (n: string): string => `t${id}.${k++} ${n.slice(0, 10)}/&x`
    for (const [prop, propSchema] of Object.entries(properties)) args[prop] = sample(propSchema, text(prop))
    const input = (n: string): unknown => {
      const found = Object.keys(args).find((a) => norm(a) === norm(n))
      if (found !== undefined) return args[found]
      args[n] = text(n)
      return args[n]
    }
    const expected = target === undefined || unsupported !== undefined ? undefined : expectedFor(rel, tool, target, namespace, bound, bases, input)
    calls.push({
      surface: 'mcp',
      label,
      expected,
      unsupported,
      mock: target === undefined && isMock(tool),
      send: async () => {
        const answer = await rpc(url + (inbound.query.length > 0 ? `?${new URLSearchParams(inbound.query).toString()}` : ''), 'tools/call', { name, arguments: args })
        const result = answer.message?.result as Json | undefined
        const ok = answer.status === 200 && result !== undefined && result.isError !== true
        return { ok, status: answer.status, text: result === undefined ? answer.text : JSON.stringify(result.content ?? result).slice(0, 600) }
      },
    })
  }
  return calls
}

function judge (call: Call, answer: { ok: boolean, status: number, text: string }, unmatched: Set<RecordedRequest>): Outcome {
  const short = answer.text.slice(0, 300)
  if (call.unsupported !== undefined) {
    const says = call.surface === 'rest' ? answer.status === 501 && answer.text.includes('feature_not_supported') : !answer.ok && /does not execute yet|not supported yet/.test(answer.text)
    return says ? { kind: 'not-supported', feature: call.unsupported } : { kind: 'problem', text: `expected 501 feature_not_supported (${call.unsupported}), got ${answer.status} ${short}` }
  }
  if (call.expected === undefined) {
    if (call.mock && answer.ok) return { kind: 'mock' }
    return { kind: 'problem', text: `no consumed operation to call; answered ${answer.status} ${short}` }
  }
  const e = call.expected
  const candidates = [...unmatched].filter((r) => r.method === e.method && r.path === e.path)
  const sameQuery = (r: RecordedRequest): boolean => JSON.stringify([...new URLSearchParams(r.query)].sort(SORT)) === JSON.stringify(e.query)
  const hit = candidates.find(sameQuery)
  if (hit === undefined) {
    const near = candidates[0] ?? [...unmatched].find((r) => r.method === e.method)
    const saw = near === undefined ? 'nothing' : `${near.method} ${near.path}?${near.query}`
    return { kind: 'problem', text: `answered ${answer.status} ${answer.ok ? '' : short}; expected upstream ${e.method} ${e.path}?${new URLSearchParams(e.query).toString()}, the recorder saw ${saw}` }
  }
  unmatched.delete(hit)
  const problems: string[] = []
  if (!answer.ok) problems.push(`answered ${answer.status} ${short}`)
  for (const [name, value] of Object.entries(e.credential.headers)) {
    if (hit.headers[name] !== value) problems.push(`header ${name}: ${String(hit.headers[name])}, expected ${value}`)
  }
  let body: unknown
  try { body = JSON.parse(hit.body) } catch { body = undefined }
  if (e.credential.bodyField !== undefined) {
    const [key, value] = e.credential.bodyField
    if (!isObject(body) || body[key] !== value) problems.push(`body field ${key}: ${isObject(body) ? String(body[key]) : 'no JSON object body'}, expected ${value}`)
  }
  // the credential's secrets appear in its own places only
  const credentialHeaders = new Set(Object.keys(e.credential.headers))
  const rest = JSON.stringify({
    path: hit.path,
    query: [...new URLSearchParams(hit.query)].filter(([k]) => !e.credential.query.some(([ck]) => ck === k)),
    headers: Object.entries(hit.headers).filter(([k]) => !credentialHeaders.has(k)),
    body: e.credential.bodyField !== undefined && isObject(body) ? { ...body, [e.credential.bodyField[0]]: undefined } : hit.body,
  })
  for (const secret of e.credential.secrets) {
    if (e.alsoUsed.has(secret) || secret === '') continue
    if (rest.includes(secret) || rest.includes(encodeURIComponent(secret))) problems.push(`secret ${secret} appears outside its credential: ${rest.slice(0, 300)}`)
  }
  return problems.length === 0 ? { kind: 'reached' } : { kind: 'problem', text: problems.join('; ') }
}

// ---------------------------------------------------------------------------------------------
// Running the files a few at a time
// ---------------------------------------------------------------------------------------------

const reports = new Map<string, Promise<FileReport>>()

function runAll (): void {
  let next = 0
  const resolvers = new Map<string, (r: FileReport) => void>()
  for (const rel of RUNNABLE) reports.set(rel, new Promise((resolve) => resolvers.set(rel, resolve)))
  const worker = async (): Promise<void> => {
    while (next < RUNNABLE.length) {
      const index = next++
      const rel = RUNNABLE[index] as string
      const report = await runFile(rel, index).catch((err: unknown): FileReport => ({ rel, started: false, outcomes: [], problems: [`test fault: ${String((err as Error).stack ?? err)}`], serverVarMode: undefined, notServed: [] }))
      resolvers.get(rel)?.(report)
    }
  }
  for (let i = 0; i < CONCURRENCY; i++) void worker()
}

const describeReport = (report: FileReport): string[] => [
  ...report.problems,
  ...report.outcomes.filter((o) => o.outcome.kind === 'problem').map((o) => `${o.label}: ${(o.outcome as { text: string }).text}`),
]

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

skipWithoutCorpus('the api-evangelist corpus, run with naftiko run', 'corpus run tests')

describe.skipIf(!corpusExists)('the api-evangelist corpus, run with naftiko run', () => {
  beforeAll(async () => {
    recorder = await startRecordingUpstream()
    runAll()
  })
  afterAll(async () => {
    await Promise.all([...running].map(async (cli) => await cli.stop()))
    await recorder?.close()
  })

  it('has the api-evangelist files, and rotates the three ways of giving server variables', () => {
    expect(FILES.length).toBeGreaterThan(100)
    expect(WITH_SERVER_VARS.length).toBeGreaterThanOrEqual(SERVER_VAR_MODES.length)
  })

  describe('startup, before any call', () => {
    const jira = 'api-evangelist/jira/cloud-platform-rest-issue-types.yaml'
    const open = 'api-evangelist/naftiko/cli-only-runnable-capability.yaml'

    it(`${jira}: without a value for {domain} the summary names the flag and the variable that give it`, async () => {
      const cli = await startCliServing(['run', join(CORPUS, jira), '--port', 'rest=0', '--port', 'mcp=0'], bindings(jira).env, { exposes: 2, upstreams: 1 })
      try {
        expect(cli.upstreams.get('cloud-platform-rest-issue-types')).toBe('not configured: its base URI https://{domain}.atlassian.net/rest/api/3 has server variables with no value: ' +
          'give --server-var domain=VALUE (or NAFTIKO_SERVER_VAR_DOMAIN), or --base-uri cloud-platform-rest-issue-types=URL (or NAFTIKO_BASE_URI_CLOUD_PLATFORM_REST_ISSUE_TYPES) (its operations answer 502 until then)')
      } finally {
        await cli.stop()
      }
    })

    // no call is made here: it would leave the machine
    it.each([
      ['--server-var', ['--server-var', 'domain=acme-corp'], {}],
      ['NAFTIKO_SERVER_VAR_DOMAIN', [], { NAFTIKO_SERVER_VAR_DOMAIN: 'acme-corp' }],
    ])(`${jira}: {domain} given by %s is filled into the capability's own base URI`, async (_how, flags, env) => {
      const cli = await startCliServing(['run', join(CORPUS, jira), '--port', 'rest=0', '--port', 'mcp=0', ...flags], { ...bindings(jira).env, ...env }, { exposes: 2, upstreams: 1 })
      try {
        expect(cli.upstreams.get('cloud-platform-rest-issue-types')).toBe('https://acme-corp.atlassian.net/rest/api/3')
      } finally {
        await cli.stop()
      }
    })

    it(`${open}: exposes on 0.0.0.0 without inbound authentication refuse to start without the opt-in`, async () => {
      const result = await runCli(['run', join(CORPUS, open), '--port', 'rest=0', '--port', 'mcp=0'], bindings(open).env)
      expect(result.code).toBe(1)
      expect(result.stderr).toMatch(/would listen on 0\.0\.0\.0 without inbound authentication.*--allow-unauthenticated \(NAFTIKO_ALLOW_UNAUTHENTICATED=1\)/)
    })
  })

  for (const rel of REJECTED) {
    const reason = EXPECTED_REJECTIONS[rel] as RegExp
    it(`${rel} is not run: naftiko run refuses it (exit 1) for ${reason.source}`, async () => {
      const result = await runCli(['run', join(CORPUS, rel), '--port', 'rest=0', '--port', 'mcp=0', '--allow-unauthenticated'], bindings(rel).env)
      expect(result.code).toBe(1)
      // errors are `file:line:col: message`, warnings `file:line:col: warning: message`
      const errors = result.stderr.split('\n').map((l) => /^\S+:\d+:\d+: (?!warning: )(.*)$/.exec(l)?.[1]).filter((m) => m !== undefined)
      expect(errors.length, result.stderr).toBeGreaterThan(0)
      for (const message of errors) expect(message).toMatch(reason)
    })
  }

  for (const rel of RUNNABLE) {
    it(`${rel}: starts, and every REST operation and MCP tool reaches the recorder with the right method, path, query and credential`, async () => {
      const report = await (reports.get(rel) as Promise<FileReport>)
      expect(describeReport(report)).toEqual([])
      expect(report.started).toBe(true)
    }, 90_000)
  }

  it('prints the summary', async () => {
    const all = await Promise.all(RUNNABLE.map(async (rel) => await (reports.get(rel) as Promise<FileReport>)))
    const outcomes = all.flatMap((r) => r.outcomes)
    const count = (surface: 'rest' | 'mcp', kind: Outcome['kind']): number => outcomes.filter((o) => o.surface === surface && o.outcome.kind === kind).length
    const total = (surface: 'rest' | 'mcp'): number => outcomes.filter((o) => o.surface === surface).length
    const features = new Map<string, number>()
    for (const o of outcomes) if (o.outcome.kind === 'not-supported') features.set(o.outcome.feature, (features.get(o.outcome.feature) ?? 0) + 1)
    const notServed = all.flatMap((r) => r.notServed)
    const started = all.filter((r) => r.started).length
    console.log(`corpus run: ${started} of ${FILES.length} api-evangelist files started with naftiko run (${REJECTED.length} refused as expected: ${REJECTED.join(', ')}); ` +
      `REST: ${total('rest')} operations called, ${count('rest', 'reached')} reached the upstream with the right method, path, query and credential, ${count('rest', 'mock')} mocks; ` +
      `MCP: ${total('mcp')} tools called, ${count('mcp', 'reached')} reached the upstream correctly, ${count('mcp', 'mock')} mocks; ` +
      `501 by design: ${features.size === 0 ? 'none' : [...features].map(([f, n]) => `${n} ${f}`).join(', ')}; ` +
      `problems: ${count('rest', 'problem') + count('mcp', 'problem')}; ` +
      `server variables: ${WITH_SERVER_VARS.length} files (${SERVER_VAR_MODES.map((m) => `${all.filter((r) => r.serverVarMode === m).length} by ${m}`).join(', ')}); ` +
      `exposes not called here (skill catalogs, checked in corpus.test.ts; agent-skill): ${notServed.length}`)
    expect(started).toBe(RUNNABLE.length)
  })
})
