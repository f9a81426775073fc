import { buildReferenceScope, documentTokens, type ReferenceScope } from '../expressions/references.js'
import { normalizeName, routeKey, templateTokens } from '../expressions/template.js'
import { compileOutputMapping } from '../invocations/compile-mapping.js'
import { checkSteps } from '../invocations/orchestration/check-steps.js'
import { CONVERTED_FORMATS, isConvertedFormat, RELAYED_FORMATS, SCHEMA_FORMATS } from '../invocations/formats/convert-format.js'
import type { DiagnosticList, Path } from './diagnostics.js'
import type { CapabilityModel, ConsumedOperation, Invocable, McpPrompt, Named, SkillExpose } from './model.js'

export interface CheckOptions {
  /** `--strict`: the official schema's rules, e.g. every `{{env.X}}` declared (spec 3.20.2) */
  strict: boolean
}

/** The one reference scope of a capability: the checker and the compiler build it the same way. */
export function referenceScopeOf (model: CapabilityModel): ReferenceScope {
  // an aggregate function's `with` names its inputs by the aggregate's namespace (`shipyard.voyage-id`)
  return buildReferenceScope(model.binds, [...model.exposes.map((e) => e.namespace), ...model.aggregates.map((f) => f.namespace)])
}

/**
 * Semantic checks the schema cannot express: references resolve, nothing is declared twice where a
 * reference could not tell which one it means, every `{{...}}` names something the runtime can
 * fill. Features that load but are not executed yet are warnings that say so, never errors.
 */
export function checkCapability (model: CapabilityModel, document: Record<string, unknown>, out: DiagnosticList, options: CheckOptions): void {
  checkNamespaces(model, out)
  const operations = checkConsumedNames(model, out)
  const functions = new Map(model.aggregates.map((f) => [`${f.namespace}.${f.name}`, f]))
  checkOnce(model.aggregates.map((f) => ({ name: `${f.namespace}.${f.name}`, at: f.at })), out, (n) => `aggregate function "${n}"`)
  const scope = referenceScopeOf(model)
  checkExposes(model, operations, functions, scope, out)
  checkTemplates(document.capability, scope, out, options)
  reportUnsupported(model, out)
}

function checkNamespaces (model: CapabilityModel, out: DiagnosticList): void {
  const aggregates = new Map<string, Path>()
  for (const f of model.aggregates) if (!aggregates.has(f.namespace)) aggregates.set(f.namespace, f.at.slice(0, 3))
  checkOnce([
    ...model.binds.map((b) => ({ name: b.namespace, at: [...b.at, 'namespace'] })),
    ...model.consumes.map((c) => ({ name: c.namespace, at: [...c.at, 'namespace'] })),
    ...model.exposes.map((e) => ({ name: e.namespace, at: [...e.at, 'namespace'] })),
    ...[...aggregates].map(([name, at]) => ({ name, at: [...at, 'namespace'] })),
  ], out, (n) => `namespace "${n}"`)
  checkOnce(model.exposes
    .filter((e) => e.port !== undefined && e.port !== 0 && !(e.type === 'mcp' && e.transport === 'stdio'))
    .map((e) => ({ name: `${e.address ?? ''}:${String(e.port)}`, at: [...e.at, 'port'] })), out, (n) => `port ${n.slice(n.lastIndexOf(':') + 1)}`)
}

/**
 * A `call: ns.op` must reach exactly one upstream endpoint: two operations (or resources) with one
 * name in a namespace are refused, never resolved to the last one declared.
 */
function checkConsumedNames (model: CapabilityModel, out: DiagnosticList): Map<string, ConsumedOperation> {
  const operations = new Map<string, ConsumedOperation>()
  for (const c of model.consumes) {
    checkOnce(c.resources, out, (n) => `resource "${n}" of namespace "${c.namespace}"`)
    checkOnce(c.operations, out, (n) => `operation "${n}" of namespace "${c.namespace}"`, 'a call cannot tell them apart: rename one of them')
    for (const op of c.operations) if (!operations.has(`${c.namespace}.${op.name}`)) operations.set(`${c.namespace}.${op.name}`, op)
  }
  return operations
}

