import type { ResolvedBindings } from '../bindings/resolve-bindings.js'
import { hasTemplate, normalizeName, parseTemplate } from '../bindings/template.js'
import { type CallContext, plainValue } from './call-context.js'

/** A value computed per call from the call context; compiled once at startup. */
export type ValueExpression = (ctx: CallContext) => unknown

export interface ExpressionScope {
  bindings: ResolvedBindings
  /** Roots that name the caller's inputs: `rest`, `tools`, `mcp` and the expose's own namespace. */
  inputRoots: ReadonlySet<string>
}

export const ADAPTER_ROOTS = ['rest', 'tools', 'mcp', 'skill'] as const

/**
 * `rest.x`, `tools.x`, `<exposeNamespace>.x` and `$this.<ns>.x` name an input of the caller
 * (DESIGN 2.1, spec 3.15); returns the normalized input name, or undefined for anything else.
 */
export function inputReference (expression: string, scope: ExpressionScope): string | undefined {
  const text = expression.trim()
  if (text.startsWith('$this.')) {
    const rest = text.slice('$this.'.length)
    const dot = rest.indexOf('.')
    return dot === -1 ? undefined : normalizeName(rest.slice(dot + 1))
  }
  const dot = text.indexOf('.')
  if (dot <= 0) return undefined
  const root = text.slice(0, dot)
  let name = text.slice(dot + 1)
  if (!scope.inputRoots.has(root) || name === '' || /\s/.test(name)) return undefined
  // `rest.path.org_slug`, `rest.query.page`, `rest.body.body`: the location is only a hint
  const located = /^(path|query|header|headers|body)\.(.+)$/.exec(name)
  if (located !== null) name = located[2] as string
  return normalizeName(name)
}

/**
 * Compiles a `with` value, a parameter `value:` or a body template: an input reference, a
 * `{{...}}` template (a template that is one token keeps the value's type), a literal, or an
 * object/array of those.
 */
export function compileValue (value: unknown, scope: ExpressionScope): ValueExpression {
  if (typeof value === 'string') return compileString(value, scope)
  if (Array.isArray(value)) {
    const items = value.map((v) => compileValue(v, scope))
    if (value.every((v) => !isDynamic(v))) return () => value
    return (ctx) => items.map((item) => plainValue(item(ctx)))
  }
  if (value !== null && typeof value === 'object') {
    if (!isDynamic(value)) return () => value
    const entries = Object.entries(value).map(([k, v]) => [k, compileValue(v, scope)] as const)
    return (ctx) => {
      const out: Record<string, unknown> = {}
      for (const [k, expr] of entries) {
        const v = plainValue(expr(ctx))
        if (v !== undefined) out[k] = v
      }
      return out
    }
  }
  return () => value
}

function isDynamic (value: unknown): boolean {
  if (typeof value === 'string') return hasTemplate(value) || value.includes('.')
  if (Array.isArray(value)) return value.some(isDynamic)
  if (value !== null && typeof value === 'object') return Object.values(value).some(isDynamic)
  return false
}

function compileString (text: string, scope: ExpressionScope): ValueExpression {
  const input = inputReference(text, scope)
  if (input !== undefined) return input === 'body' ? (ctx) => ctx.inputs.get('body') ?? ctx.inputs.body : (ctx) => ctx.inputs.get(input)
  if (!hasTemplate(text)) return () => text
  const parts = parseTemplate(text).map((part) => typeof part === 'string' ? part : compileToken(part.token, scope))
  if (parts.length === 1 && typeof parts[0] === 'function') return parts[0]
  if (parts.every((p) => typeof p === 'string')) {
    const joined = parts.join('')
    return () => joined
  }
  return (ctx) => {
    let out = ''
    for (const part of parts) {
      if (typeof part === 'string') { out += part; continue }
      const v = plainValue(part(ctx))
      if (v === undefined || v === null) return undefined
      out += typeof v === 'object' ? JSON.stringify(v) : String(v)
    }
    return out
  }
}

/** A bound variable becomes its value now; anything else is looked up per call. */
function compileToken (token: string, scope: ExpressionScope): ValueExpression | string {
  const bound = scope.bindings.values.get(token)
  if (bound !== undefined) return bound
  const input = inputReference(token, scope)
  if (input !== undefined) return (ctx) => ctx.inputs.get(input)
  const name = normalizeName(token)
  return (ctx) => ctx.args.has(name) ? ctx.args.get(name) : ctx.inputs.get(name)
}

const NO_CALL: CallContext = { inputs: { get: () => undefined, body: undefined }, args: new Map() }

/** A value that needs no call (a base URI, a credential): bound variables filled in, as text. */
export function resolveStaticText (value: unknown, scope: ExpressionScope): string {
  const out = compileValue(value ?? '', scope)(NO_CALL)
  return out === undefined || out === null ? '' : String(out)
}
