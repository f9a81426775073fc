import type { Binding } from '../capability/types.js'
import { BIND_VARIABLE } from './template.js'

/** Which binding declares a variable; resolved values live in `values` (filled by resolveBindings). */
export interface BindScope {
  /** `VAR` and `namespace.VAR` -> the declaring binding's index and the variable name */
  readonly declared: ReadonlyMap<string, { binding: number, variable: string }>
  readonly namespaces: ReadonlySet<string>
}

export function buildBindScope (binds: readonly Binding[]): BindScope {
  const declared = new Map<string, { binding: number, variable: string }>()
  const namespaces = new Set<string>()
  binds.forEach((b, i) => {
    if (typeof b?.namespace === 'string') namespaces.add(b.namespace)
    for (const variable of Object.keys(b?.keys ?? {})) {
      if (!declared.has(variable)) declared.set(variable, { binding: i, variable })
      if (typeof b.namespace === 'string') declared.set(`${b.namespace}.${variable}`, { binding: i, variable })
    }
  })
  return { declared, namespaces }
}

/**
 * Classifies a `{{token}}`: a bound variable, an unbound variable (an error), or an input
 * reference resolved per request.
 */
export function classifyToken (token: string, scope: BindScope): 'bound' | 'unbound' | 'input' {
  if (scope.declared.has(token)) return 'bound'
  const dot = token.lastIndexOf('.')
  if (dot === -1) return BIND_VARIABLE.test(token) ? 'unbound' : 'input'
  const head = token.slice(0, dot)
  if (scope.namespaces.has(head)) return 'unbound'
  // `{{env.API_KEY}}` with no `env` binding: a variable nobody binds, not an input
  if (!INPUT_ROOTS.has(head) && !head.startsWith('$this') && BIND_VARIABLE.test(token.slice(dot + 1))) return 'unbound'
  return 'input'
}

/** Roots that name the calling adapter's inputs (DESIGN 2.1). An expose's own namespace is one too. */
const INPUT_ROOTS = new Set(['rest', 'tools', 'mcp', 'skill', 'input', 'inputs', 'args'])
