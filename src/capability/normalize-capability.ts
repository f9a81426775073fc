import type { DiagnosticList, Path } from './diagnostics.js'
import { inheritRefs } from './inherit-ref.js'
import type * as M from './model.js'

type Json = Record<string, unknown>

/**
 * Turns a document that passed the runtime's schema into the normalized model: parameters merged,
 * defaults applied, every union narrowed. What the model cannot represent (an inbound credential
 * the gateway cannot check, a body type the format does not define) is an error here, so that a
 * file `validate` accepts is a file `run` can serve.
 */
export function normalizeCapability (doc: Json, out: DiagnosticList): M.CapabilityModel {
  const cap = obj(doc.capability)
  const binds = [
    ...list(doc.binds).map((b, i) => normalizeBind(b, ['binds', i])),
    ...list(cap.binds).map((b, i) => normalizeBind(b, ['capability', 'binds', i])),
  ]
  const consumes = list(cap.consumes).map((c, i) => normalizeConsumes(c, ['capability', 'consumes', i], out))
  const aggregates = list(cap.aggregates).flatMap((a, i) => list(a.functions).map((f, j) => ({
    ...normalizeInvocable(f, ['capability', 'aggregates', i, 'functions', j]),
    namespace: String(a.namespace ?? ''),
    name: String(f.name ?? ''),
    semantics: flags(f.semantics, ['safe', 'idempotent', 'cacheable'] as const),
  })))
  const exposes = inheritRefs(list(cap.exposes).map((e, i) => normalizeExpose(e, ['capability', 'exposes', i], out)), aggregates)
  const info = obj(doc.info)
  const version = typeof info.version === 'string' || typeof info.version === 'number' ? String(info.version) : undefined
  return deepFreeze({ naftiko: String(doc.naftiko), info: { label: text(info.label) ?? text(info.title), version }, binds, consumes, exposes, aggregates })
}

function normalizeBind (b: Json, at: Path): M.Bind {
  const keys: Record<string, string> = {}
  for (const [k, v] of Object.entries(obj(b.keys))) keys[k] = String(v)
  return { namespace: String(b.namespace), location: text(b.location), keys, at }
}

// ---------------------------------------------------------------------------------------------
// consumes
// ---------------------------------------------------------------------------------------------

function normalizeConsumes (c: Json, at: Path, out: DiagnosticList): M.ConsumedNamespace {
  const namespace = String(c.namespace)
  const params = (owner: Json, ownerAt: Path): M.ConsumedParameter[] => list(owner.inputParameters)
    .flatMap((p, k) => consumedParameter(p, [...ownerAt, 'inputParameters', k], out) ?? [])
  const base = params(c, at)
  const operations: M.ConsumedOperation[] = []
  const resources: M.Named[] = []
  list(c.resources).forEach((r, i) => {
    const resourceAt = [...at, 'resources', i]
    if (typeof r.name === 'string') resources.push({ name: r.name, at: resourceAt })
    const resourceParams = params(r, resourceAt)
    list(r.operations).forEach((op, j) => {
      const opAt = [...resourceAt, 'operations', j]
      operations.push({
        namespace,
        name: String(op.name),
        method: method(op.method),
        path: String(op.path ?? r.path ?? ''),
        parameters: mergeParameters(base, resourceParams, params(op, opAt)),
        body: requestBody(op.body, [...opAt, 'body'], out),
        outputRawFormat: text(op.outputRawFormat) ?? 'json',
        outputSchema: text(op.outputSchema),
        at: opAt,
      })
    })
  })
  const baseUri = text(c.baseUri)
  return {
    namespace,
    baseUri: baseUri === undefined || baseUri.trim() === '' ? undefined : baseUri.trim(),
    headers: obj(c.headers),
    parameters: base,
    authentication: c.authentication === undefined ? undefined : upstreamAuthentication(obj(c.authentication)),
    resources,
    operations,
    at,
  }
}

const LOCATIONS = new Set<string>(['path', 'query', 'header', 'cookie', 'body', 'environment'])

function consumedParameter (p: Json, at: Path, out: DiagnosticList): M.ConsumedParameter | undefined {
  const where = String(p.in)
  if (!LOCATIONS.has(where)) {
    out.error([...at, 'in'], `parameter "${String(p.name)}" has in: ${where}; use one of ${[...LOCATIONS].join(', ')}`)
    return undefined
  }
  return {
    name: String(p.name),
    in: where as M.ParameterLocation,
    value: p.value,
    required: p.required === true,
    type: text(p.type),
    description: text(p.description),
  }
}