/** Reports every declaration whose name an earlier one already has, with both positions. */
function checkOnce (items: readonly Named[], out: DiagnosticList, what: (name: string) => string, hint?: string): void {
  const first = new Map<string, Path>()
  for (const item of items) {
    const earlier = first.get(item.name)
    if (earlier === undefined) { first.set(item.name, item.at); continue }
    out.error(item.at, `${what(item.name)} is declared twice (first at line ${out.position(earlier)})${hint === undefined ? '' : `; ${hint}`}`)
  }
}

function checkExposes (model: CapabilityModel, operations: Map<string, ConsumedOperation>, functions: Map<string, Invocable>, scope: ReferenceScope, out: DiagnosticList): void {
  const consumed = new Set(model.consumes.map((c) => c.namespace))
  const check = (item: Invocable): void => checkInvocable(item, operations, functions, scope, out)
  for (const f of model.aggregates) check(f)
  for (const expose of model.exposes) {
    if (expose.type === 'rest') {
      const routes: Named[] = []
      for (const resource of expose.resources) {
        if (resource.forward !== undefined && !consumed.has(resource.forward.targetNamespace)) {
          out.error([...resource.at, 'forward', 'targetNamespace'], `forward target "${resource.forward.targetNamespace}" is not a consumed namespace`)
        }
        for (const op of resource.operations) {
          routes.push({ name: `${op.method} ${routeKey(op.path)}`, at: [...op.at, 'method'] })
          check(op)
        }
        // a forward resource without operations serves every method on its path
        if (resource.forward !== undefined && resource.operations.length === 0) {
          for (const method of FORWARDED_METHODS) routes.push({ name: `${method} ${routeKey(resource.path)}`, at: [...resource.at, 'forward'] })
        }
      }
      checkOnce(routes, out, (n) => `route ${n}`)
    } else if (expose.type === 'mcp') {
      checkOnce(expose.tools.map((t) => ({ name: t.name, at: [...t.at, 'name'] })), out, (n) => `tool "${n}"`)
      checkOnce(expose.resources.map((r) => ({ name: r.uri, at: r.at })), out, (n) => `MCP resource "${n}"`)
      checkOnce(expose.prompts, out, (n) => `MCP prompt "${n}"`)
      for (const tool of expose.tools) check(tool)
      for (const resource of expose.resources) if (resource.kind === 'dynamic') check(resource)
      for (const prompt of expose.prompts) checkPromptTemplate(prompt, out)
    } else if (expose.type === 'skill') {
      checkSkills(expose, model, out)
    }
  }
}

/** A skill's tools name a sibling REST operation or MCP tool that exists, or a file inside its location. */
function checkSkills (expose: SkillExpose, model: CapabilityModel, out: DiagnosticList): void {
  checkOnce(expose.skills.map((k) => ({ name: k.name, at: [...k.at, 'name'] })), out, (n) => `skill "${n}"`)
  for (const skill of expose.skills) {
    checkOnce(skill.tools.map((t) => ({ name: t.name, at: [...t.at, 'name'] })), out, (n) => `tool "${n}" of skill "${skill.name}"`)
    if (skill.location !== undefined && !skill.location.startsWith('file:')) out.error([...skill.at, 'location'], `skill "${skill.name}" has location ${skill.location}: a skill's files are a file:/// directory`)
    for (const tool of skill.tools) {
      if (tool.from !== undefined) {
        const { sourceNamespace, action } = tool.from
        const source = model.exposes.find((e) => e.namespace === sourceNamespace)
        if (source === undefined || (source.type !== 'rest' && source.type !== 'mcp')) {
          out.error([...tool.at, 'from', 'sourceNamespace'], `skill tool "${tool.name}" comes from "${sourceNamespace}", which is no rest or mcp expose of this capability`)
        } else {
          const actions = source.type === 'mcp' ? source.tools.map((t) => t.name) : source.resources.flatMap((r) => r.operations.flatMap((o) => o.name ?? []))
          if (!actions.includes(action)) out.error([...tool.at, 'from', 'action'], `skill tool "${tool.name}": "${sourceNamespace}" has no ${source.type === 'mcp' ? 'tool' : 'operation'} named "${action}"${actions.length === 0 ? '' : ` (it has ${actions.join(', ')})`}`)
        }
      } else if (tool.instruction !== undefined) {
        if (skill.location === undefined) out.error([...tool.at, 'instruction'], `skill tool "${tool.name}" has an instruction file but skill "${skill.name}" has no location to read it from`)
        else if (tool.instruction.split(/[\\/]/).includes('..') || tool.instruction.startsWith('/')) out.error([...tool.at, 'instruction'], `skill tool "${tool.name}": the instruction ${tool.instruction} must be a path inside the skill's location`)
      } else {
        out.error(tool.at, `skill tool "${tool.name}" needs \`from\` (a sibling operation or tool) or \`instruction\` (a file in the skill's location)`)
      }
    }
  }
}

