/**
 * What the corpus suites (test/corpus/corpus.test.ts and corpus-mcp.test.ts) share: where the shared
 * corpus of real Naftiko capability files is (`../shared/corpus/`, see its PROVENANCE.md), its YAML
 * read once, what a capability consumes and binds, and the runtime started on one of its files.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'vitest'
import { parse } from 'yaml'
import { startGateway, type Gateway } from './gateway.js'

export const CORPUS = fileURLToPath(new URL('../../../shared/corpus/', import.meta.url))
export const corpusExists = existsSync(CORPUS)

export const TUTORIAL = 'naftiko-alpha2/src/main/resources/tutorial/'

export type Json = Record<string, unknown>

// ---------------------------------------------------------------------------------------------
// Small readers of untyped YAML
// ---------------------------------------------------------------------------------------------

export function isObject (v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}
export function list (v: unknown): Json[] {
  return Array.isArray(v) ? v.filter(isObject) : []
}
export function str (v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined
}
/** Names compare like the runtime's: case, `-` and `_` ignored. */
export function norm (name: string): string {
  return name.replace(/[-_]/g, '').toLowerCase()
}

// ---------------------------------------------------------------------------------------------
// The corpus, read once per test file
// ---------------------------------------------------------------------------------------------

function listYaml (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = join(dir, e.name)
    if (e.isDirectory()) return listYaml(full)
    return /\.ya?ml$/.test(e.name) ? [relative(CORPUS, full)] : []
  }).sort()
}

/** Every YAML file of the corpus, relative to it; empty when the corpus is absent. */
export const ALL_YAML = corpusExists ? listYaml(CORPUS) : []
export const DATA = new Map<string, Json>(ALL_YAML.map((rel) => [rel, (parse(readFileSync(join(CORPUS, rel), 'utf8')) ?? {}) as Json]))
const isCapability = (data: Json): boolean => data.naftiko !== undefined && isObject(data.capability)
export const CAPABILITIES = ALL_YAML.filter((rel) => isCapability(DATA.get(rel) ?? {}))

/**
 * Capability documents the runtime rightly rejects, with the reason: every error reported for the
 * file must match it. Kept here so that the REST and the MCP suites leave out the same files. Files
 * that use `{{env.X}}` without declaring X load (with a warning) and read X from the environment.
 */
export const EXPECTED_REJECTIONS: Record<string, RegExp> = {
  // deliberately invalid official test file: a tool refers to an aggregate function that does not exist
  'naftiko-alpha2/src/test/resources/aggregates/aggregate-invalid-ref.yaml': /^ref "unknown\.nonexistent" does not name an aggregate function/,
  // not Naftiko: a `workers-kv` consumes and calls to a made-up `orchestration.*` namespace
  'api-evangelist/cloudflare/cloudflare-agent-onboarding.yaml': /^capability\.consumes\[1\]\.type must be "http"|^call "orchestration\.[\w-]+" does not name a consumed operation/,
  // the engine's protobuf and Avro feature files map the answer but name no schema to decode it with
  'naftiko-alpha2/src/test/resources/formats/proto-capability.yaml': /^outputRawFormat protobuf needs outputSchema/,
  'naftiko-alpha2/src/test/resources/formats/avro-capability.yaml': /^outputRawFormat avro needs outputSchema/,
  // JavaScript and Python script steps: this runtime runs call and lookup steps only
  'naftiko-alpha2/src/main/resources/schemas/examples/script-step.yml': /^script steps are not supported by this runtime/,
}

/**
 * Without the corpus a suite would pass with nothing checked: say so in the log and as a skipped
 * test, so that the report shows it.
 */
export function skipWithoutCorpus (suite: string, what: string): void {
  if (corpusExists) return
  console.warn(`${what} skipped: the shared corpus is absent (looked for ${CORPUS})`)
  describe(suite, () => {
    it.skip(`is skipped: the shared corpus is absent (looked for ${CORPUS})`, () => {})
  })
}

// ---------------------------------------------------------------------------------------------
// What a capability exposes, consumes and binds
// ---------------------------------------------------------------------------------------------

export function exposesOf (rel: string): Json[] {
  return list((DATA.get(rel)?.capability as Json | undefined)?.exposes)
}