/** A later parameter with the same name and location replaces an earlier one. */
function mergeParameters (...lists: M.ConsumedParameter[][]): M.ConsumedParameter[] {
  const merged = new Map<string, M.ConsumedParameter>()
  for (const l of lists) for (const p of l) merged.set(`${p.in}:${p.name}`, p)
  return [...merged.values()]
}

function requestBody (body: unknown, at: Path, out: DiagnosticList): M.RequestBody | undefined {
  if (body === undefined || body === null) return undefined
  if (typeof body === 'string') return { type: 'raw', data: body }
  const b = obj(body)
  const type = String(b.type)
  switch (type) {
    case 'json': return b.data === undefined ? { type: 'caller' } : { type: 'json', data: b.data }
    case 'text': case 'xml': case 'sparql': return { type, data: b.data }
    case 'formUrlEncoded': case 'form': return { type: 'form', data: b.data }
    case 'multipartForm': return { type: 'multipart', data: b.data }
    default:
      out.error([...at, 'type'], `body type "${type}" is not one of json, text, xml, sparql, formUrlEncoded, multipartForm`)
      return undefined
  }
}

function upstreamAuthentication (a: Json): M.UpstreamAuthentication {
  switch (a.type) {
    case 'bearer': return { type: 'bearer', token: String(a.token ?? '') }
    case 'apikey': {
      const placement = a.placement === 'query' || a.placement === 'body' || a.placement === 'cookie' ? a.placement : 'header'
      const headers: Record<string, string> = {}
      for (const [k, v] of Object.entries(obj(a.headers))) headers[k] = String(v)
      return { type: 'apikey', key: text(a.key), value: text(a.value), placement, headers }
    }
    case 'basic': case 'digest': return { type: a.type, username: String(a.username ?? ''), password: String(a.password ?? '') }
    default: return { type: 'oauth2', settings: a }
  }
}

// ---------------------------------------------------------------------------------------------
// exposes
// ---------------------------------------------------------------------------------------------

function normalizeExpose (e: Json, at: Path, out: DiagnosticList): M.Expose {
  const common = {
    namespace: String(e.namespace ?? e.type),
    address: text(e.address),
    port: typeof e.port === 'number' ? e.port : undefined,
    description: text(e.description),
    at,
  }
  const auth = (): M.InboundAuthentication | undefined => e.authentication === undefined ? undefined : inboundAuthentication(obj(e.authentication), [...at, 'authentication'], out)
  switch (e.type) {
    case 'rest':
      return {
        ...common,
        type: 'rest',
        authentication: auth(),
        resources: list(e.resources).map((r, i) => normalizeResource(r, [...at, 'resources', i])),
      }
    case 'mcp':
      return {
        ...common,
        type: 'mcp',
        transport: e.transport === 'stdio' ? 'stdio' : 'http',
        authentication: auth(),
        tools: list(e.tools).map((t, i) => normalizeTool(t, [...at, 'tools', i])),
        resources: list(e.resources).map((r, i) => normalizeMcpResource(r, [...at, 'resources', i])),
        prompts: list(e.prompts).map((p, i) => normalizeMcpPrompt(p, [...at, 'prompts', i])),
      }
    case 'skill':
      return {
        ...common,
        type: 'skill',
        authentication: auth(),
        skills: list(e.skills).map((k, i) => normalizeSkill(k, [...at, 'skills', i])),
      }
    case 'control': {
      const management = obj(e.management)
      return {
        ...common,
        namespace: text(e.namespace) ?? 'control',
        address: common.address ?? 'localhost',
        type: 'control',
        authentication: auth(),
        health: management.health !== false,
        info: management.info === true,
        reload: management.reload === true,
        observability: e.observability === undefined ? undefined : normalizeObservability(obj(e.observability), [...at, 'observability'], out),
        unsupported: [
          ...['validate', 'logs', 'scripting'].filter((k) => management[k] !== undefined && management[k] !== false).map((k) => `management.${k}`),
          ...unsupportedObservability(obj(e.observability)),
        ],
      }
    }
    default:
      return { ...common, type: e.type as M.PendingExpose['type'] }
  }
}

