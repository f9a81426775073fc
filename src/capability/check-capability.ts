import { buildBindScope, classifyToken } from '../bindings/bind-scope.js'
import { templateTokens } from '../bindings/template.js'
import { compileOutputMapping } from '../consumers/compile-mapping.js'
import type { DiagnosticList, Path } from './diagnostics.js'
import type { Capability, ExposedResource, ExposesMcp, ExposesRest, Invocable, McpTool } from './types.js'

/**
 * Semantic checks the schema cannot express: references resolve, namespaces are unique, every
 * `{{VAR}}` is bound. Features that load but are not executed yet are reported as warnings that
 * say so, never as errors.
 */
export function checkCapability (cap: Capability, out: DiagnosticList): void {
  const binds = [...(cap.binds ?? []), ...(cap.capability?.binds ?? [])]
  checkNamespaces(cap, out)
  const operations = consumedOperations(cap)
  const functions = aggregateFunctions(cap)
  checkExposes(cap, operations, functions, out)
  checkTemplates(cap, buildBindScope(binds), out)
  reportUnsupported(cap, out)
}

function checkNamespaces (cap: Capability, out: DiagnosticList): void {
  const seen = new Map<string, string>()
  const visit = (ns: unknown, path: Path): void => {
    if (typeof ns !== 'string') return
    const first = seen.get(ns)
    if (first !== undefined) out.error(path, `namespace "${ns}" is already used by ${first}`)
    else seen.set(ns, path.join('.').replace(/\.(\d+)/g, '[$1]'))
  }
  const c = cap.capability ?? {}
  ;(cap.binds ?? []).forEach((b, i) => visit(b?.namespace, ['binds', i, 'namespace']))
  ;(c.binds ?? []).forEach((b, i) => visit(b?.namespace, ['capability', 'binds', i, 'namespace']))
  ;(c.consumes ?? []).forEach((x, i) => visit(x?.namespace ?? (x as { as?: string, import?: string })?.as ?? (x as { import?: string })?.import, ['capability', 'consumes', i, 'namespace']))
  ;(c.exposes ?? []).forEach((x, i) => visit(x?.namespace, ['capability', 'exposes', i, 'namespace']))
  ;(c.aggregates ?? []).forEach((x, i) => visit((x as { namespace?: string })?.namespace, ['capability', 'aggregates', i, 'namespace']))

  const ports = new Map<string, number>()
  ;(c.exposes ?? []).forEach((x, i) => {
    if (typeof x?.port !== 'number' || x.port === 0 || (x as ExposesMcp).transport === 'stdio') return
    const key = `${x.address ?? ''}:${x.port}`
    const other = ports.get(key)
    if (other !== undefined) out.error(['capability', 'exposes', i, 'port'], `port ${x.port} is already used by capability.exposes[${other}]`)
    else ports.set(key, i)
  })
}

/** `namespace.operation` of every consumed operation; imported namespaces resolve once imported. */
function consumedOperations (cap: Capability): Set<string> {
  const ops = new Set<string>()
  for (const consumes of cap.capability?.consumes ?? []) {
    for (const resource of consumes?.resources ?? []) {
      for (const op of resource?.operations ?? []) ops.add(`${consumes.namespace}.${op?.name}`)
    }
  }
  return ops
}

function aggregateFunctions (cap: Capability): Set<string> {
  const fns = new Set<string>()
  for (const agg of (cap.capability?.aggregates ?? []) as Array<{ namespace?: string, functions?: Array<{ name?: string }> }>) {
    for (const fn of agg?.functions ?? []) fns.add(`${agg.namespace}.${fn?.name}`)
  }
  return fns
}

