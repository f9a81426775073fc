import { hasTemplate, parseTemplate } from './template.js'
import { classifyToken, inputReference, type ReferenceScope } from './references.js'
import { type CallContext, plainValue } from './call-context.js'
import { compileJsonPath } from '../invocations/compile-mapping.js'

/** A value computed per call from the call context; compiled once at startup. */
export type ValueExpression = (ctx: CallContext) => unknown

export interface ExpressionScope {
  readonly references: ReferenceScope
  /** resolved variables: `VAR`, `namespace.VAR` and `env.X` -> value */
  readonly values: ReadonlyMap<string, string>
}

/**
 * Compiles a `with` value, a parameter `value:` or a body template: an input reference, a
 * `{{...}}` template (a template that is one token keeps the value's type), a literal, or an
 * object/array of those.
 */
export function compileValue (value: unknown, scope: ExpressionScope): ValueExpression {
  if (typeof value === 'string') return compileString(value, scope)
  if (Array.isArray(value)) {
    if (value.every((v) => !isDynamic(v))) return () => value
    const items = value.map((v) => compileValue(v, scope))
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
  const input = inputReference(text, scope.references)
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

/**
 * A JSON text with `{{...}}` templates (a raw `body:` string): each value is written as JSON where it
 * stands. Inside a string literal it is escaped into the string (absent: empty); outside, it is a
 * JSON value (absent: `null`; a text that is a JSON number, `true`, `false` or `null` as it is, any
 * other text quoted), so that no value can break out of its place or leave the text invalid.
 */
export function compileJsonTemplate (text: string, scope: ExpressionScope): (ctx: CallContext) => string {
  let inString = false
  const parts = parseTemplate(text).map((part) => {
    if (typeof part === 'string') {
      inString = endsInString(part, inString)
      return part
    }
    const expr = compileToken(part.token, scope)
    return { expr: typeof expr === 'string' ? () => expr : expr, quoted: inString }
  })
  return (ctx) => {
    let out = ''
    for (const part of parts) {
      if (typeof part === 'string') { out += part; continue }
      const v = plainValue(part.expr(ctx))
      out += part.quoted ? inJsonString(v) : asJsonValue(v)
    }
    return out
  }
}

/** Whether a JSON text that starts inside (or outside) a string literal ends inside one. */
function endsInString (text: string, inString: boolean): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (inString && c === '\\') i++
    else if (c === '"') inString = !inString
  }
  return inString
}

function inJsonString (v: unknown): string {
  if (v === undefined || v === null) return ''
  return JSON.stringify(typeof v === 'object' ? JSON.stringify(v) : String(v)).slice(1, -1)
}

const JSON_SCALAR = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)$/

function asJsonValue (v: unknown): string {
  if (v === undefined || v === null) return 'null'
  if (typeof v === 'string') return JSON_SCALAR.test(v) ? v : JSON.stringify(v)
  return JSON.stringify(v)
}

/** A variable becomes its value now; an input is looked up per call. */
function compileToken (token: string, scope: ExpressionScope): ValueExpression | string {
  const ref = classifyToken(token, scope.references)
  switch (ref.kind) {
    case 'variable':
    case 'environment':
      // resolveBindings refuses to start when a variable the capability uses has no value
      return scope.values.get(ref.key) ?? ''
    case 'input': {
      const name = ref.name
      // a bare `{{name}}` may name a `with` value computed for this call, else the caller's input
      return (ctx) => ctx.args.has(name) ? ctx.args.get(name) : ctx.inputs.get(name)
    }
    case 'step': {
      // the same JSONPath reader as `$.step.x` in mappings, over the outputs of the steps done so far
      const read = compileJsonPath(`$.${ref.step}${ref.path === '' ? '' : `.${ref.path}`}`)
      return (ctx) => read(ctx.inputs.steps)
    }
    default:
      // the checker rejects these before a runtime is built
      throw new Error(`{{${token}}} cannot be compiled`)
  }
}

const NO_CALL: CallContext = { inputs: { get: () => undefined, body: undefined }, args: new Map() }

/** A value that needs no call (a base URI, a credential): bound variables filled in, as text. */
export function resolveStaticText (value: unknown, scope: ExpressionScope): string {
  const out = compileValue(value ?? '', scope)(NO_CALL)
  return out === undefined || out === null ? '' : String(out)
}