/** Span export: on unless `enabled: false`; a sampling rate outside 0 to 1 is left out with a warning. */
function normalizeObservability (o: Json, at: Path, out: DiagnosticList): M.Observability {
  const traces = obj(o.traces)
  let sampling: number | undefined
  if (traces.sampling !== undefined) {
    if (typeof traces.sampling === 'number' && traces.sampling >= 0 && traces.sampling <= 1) sampling = traces.sampling
    else out.warning([...at, 'traces', 'sampling'], 'traces.sampling must be a number from 0 to 1; every trace is sampled')
  }
  return { enabled: o.enabled !== false, sampling, endpoint: text(obj(obj(o.exporters).otlp).endpoint), at }
}

/** What an `observability` block asks for that this runtime does not serve: the control port's
 * `/traces` buffer, B3 propagation, switching `/metrics` off. */
function unsupportedObservability (o: Json): string[] {
  const traces = obj(o.traces)
  const off = (v: unknown): boolean => v === false || obj(v).enabled === false
  return [
    ...(traces.local !== undefined && !off(traces.local) ? ['observability.traces.local'] : []),
    ...(traces.propagation !== undefined && traces.propagation !== 'w3c' ? ['observability.traces.propagation'] : []),
    ...(off(obj(o.metrics).local) ? ['observability.metrics.local'] : []),
  ]
}

/** Front matter fields of the Agent Skills format a skill may declare besides its name and description. */
const SKILL_FRONT_MATTER = ['license', 'compatibility', 'metadata', 'allowed-tools', 'argument-hint', 'user-invocable', 'disable-model-invocation']

function normalizeSkill (k: Json, at: Path): M.Skill {
  const frontMatter: Record<string, unknown> = {}
  for (const key of SKILL_FRONT_MATTER) if (k[key] !== undefined) frontMatter[key] = k[key]
  return {
    name: String(k.name),
    description: text(k.description) ?? '',
    frontMatter,
    location: text(k.location),
    tools: list(k.tools).map((t, i) => {
      const from = t.from === undefined ? undefined : obj(t.from)
      return {
        name: String(t.name),
        description: text(t.description),
        from: from === undefined ? undefined : { sourceNamespace: String(from.sourceNamespace), action: String(from.action) },
        instruction: text(t.instruction),
        at: [...at, 'tools', i],
      }
    }),
    at,
  }
}

function normalizeResource (r: Json, at: Path): M.RestResource {
  const path = String(r.path)
  const forward = r.forward === undefined ? undefined : obj(r.forward)
  return {
    path,
    inputParameters: list(r.inputParameters).map(exposedParameter),
    operations: list(r.operations).map((op, i) => ({
      ...normalizeInvocable(op, [...at, 'operations', i]),
      name: text(op.name),
      method: method(op.method),
      path: String(op.path ?? path),
    })),
    forward: forward === undefined ? undefined : { targetNamespace: String(forward.targetNamespace), trustedHeaders: Array.isArray(forward.trustedHeaders) ? forward.trustedHeaders.filter((h): h is string => typeof h === 'string') : [] },
    at,
  }
}

function normalizeTool (t: Json, at: Path): M.McpTool {
  return {
    ...normalizeInvocable(t, at),
    // a tool that only has a `ref` takes the name of the aggregate function it refers to
    name: text(t.name) ?? String(t.ref ?? '').split('.').pop() ?? '',
    label: text(t.label),
    hints: flags(t.hints, ['readOnly', 'destructive', 'idempotent', 'openWorld'] as const),
  }
}

/** The boolean fields of `v` among `keys` (hints, semantics); anything else is left out. */
function flags<K extends string> (v: unknown, keys: readonly K[]): Partial<Record<K, boolean>> {
  const out: Partial<Record<K, boolean>> = {}
  const o = obj(v)
  for (const k of keys) if (typeof o[k] === 'boolean') out[k] = o[k]
  return out
}

function normalizeInvocable (item: Json, at: Path): M.Invocable {
  const outputs = list(item.outputParameters) as M.MappedOutput[]
  return {
    target: target(item, outputs, at),
    with: obj(item.with),
    inputParameters: list(item.inputParameters).map(exposedParameter),
    outputParameters: outputs,
    description: text(item.description),
    at,
  }
}