/** The consumes entries of a capability, `import:` entries replaced by the namespace they name. */
export function consumesOf (rel: string): Json[] {
  return list((DATA.get(rel)?.capability as Json | undefined)?.consumes).map((entry) => {
    const imported = str(entry.import)
    const location = str(entry.location)
    if (imported === undefined || location === undefined) return entry
    const file = resolve(dirname(join(CORPUS, rel)), location.replace(/^file:\/\//, ''))
    const shared = parse(readFileSync(file, 'utf8')) as Json
    const found = list(shared.consumes).find((c) => c.namespace === imported) ?? {}
    return { ...found, namespace: str(entry.as) ?? imported }
  })
}

/** A consumed operation with the consumes entry and resource it sits in (their parameters apply too). */
export interface Target { consumes: Json, resource: Json, operation: Json }

/** `namespace.operation` -> the consumes entry, resource and operation. */
export function consumedOperations (rel: string): Map<string, Target> {
  const out = new Map<string, Target>()
  for (const consumes of consumesOf(rel)) {
    for (const resource of list(consumes.resources)) {
      for (const operation of list(resource.operations)) out.set(`${String(consumes.namespace)}.${String(operation.name)}`, { consumes, resource, operation })
    }
  }
  return out
}

/**
 * Dummy values for every variable the binds declare (`VAR` and `namespace.VAR` -> value) and for
 * every `{{env.X}}` no bind declares (`env.X` -> value, read from the environment); env for the process.
 */
export function bindings (rel: string): { values: Map<string, string>, env: Record<string, string> } {
  const data = DATA.get(rel) ?? {}
  const values = new Map<string, string>()
  const env: Record<string, string> = {}
  for (const bind of [...list(data.binds), ...list((data.capability as Json | undefined)?.binds)]) {
    for (const [variable, source] of Object.entries(isObject(bind.keys) ? bind.keys : {})) {
      const value = `dummy-${variable.toLowerCase()}`
      if (bind.location === undefined) env[String(source)] = value
      if (!values.has(variable)) values.set(variable, value)
      values.set(`${String(bind.namespace)}.${variable}`, value)
    }
  }
  for (const m of JSON.stringify(data.capability ?? {}).matchAll(/\{\{\s*env\.([A-Za-z_][\w]*)\s*\}\}/g)) {
    const name = m[1] as string
    if (values.has(`env.${name}`)) continue
    const value = `dummy-env-${name.toLowerCase()}`
    env[name] = value
    values.set(`env.${name}`, value)
  }
  return { values, env }
}

// ---------------------------------------------------------------------------------------------
// Placeholders of a consumed path
// ---------------------------------------------------------------------------------------------

/** A `{x}` or `{{x}}` placeholder of a path (global: for replace and matchAll). */
export const PLACEHOLDER = /\{\{?\s*([^{}]+?)\s*\}?\}/g

/** The path parameters a target declares, the consumes entry's, the resource's and the operation's in that order. */
export function pathParametersOf (target: Target): Json[] {
  return [...list(target.consumes.inputParameters), ...list(target.resource.inputParameters), ...list(target.operation.inputParameters)]
    .filter((p) => p.in === 'path')
}

/** The consumed path of a target: the operation's own, else its resource's. */
export function consumedPath (target: Target): string {
  return String(target.operation.path ?? target.resource.path ?? '')
}

/** Where a placeholder that is no bound variable takes its value from. */
export type PlaceholderSource =
  /** a declared path parameter's `value`, or the `with` entry of the placeholder's name: an expression */
  | { from: 'value' | 'with', expr: unknown }
  /** neither: the caller's input of the placeholder's own name */
  | { from: 'input', name: string }

/**
 * How the runtime fills each placeholder of the target's consumed path for an exposed operation or
 * tool (`caller`, whose `with` counts): the last declared path parameter of that name with a
 * `value`, else the `with` entry of that name, else the caller's input. Bound variables are for the
 * caller to check first, as each suite models them its own way.
 */
export function placeholderSources (target: Target, caller: Json): (token: string) => PlaceholderSource {
  const pathParams = pathParametersOf(target)
  const withEntries = new Map(Object.entries(isObject(caller.with) ? caller.with : {}).map(([key, v]) => [norm(key), v]))
  return (token) => {
    const name = token.includes('.') ? token.slice(token.lastIndexOf('.') + 1) : token
    const declared = [...pathParams].reverse().find((p) => norm(String(p.name)) === norm(name))
    if (declared?.value !== undefined) return { from: 'value', expr: declared.value }
    if (withEntries.has(norm(name))) return { from: 'with', expr: withEntries.get(norm(name)) }
    return { from: 'input', name }
  }
}

// ---------------------------------------------------------------------------------------------
// A model of the upstream request: the consumed path and query an exposed call should produce
// ---------------------------------------------------------------------------------------------

const INPUT_ROOT = /^(?:rest|tools|mcp|skill|\$this\.[^.]+)\.(?:(?:path|query|header|headers|body)\.)?(.+)$/
const WHOLE_TOKEN = /^\{\{\s*([^{}]+?)\s*\}\}$/
const TEMPLATE_TOKEN = /\{\{\s*([^{}]+?)\s*\}\}/g

/** The caller's input of a name (a suite may create it on first use, then send it); undefined: absent. */
export type CallerInput = (name: string) => unknown

/**
 * A `with` value or a parameter's `value` as the runtime evaluates it: a bound variable, an input
 * reference (`rest.x`, `tools.x`, `<exposeNamespace>.x`, `$this.<ns>.x`, a bare `{{x}}`), a
 * template of those, or a literal.
 */
export function expressionEvaluator (bound: ReadonlyMap<string, string>, exposeNamespace: string, input: CallerInput): (expr: unknown) => unknown {
  const ownRoot = new RegExp(`^${exposeNamespace.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(.+)$`)
  const token = (t: string): unknown => {
    const b = bound.get(t)
    if (b !== undefined) return b
    const ref = INPUT_ROOT.exec(t) ?? ownRoot.exec(t)
    return input(ref === null ? t : ref[1] as string)
  }
  return (expr) => {
    if (typeof expr !== 'string') return expr
    const whole = WHOLE_TOKEN.exec(expr)
    if (whole !== null) return token(whole[1] as string)
    if (expr.includes('{{')) return expr.replace(TEMPLATE_TOKEN, (_m, t: string) => String(token(t) ?? ''))
    const ref = INPUT_ROOT.exec(expr) ?? ownRoot.exec(expr)
    return ref === null ? expr : input(ref[1] as string)
  }
}

/**
 * The consumed path of a target as the runtime builds it for an exposed operation or tool
 * (`caller`): a bound variable is filled in as it is, every other placeholder takes its value
 * (see placeholderSources) URL-encoded as one segment. No base path.
 */
export function modelConsumedPath (target: Target, caller: Json, bound: ReadonlyMap<string, string>, evaluate: (expr: unknown) => unknown, input: CallerInput): string {
  const sourceOf = placeholderSources(target, caller)
  const built = consumedPath(target).replace(PLACEHOLDER, (_m, token: string) => {
    const b = bound.get(token)
    if (b !== undefined) return b
    const source = sourceOf(token)
    return encodeURIComponent(String(source.from === 'input' ? input(source.name) : evaluate(source.expr)))
  })
  return built === '' || built.startsWith('/') ? built : `/${built}`
}

/**
 * The query parameters a target declares (consumes, resource and operation levels; a later one of
 * the same name wins), each with its `value`, else the caller's `with` entry of its name, else the
 * caller's input of its name; absent values left out, arrays repeated, objects as JSON.
 */
export function modelConsumedQuery (target: Target, caller: Json, evaluate: (expr: unknown) => unknown, input: CallerInput): Array<[string, string]> {
  const declared = new Map<string, Json>()
  for (const p of [...list(target.consumes.inputParameters), ...list(target.resource.inputParameters), ...list(target.operation.inputParameters)]) {
    if (p.in === 'query') declared.set(norm(String(p.name)), p)
  }
  const withEntries = new Map(Object.entries(isObject(caller.with) ? caller.with : {}).map(([key, v]) => [norm(key), v]))
  const out: Array<[string, string]> = []
  for (const [key, p] of declared) {
    const name = String(p.name)
    const value = p.value !== undefined ? evaluate(p.value) : withEntries.has(key) ? evaluate(withEntries.get(key)) : input(name)
    if (value === undefined || value === null) continue
    for (const item of Array.isArray(value) ? value : [value]) out.push([name, typeof item === 'object' ? JSON.stringify(item) : String(item)])
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// The runtime on a corpus file
// ---------------------------------------------------------------------------------------------

export interface CorpusGatewayOptions {
  /** origin of the fake upstream: every consumes namespace goes to its `/echo/<namespace>` */
  upstream: string
  /** false: no --base-uri at all, to see what the runtime does without one */
  baseUris?: boolean
}

/** Starts the runtime on a corpus file: every expose on a free port, every bind a dummy, every namespace on the echo. */
export async function startCorpusGateway (rel: string, options: CorpusGatewayOptions): Promise<Gateway> {
  const namespaces = consumesOf(rel).map((c) => String(c.namespace))
  // an expose without a namespace (the corpus's `control` exposes) takes its type as its name
  const exposes = exposesOf(rel).filter((e) => e.namespace !== undefined)
  return startGateway(join(CORPUS, rel), {
    flags: {
      host: '127.0.0.1',
      port: ['rest=0', 'mcp=0', 'control=0', ...exposes.map((e) => `${String(e.namespace)}=0`)],
      'base-uri': options.baseUris === false ? [] : namespaces.map((ns) => `${ns}=${options.upstream}/echo/${ns}`),
      'log-level': 'warn',
      'shutdown-timeout': '2000',
    },
    env: bindings(rel).env,
  })
}

/** The URL of the gateway's `type` expose of that namespace. */
export function exposeUrl (gateway: Gateway, type: 'rest' | 'mcp', namespace: string): string {
  const found = gateway.runtime.addresses.find((a) => a.type === type && a.namespace === namespace)
  if (found === undefined) throw new Error(`no ${type} expose ${namespace}`)
  return found.url
}