/** Every `{{...}}` of an inline prompt names one of its declared arguments (file prompts: load-mcp-files.ts). */
function checkPromptTemplate (prompt: McpPrompt, out: DiagnosticList): void {
  if (prompt.source.kind !== 'template') return
  const declared = new Set(prompt.arguments.map((a) => a.name))
  prompt.source.messages.forEach((message, i) => {
    for (const name of templateTokens(message.content)) {
      if (!declared.has(name)) out.error([...prompt.at, 'template', i, 'content'], `{{${name}}} names no argument of prompt "${prompt.name}"; ${declared.size === 0 ? 'it declares none' : `its arguments are ${[...declared].join(', ')}`}`)
    }
  })
}

/** The methods a `forward` resource serves (exposers/rest mounts the same list). */
export const FORWARDED_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const

function checkInvocable (item: Invocable, operations: Map<string, ConsumedOperation>, functions: Map<string, Invocable>, scope: ReferenceScope, out: DiagnosticList): void {
  const t = item.target
  if (t.kind === 'call' && !operations.has(t.call)) out.error([...item.at, 'call'], `call "${t.call}" does not name a consumed operation (namespace.operation)`)
  if (t.kind === 'ref' && !functions.has(t.ref)) {
    const known = [...functions.keys()]
    out.error([...item.at, 'ref'], `ref "${t.ref}" does not name an aggregate function (namespace.function)${known.length === 0 ? '; the capability declares none' : `; declared: ${known.join(', ')}`}`)
  }
  if (t.kind === 'steps') checkSteps(item, t, operations, scope, out)
  if (t.kind === 'none') out.error(item.at, 'has neither call, ref nor steps, and its outputs are not mock values: nothing to invoke')
  // `with` keys compare like every input name (case, `-` and `_` ignored): two that collide name one parameter
  const keys = new Map<string, string>()
  for (const key of Object.keys(item.with)) {
    const other = keys.get(normalizeName(key))
    if (other !== undefined) out.error([...item.at, 'with', key], `with keys "${other}" and "${key}" name the same parameter (names compare ignoring case, - and _): keep one`)
    else keys.set(normalizeName(key), key)
  }
}

/** Every `{{...}}` in the capability must name an input, a declared variable or (leniently) the environment. */
function checkTemplates (capability: unknown, scope: ReferenceScope, out: DiagnosticList, options: CheckOptions): void {
  const roots = [...scope.inputRoots].map((r) => `${r}.`).join(', ')
  for (const { token, reference: ref, at } of documentTokens(capability, ['capability'], scope)) {
    // a prompt's `{{name}}` is one of its arguments (checkPromptTemplate), not an input or a variable
    if (at[1] === 'exposes' && at[3] === 'prompts') continue
    switch (ref.kind) {
      case 'unbound':
        out.error(at, `{{${token}}} is not bound: declare ${ref.name} in the keys of a binds entry`)
        break
      case 'environment': {
        const message = `{{${token}}} is not declared in any binds entry: it is read from the environment variable ${ref.name} (declare it in a binds entry's keys, spec 3.20.2)`
        if (options.strict) out.error(at, message)
        else out.warning(at, message)
        break
      }
      case 'unknown_root':
        out.error(at, `{{${token}}} refers to "${ref.root}", which is neither an input (${roots}), a step of its orchestration, nor a binds namespace`)
        break
      case 'ambiguous':
        out.error(at, `{{${token}}} is declared by several binds entries (${ref.namespaces.join(', ')}): name one, e.g. {{${ref.namespaces[0] ?? ''}.${ref.name}}}`)
        break
    }
  }
}