function checkExposes (cap: Capability, operations: Set<string>, functions: Set<string>, out: DiagnosticList): void {
  const consumes = new Set((cap.capability?.consumes ?? []).map((c) => c?.namespace))
  ;(cap.capability?.exposes ?? []).forEach((expose, e) => {
    const base: Path = ['capability', 'exposes', e]
    if (expose?.type === 'rest') {
      const routes = new Set<string>()
      ;((expose as ExposesRest).resources ?? []).forEach((resource: ExposedResource, r) => {
        const rpath: Path = [...base, 'resources', r]
        if (resource?.forward !== undefined && !consumes.has(resource.forward.targetNamespace)) {
          out.error([...rpath, 'forward', 'targetNamespace'], `forward target "${resource.forward.targetNamespace}" is not a consumed namespace`)
        }
        ;(resource?.operations ?? []).forEach((op, o) => {
          const route = `${String(op?.method).toUpperCase()} ${routeKey(op?.path ?? resource.path)}`
          if (routes.has(route)) out.error([...rpath, 'operations', o, 'method'], `route ${route} is declared twice`)
          routes.add(route)
          checkInvocable(op, [...rpath, 'operations', o], operations, functions, out)
        })
      })
    } else if (expose?.type === 'mcp') {
      const names = new Set<string>()
      ;((expose as ExposesMcp).tools ?? []).forEach((tool, t) => {
        const name = toolName(tool)
        if (names.has(name)) out.error([...base, 'tools', t, 'name'], `tool "${name}" is declared twice`)
        names.add(name)
        checkInvocable(tool, [...base, 'tools', t], operations, functions, out)
      })
    }
  })
  ;((cap.capability?.aggregates ?? []) as Array<{ functions?: Invocable[] }>).forEach((agg, a) => {
    ;(agg?.functions ?? []).forEach((fn, f) => {
      if (typeof fn?.call === 'string' && !operations.has(fn.call)) {
        out.error(['capability', 'aggregates', a, 'functions', f, 'call'], `call "${fn.call}" does not name a consumed operation (namespace.operation)`)
      }
    })
  })
}

function checkInvocable (item: Invocable, path: Path, operations: Set<string>, functions: Set<string>, out: DiagnosticList): void {
  if (typeof item?.call === 'string' && !operations.has(item.call)) {
    out.error([...path, 'call'], `call "${item.call}" does not name a consumed operation (namespace.operation)`)
  }
  if (typeof item?.ref === 'string' && !functions.has(item.ref)) {
    out.error([...path, 'ref'], `ref "${item.ref}" does not name an aggregate function (namespace.function)`)
  }
  ;(item?.steps ?? []).forEach((step, s) => {
    const call = (step as { call?: unknown })?.call
    if (typeof call === 'string' && !operations.has(call)) {
      out.error([...path, 'steps', s, 'call'], `step call "${call}" does not name a consumed operation (namespace.operation)`)
    }
  })
  if (item?.call === undefined && item?.ref === undefined && item?.steps === undefined && !isMock(item)) {
    out.error(path, 'has neither call, ref nor steps, and its outputs are not mock values: nothing to invoke')
  }
}

/** Every REST operation and MCP tool, with its path in the document. */
function invocables (cap: Capability): Array<[Invocable, Path]> {
  const items: Array<[Invocable, Path]> = []
  ;(cap.capability?.exposes ?? []).forEach((expose, e) => {
    const base: Path = ['capability', 'exposes', e]
    if (expose?.type === 'rest') {
      ;((expose as ExposesRest).resources ?? []).forEach((res, r) => {
        ;(res?.operations ?? []).forEach((op, o) => items.push([op, [...base, 'resources', r, 'operations', o]]))
      })
    } else if (expose?.type === 'mcp') {
      ;((expose as ExposesMcp).tools ?? []).forEach((tool, t) => items.push([tool, [...base, 'tools', t]]))
    }
  })
  return items
}

/** A tool that only has a `ref` takes the name of the aggregate function it refers to. */
export function toolName (tool: McpTool): string {
  return tool.name ?? String(tool.ref ?? '').split('.').pop() ?? ''
}

/** A tool with no call whose outputs all carry a `value` answers with those values (spec MockOutputParameter). */
export function isMock (item: Invocable): boolean {
  const outputs = item?.outputParameters
  return item?.call === undefined && item?.ref === undefined && item?.steps === undefined &&
    Array.isArray(outputs) && outputs.length > 0 && outputs.every((o) => o?.value !== undefined && typeof o.name === 'string')
}

/** `/users/{id}` and `/users/{{user_id}}` are the same route. */
function routeKey (path: string): string {
  return String(path).replace(/\{\{?[^}]+\}?\}/g, '{}')
}