function target (item: Json, outputs: M.MappedOutput[], at: Path): M.Target {
  if (Array.isArray(item.steps)) {
    return {
      kind: 'steps',
      steps: item.steps.map((s, i) => step(obj(s), [...at, 'steps', i])),
      mappings: list(item.mappings).map((m, i) => ({ targetName: String(m.targetName ?? ''), value: String(m.value ?? ''), at: [...at, 'mappings', i] })),
    }
  }
  if (typeof item.call === 'string') return { kind: 'call', call: item.call }
  // inheritRefs fills in the function once every aggregate is known
  if (typeof item.ref === 'string') return { kind: 'ref', ref: item.ref, function: undefined }
  // a tool with no call whose outputs all carry a `value` answers with those values (spec MockOutputParameter)
  if (outputs.length > 0 && outputs.every((o) => o.value !== undefined && typeof o.name === 'string')) return { kind: 'mock' }
  return { kind: 'none' }
}

function step (s: Json, at: Path): M.Step {
  const name = String(s.name ?? '')
  switch (s.type) {
    case 'call':
      return { type: 'call', name, call: String(s.call ?? ''), with: obj(s.with), at }
    case 'lookup':
      return {
        type: 'lookup',
        name,
        index: String(s.index ?? ''),
        match: String(s.match ?? ''),
        lookupValue: String(s.lookupValue ?? ''),
        outputParameters: Array.isArray(s.outputParameters) ? s.outputParameters.map(String) : [],
        at,
      }
    default:
      return { type: 'unsupported', name, stepType: String(s.type), at }
  }
}

function normalizeMcpResource (r: Json, at: Path): M.McpResource {
  const common = { name: String(r.name ?? ''), label: text(r.label), uri: String(r.uri ?? ''), mimeType: text(r.mimeType), description: text(r.description), at }
  // the schema allows `location` only without `call` and `steps`
  if (typeof r.location === 'string') return { ...common, kind: 'static', location: r.location }
  return { ...normalizeInvocable(r, at), ...common, kind: 'dynamic' }
}

function normalizeMcpPrompt (p: Json, at: Path): M.McpPrompt {
  const messages = list(p.template).map((m) => ({ role: m.role === 'assistant' ? 'assistant' as const : 'user' as const, content: String(m.content ?? '') }))
  return {
    name: String(p.name ?? ''),
    label: text(p.label),
    description: text(p.description),
    arguments: list(p.arguments).map((a) => ({ name: String(a.name ?? ''), label: text(a.label), description: text(a.description), required: a.required !== false })),
    source: typeof p.location === 'string' ? { kind: 'file', location: p.location } : { kind: 'template', messages },
    at,
  }
}

function exposedParameter (p: Json): M.ExposedInputParameter {
  return {
    name: String(p.name),
    in: text(p.in),
    type: text(p.type),
    description: text(p.description),
    required: typeof p.required === 'boolean' ? p.required : undefined,
    value: p.value,
  }
}

const INBOUND = 'bearer, apikey, basic or oauth2'

function inboundAuthentication (a: Json, at: Path, out: DiagnosticList): M.InboundAuthentication | undefined {
  switch (a.type) {
    case 'bearer': return { type: 'bearer', token: String(a.token) }
    case 'basic': return { type: 'basic', username: String(a.username), password: String(a.password ?? '') }
    case 'apikey':
      if (typeof a.key !== 'string' || typeof a.value !== 'string') {
        out.error(at, 'apikey authentication on an expose needs `key` (the header or query name) and `value` (the expected key)')
        return undefined
      }
      if (a.placement !== undefined && a.placement !== 'header' && a.placement !== 'query') {
        out.error([...at, 'placement'], `a client can present an API key in a header or the query, not "${String(a.placement)}"`)
        return undefined
      }
      return { type: 'apikey', key: a.key, value: a.value, placement: a.placement === 'query' ? 'query' : 'header' }
    case 'oauth2':
      return {
        type: 'oauth2',
        authorizationServerUri: String(a.authorizationServerUri),
        resource: String(a.resource),
        scopes: Array.isArray(a.scopes) ? a.scopes.map(String) : undefined,
        audience: text(a.audience),
      }
    default:
      out.error([...at, 'type'], `inbound authentication "${String(a.type)}" is not supported on an expose: use ${INBOUND}`)
      return undefined
  }
}

// ---------------------------------------------------------------------------------------------
// readers of data the schema has shaped
// ---------------------------------------------------------------------------------------------

function obj (v: unknown): Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Json : {}
}

function list (v: unknown): Json[] {
  return Array.isArray(v) ? v.filter((x): x is Json => x !== null && typeof x === 'object' && !Array.isArray(x)) : []
}

function text (v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined
}

function method (v: unknown): M.HttpMethod {
  return String(v).toUpperCase() as M.HttpMethod
}

function deepFreeze<T> (value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}