function reportUnsupported (model: CapabilityModel, out: DiagnosticList): void {
  const unsupported = (path: Path, what: string): void => out.warning(path, `${what} is not yet supported by this runtime; it loads, but is not served`)
  const invocables: Invocable[] = []
  for (const expose of model.exposes) {
    if (expose.type === 'rest') {
      for (const res of expose.resources) {
        invocables.push(...res.operations)
      }
    } else if (expose.type === 'mcp') {
      invocables.push(...expose.tools)
      for (const resource of expose.resources) if (resource.kind === 'dynamic') invocables.push(resource)
    } else if (expose.type === 'control') {
      for (const what of expose.unsupported) unsupported([...expose.at, ...what.split('.')], `control ${what}`)
    } else if (expose.type === 'agent-skill') {
      unsupported([...expose.at, 'type'], `expose type "${expose.type}"`)
    }
  }
  for (const c of model.consumes) {
    const base = c.baseUri
    if (base === undefined) {
      out.warning(c.at, `consumes "${c.namespace}" has no baseUri: its operations answer 502 until one is given with --base-uri ${c.namespace}=URL (or NAFTIKO_BASE_URI_<NAMESPACE>)`, 'base-uri')
    } else if (/\{[^{}]+\}/.test(base.replace(/\{\{[^{}]+\}\}/g, ''))) {
      const names = [...base.replace(/\{\{[^{}]+\}\}/g, '').matchAll(/\{([^{}]+)\}/g)].map((m) => m[1] as string)
      out.warning([...c.at, 'baseUri'], `baseUri ${base} has server variables (${names.join(', ')}): its operations answer 502 until they are given with ${names.map((n) => `--server-var ${n}=VALUE`).join(' ')} (or NAFTIKO_SERVER_VAR_<NAME>), or a base URI with --base-uri ${c.namespace}=URL`, 'base-uri')
    } else if (!/^https?:\/\//.test(base) && !base.startsWith('{{')) {
      out.error([...c.at, 'baseUri'], `baseUri "${base}" must be an http:// or https:// URL`)
    }
    const feature = unsupportedAuthentication(c.authentication)
    if (feature !== undefined) unsupported([...c.at, 'authentication'], `${feature}: its operations answer 501 until then, never calling the upstream without the credential`)
    for (const op of c.operations) if (op.body?.type === 'multipart') unsupported([...op.at, 'body'], 'multipart request bodies')
  }
  checkOutputFormats(model, invocables, out)
}

/**
 * `outputRawFormat` names a format the runtime converts, or one the generator's files use for
 * answers that are relayed as they come (`text`, `binary`); a mapping needs a converted format, and
 * protobuf or Avro need the schema file in `outputSchema` (loaded in invocations/formats/).
 */
function checkOutputFormats (model: CapabilityModel, invocables: readonly Invocable[], out: DiagnosticList): void {
  const operations = new Map<string, ConsumedOperation>()
  for (const c of model.consumes) {
    for (const op of c.operations) {
      const format = op.outputRawFormat
      if (format !== 'json' && !isConvertedFormat(format) && !RELAYED_FORMATS.includes(format)) {
        out.error([...op.at, 'outputRawFormat'], `outputRawFormat "${format}" is not one of json, ${CONVERTED_FORMATS.join(', ')} (or ${RELAYED_FORMATS.join(', ')}: relayed as they come)`)
      } else if (format !== 'json') operations.set(`${c.namespace}.${op.name}`, op)
    }
  }
  for (const item of invocables) {
    const op = item.target.kind === 'call' ? operations.get(item.target.call) : undefined
    if (op === undefined || compileOutputMapping(item.outputParameters).identity) continue
    const format = op.outputRawFormat
    if (!isConvertedFormat(format)) out.error([...item.at, 'outputParameters'], `an output mapping over outputRawFormat ${format} cannot be applied: such answers are relayed as they come; map ${CONVERTED_FORMATS.join(', ')} or json answers`)
    else if (SCHEMA_FORMATS.includes(format) && op.outputSchema === undefined) out.error([...op.at, 'outputRawFormat'], `outputRawFormat ${format} needs outputSchema, the path of its ${format === 'avro' ? '.avsc' : '.proto'} schema file (relative to this file), for the output mapping at line ${out.position(item.at)}`)
  }
}

/** The upstream credential this runtime cannot send yet, named for a message; undefined when it can. */
export function unsupportedAuthentication (auth: CapabilityModel['consumes'][number]['authentication']): string | undefined {
  if (auth === undefined) return undefined
  if (auth.type === 'oauth2') return 'oauth2 authentication to an upstream'
  if (auth.type === 'apikey' && auth.placement === 'cookie' && Object.keys(auth.headers).length === 0) return `apikey placement "${auth.placement}"`
  return undefined
}