function checkTemplates (cap: Capability, scope: ReturnType<typeof buildBindScope>, out: DiagnosticList): void {
  const visit = (value: unknown, path: Array<string | number>): void => {
    if (typeof value === 'string') {
      for (const token of templateTokens(value)) {
        if (classifyToken(token, scope) === 'unbound') {
          out.error(path, `{{${token}}} is not bound: declare ${token.split('.').pop()} in the keys of a binds entry`)
        }
      }
    } else if (Array.isArray(value)) {
      value.forEach((v, i) => visit(v, [...path, i]))
    } else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) if (k !== 'binds') visit(v, [...path, k])
    }
  }
  visit(cap.capability, ['capability'])
}

function reportUnsupported (cap: Capability, out: DiagnosticList): void {
  const c = cap.capability ?? {}
  const unsupported = (path: Path, what: string): void => out.warning(path, `${what} is not yet supported by this runtime; it loads, but is not served`)
  ;(c.aggregates ?? []).forEach((_, i) => unsupported(['capability', 'aggregates', i], 'aggregates'))
  ;(c.exposes ?? []).forEach((expose, e) => {
    const base: Path = ['capability', 'exposes', e]
    if (expose?.type !== 'rest' && expose?.type !== 'mcp') unsupported([...base, 'type'], `expose type "${expose?.type}"`)
    if (expose?.type === 'rest') {
      ;((expose as ExposesRest).resources ?? []).forEach((res, r) => {
        if (res?.forward !== undefined) unsupported([...base, 'resources', r, 'forward'], 'forward')
      })
    }
    if (expose?.type === 'mcp') {
      const mcp = expose as ExposesMcp
      if (mcp.resources !== undefined) unsupported([...base, 'resources'], 'MCP resources')
      if (mcp.prompts !== undefined) unsupported([...base, 'prompts'], 'MCP prompts')
    }
  })
  for (const [item, path] of invocables(cap)) {
    if (item?.steps !== undefined) unsupported([...path, 'steps'], 'orchestration steps')
    else if (item?.ref !== undefined) unsupported([...path, 'ref'], 'aggregate function ref')
  }
  ;(c.consumes ?? []).forEach((consumes, i) => {
    const base = consumes?.baseUri
    if (base === undefined || base === null || base === '') {
      out.warning(['capability', 'consumes', i], `consumes "${consumes?.namespace}" has no baseUri: its operations answer 502 until one is given with --base-uri ${consumes?.namespace}=URL`)
    } else if (/\{[^{}]+\}/.test(base.replace(/\{\{[^{}]+\}\}/g, ''))) {
      out.warning(['capability', 'consumes', i, 'baseUri'], `baseUri ${base} has server variables nothing binds: its operations answer 502 until a base URI is given with --base-uri ${consumes?.namespace}=URL`)
    } else if (!/^https?:\/\//.test(base) && !base.startsWith('{{')) {
      out.error(['capability', 'consumes', i, 'baseUri'], `baseUri "${base}" must be an http:// or https:// URL`)
    }
    const auth = consumes?.authentication
    if (auth?.type === 'digest' || auth?.type === 'oauth2') unsupported(['capability', 'consumes', i, 'authentication', 'type'], `${auth.type} authentication to an upstream`)
    if (auth?.type === 'apikey' && auth.placement !== undefined && auth.placement !== 'header' && auth.placement !== 'query' && auth.headers === undefined) {
      unsupported(['capability', 'consumes', i, 'authentication', 'placement'], `apikey placement "${auth.placement}"`)
    }
  })
  // a non-JSON body is relayed as it is; only a mapping over it would need a decoder
  const formats = new Map<string, string>()
  for (const consumes of c.consumes ?? []) {
    for (const res of consumes?.resources ?? []) {
      for (const op of res?.operations ?? []) {
        if (op?.outputRawFormat !== undefined && op.outputRawFormat !== 'json') formats.set(`${consumes.namespace}.${op.name}`, op.outputRawFormat)
      }
    }
  }
  for (const [item, path] of invocables(cap)) {
    const format = typeof item?.call === 'string' ? formats.get(item.call) : undefined
    if (format !== undefined && !compileOutputMapping(item.outputParameters).identity) unsupported([...path, 'outputParameters'], `output mapping over ${format}`)
  }
}
