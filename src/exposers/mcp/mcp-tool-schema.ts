import type { ConsumedOperation, ConsumedParameter, McpTool } from '../../capability/model.js'
import type { ExpressionScope } from '../../expressions/compile-value.js'
import { inputReference, referencedName } from '../../expressions/references.js'
import { normalizeName, pathPlaceholders, templateTokens } from '../../expressions/template.js'
import { hasType } from '../../invocations/input-types.js'

export interface JsonSchemaObject {
  type: 'object'
  properties: Record<string, Record<string, unknown>>
  required?: string[]
  additionalProperties?: boolean
}

const JSON_TYPES = new Set(['string', 'number', 'integer', 'boolean', 'object', 'array'])

/**
 * A tool's input schema: from its `inputParameters` when it declares them; otherwise derived
 * (DESIGN 2.1) from the inputs its `with` refers to and the consumed operation's parameters, so
 * that an agent can call every tool. Path parameters and required body parameters are required.
 */
export function buildInputSchema (tool: McpTool, operation: ConsumedOperation | undefined, scope: ExpressionScope): JsonSchemaObject {
  if (tool.inputParameters.length > 0) {
    const properties: JsonSchemaObject['properties'] = {}
    const required: string[] = []
    for (const p of tool.inputParameters) {
      properties[p.name] = property(p.type, p.description)
      // McpToolInputParameter.required defaults to true (spec 3.x)
      if (p.required !== false) required.push(p.name)
    }
    return { type: 'object', properties, ...(required.length > 0 ? { required } : {}), additionalProperties: true }
  }
  return deriveInputSchema(tool, operation, scope)
}

function deriveInputSchema (tool: McpTool, operation: ConsumedOperation | undefined, scope: ExpressionScope): JsonSchemaObject {
  const properties: JsonSchemaObject['properties'] = {}
  const required = new Set<string>()
  const params = operation?.parameters ?? []
  const byName = new Map(params.map((p) => [normalizeName(p.name), p]))

  // every input the `with` block reads becomes an argument
  for (const [key, value] of Object.entries(tool.with)) {
    for (const name of referencedInputs(value, scope)) {
      const param = byName.get(normalizeName(key)) ?? byName.get(normalizeName(name))
      properties[name] ??= argumentFor(param)
      if (param !== undefined && isRequired(param)) required.add(name)
    }
  }
  // consumed parameters the `with` block does not fill are the caller's to give
  const filled = new Set(Object.keys(tool.with).map(normalizeName))
  for (const p of params) {
    if (filled.has(normalizeName(p.name)) || p.value !== undefined || p.in === 'environment') continue
    properties[p.name] ??= argumentFor(p)
    if (isRequired(p)) required.add(p.name)
  }
  // a path placeholder no parameter declares and `with` does not fill is the caller's too
  const declared = new Set(params.map((p) => normalizeName(p.name)))
  const placeholders = pathPlaceholders(operation?.path ?? '').filter((p) => !scope.values.has(p.token)).map((p) => p.name)
  for (const name of placeholders) {
    const key = normalizeName(name)
    if (filled.has(key) || declared.has(key)) continue
    properties[name] ??= { type: 'string', description: `path parameter ${name}` }
    required.add(name)
  }
  // `{{tools.x}}` inside a body template are arguments too
  for (const token of templateTokens(JSON.stringify(operation?.body ?? ''))) {
    if (inputReference(token, scope.references) !== undefined) properties[referencedName(token)] ??= { type: 'string' }
  }
  const requiredList = [...required].filter((r) => r in properties)
  return { type: 'object', properties, ...(requiredList.length > 0 ? { required: requiredList } : {}), additionalProperties: true }
}

function referencedInputs (value: unknown, scope: ExpressionScope): string[] {
  if (typeof value === 'string') {
    if (inputReference(value, scope.references) !== undefined) return [referencedName(value)]
    return templateTokens(value).filter((t) => inputReference(t, scope.references) !== undefined).map(referencedName)
  }
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap((v) => referencedInputs(v, scope))
  return []
}

function argumentFor (param: ConsumedParameter | undefined): Record<string, unknown> {
  if (param === undefined) return {}
  if (param.in === 'body') return property(param.type ?? 'object', param.description)
  return property(param.type === undefined || param.type === 'object' ? 'string' : param.type, param.description ?? `${param.in} parameter ${param.name}`)
}

function isRequired (param: ConsumedParameter): boolean {
  return param.in === 'path' || param.required === true
}

function property (type: string | undefined, description: string | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  if (type !== undefined && JSON_TYPES.has(type)) out.type = type
  if (description !== undefined) out.description = description
  return out
}

/** Checks tool arguments; returns the problem, naming the argument, or undefined when they fit. */
export type ArgumentCheck = (args: unknown) => string | undefined

/**
 * The input schemas built here use only `type` per top-level property and `required`, so their check
 * is a few comparisons, compiled at startup (no JSON Schema engine is loaded for it).
 */
export function compileArgumentCheck (schema: JsonSchemaObject): ArgumentCheck {
  const required = schema.required ?? []
  const typed = Object.entries(schema.properties)
    .filter((entry): entry is [string, Record<string, unknown> & { type: string }] => typeof entry[1].type === 'string')
    .map(([name, property]) => [name, property.type] as const)
  return (args) => {
    if (args === null || typeof args !== 'object' || Array.isArray(args)) return 'Invalid arguments: the arguments must be an object.'
    const values = args as Record<string, unknown>
    for (const name of required) {
      if (values[name] === undefined) return `Invalid arguments: missing required argument "${name}".`
    }
    for (const [name, type] of typed) {
      const value = values[name]
      if (value !== undefined && !hasType(value, type)) return `Invalid arguments: "${name}" must be ${type === 'array' || type === 'object' ? 'an' : 'a'} ${type}.`
    }
    return undefined
  }
}
