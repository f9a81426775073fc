import { BIND_VARIABLE, normalizeName, templateTokens } from './template.js'

/**
 * What a name in an expression refers to, decided in one place for the checker (validate) and the
 * compiler (run), so that `validate` accepts exactly what `run` can execute.
 */
export interface ReferenceScope {
  /** roots that name the calling adapter's inputs: the adapter roots and every expose's namespace */
  readonly inputRoots: ReadonlySet<string>
  /** `VAR` and `namespace.VAR` of every `binds[].keys` entry -> the variable name */
  readonly declared: ReadonlyMap<string, string>
  /** bare variables that more than one binds namespace declares -> those namespaces */
  readonly ambiguous: ReadonlyMap<string, readonly string[]>
  readonly bindNamespaces: ReadonlySet<string>
  /** inside an orchestration: the names of its steps, whose outputs `{{step.x}}` reads */
  readonly steps?: ReadonlySet<string>
}

/** The scope inside an orchestration: its step names are roots too. */
export function withSteps (scope: ReferenceScope, steps: readonly string[]): ReferenceScope {
  return { ...scope, steps: new Set(steps) }
}

/** Roots that name the calling adapter's inputs (DESIGN 2.1, spec 3.15). */
export const ADAPTER_ROOTS: readonly string[] = ['rest', 'tools', 'mcp', 'skill']

/** `{{env.X}}` names the process environment when no binds entry declares X (the generator's files). */
export const ENVIRONMENT_ROOT = 'env'

export interface BindDeclaration { readonly namespace: string, readonly keys: Readonly<Record<string, string>> }

export function buildReferenceScope (binds: readonly BindDeclaration[], exposeNamespaces: readonly string[]): ReferenceScope {
  const declared = new Map<string, string>()
  const owners = new Map<string, string[]>()
  const bindNamespaces = new Set<string>()
  for (const b of binds) {
    bindNamespaces.add(b.namespace)
    for (const variable of Object.keys(b.keys)) {
      declared.set(variable, variable)
      declared.set(`${b.namespace}.${variable}`, variable)
      owners.set(variable, [...(owners.get(variable) ?? []), b.namespace])
    }
  }
  const ambiguous = new Map([...owners].filter(([, namespaces]) => namespaces.length > 1))
  return { inputRoots: new Set([...ADAPTER_ROOTS, ...exposeNamespaces]), declared, ambiguous, bindNamespaces }
}

export type Reference =
  /** an input of the call, by normalized name */
  | { kind: 'input', name: string }
  /** the output of an orchestration step (`{{get-ship.imo_number}}`), `path` after the step name */
  | { kind: 'step', step: string, path: string }
  /** a variable some binds entry declares; its value is resolved once at startup */
  | { kind: 'variable', key: string }
  /** `{{env.X}}` that no binds entry declares: the environment variable X (lenient) */
  | { kind: 'environment', key: string, name: string }
  /** a SCREAMING_SNAKE_CASE variable (or one in a binds namespace) that nothing declares */
  | { kind: 'unbound', name: string }
  /** `a.b` where `a` is neither an input root nor a binds namespace */
  | { kind: 'unknown_root', root: string }
  /** a bare variable that several binds namespaces declare: which one is meant cannot be told */
  | { kind: 'ambiguous', name: string, namespaces: readonly string[] }

const LOCATION_HINT = /^(path|query|header|headers|body)\.(.+)$/

/** Classifies the text inside `{{...}}`. */
export function classifyToken (token: string, scope: ReferenceScope): Reference {
  const text = token.trim()
  const owners = scope.ambiguous.get(text)
  if (owners !== undefined) return { kind: 'ambiguous', name: text, namespaces: owners }
  if (scope.declared.has(text)) return { kind: 'variable', key: text }
  const dot = text.indexOf('.')
  const steps = scope.steps
  // the checker refuses a step named like an input root or a binds namespace, so this never shadows one
  if (steps !== undefined && steps.has(dot === -1 ? text : text.slice(0, dot))) {
    return dot === -1 ? { kind: 'step', step: text, path: '' } : { kind: 'step', step: text.slice(0, dot), path: text.slice(dot + 1) }
  }
  if (dot === -1) return BIND_VARIABLE.test(text) ? { kind: 'unbound', name: text } : { kind: 'input', name: normalizeName(text) }
  const input = inputReference(text, scope)
  if (input !== undefined) return { kind: 'input', name: input }
  const root = text.slice(0, dot)
  const rest = text.slice(dot + 1)
  if (root === ENVIRONMENT_ROOT && rest !== '' && !rest.includes('.')) return { kind: 'environment', key: text, name: rest }
  if (scope.bindNamespaces.has(root)) return { kind: 'unbound', name: rest }
  return { kind: 'unknown_root', root }
}

/**
 * `rest.x`, `tools.x`, `<exposeNamespace>.x` and `$this.<ns>.x` name an input of the caller; so do
 * `rest.path.x`, `rest.query.x`, `rest.body.x` (the location is only a hint). Returns the
 * normalized input name, or undefined for anything else. `with` values without braces use this
 * form directly.
 */
export function inputReference (expression: string, scope: ReferenceScope): string | undefined {
  const text = expression.trim()
  if (text.startsWith('$this.')) {
    const rest = text.slice('$this.'.length)
    const dot = rest.indexOf('.')
    return dot === -1 || dot === rest.length - 1 ? undefined : normalizeName(rest.slice(dot + 1))
  }
  const dot = text.indexOf('.')
  if (dot <= 0) return undefined
  const root = text.slice(0, dot)
  let name = text.slice(dot + 1)
  if (!scope.inputRoots.has(root) || name === '' || /\s/.test(name)) return undefined
  const located = LOCATION_HINT.exec(name)
  if (located !== null) name = located[2] as string
  return normalizeName(name)
}

/** The argument name a reference shows to a caller: the last segment as written (`tools.imo_number` -> `imo_number`). */
export function referencedName (expression: string): string {
  const text = expression.trim()
  return text.slice(text.lastIndexOf('.') + 1)
}

export interface TokenUse {
  readonly token: string
  readonly reference: Reference
  /** where the string holding it is in the document */
  readonly at: ReadonlyArray<string | number>
}

/**
 * Every `{{...}}` of a document subtree, classified, with its place (`binds` are not templates).
 * Inside an object with `steps` (an orchestration), its step names are roots too.
 */
export function documentTokens (node: unknown, at: ReadonlyArray<string | number>, scope: ReferenceScope): TokenUse[] {
  const uses: TokenUse[] = []
  const visit = (value: unknown, path: ReadonlyArray<string | number>, inner: ReferenceScope): void => {
    if (typeof value === 'string') {
      if (!value.includes('{{')) return
      for (const token of templateTokens(value)) uses.push({ token, reference: classifyToken(token, inner), at: path })
    } else if (Array.isArray(value)) {
      value.forEach((v, i) => visit(v, [...path, i], inner))
    } else if (value !== null && typeof value === 'object') {
      const steps = (value as { steps?: unknown }).steps
      const here = Array.isArray(steps) ? withSteps(inner, stepNames(steps)) : inner
      for (const [k, v] of Object.entries(value)) if (k !== 'binds') visit(v, [...path, k], here)
    }
  }
  visit(node, at, scope)
  return uses
}

function stepNames (steps: unknown[]): string[] {
  return steps.flatMap((s) => {
    const name = s !== null && typeof s === 'object' ? (s as { name?: unknown }).name : undefined
    return typeof name === 'string' ? [name] : []
  })
}
