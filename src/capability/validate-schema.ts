import { readFileSync } from 'node:fs'
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js'
import { type DiagnosticList, formatPath } from './diagnostics.js'

const PROJECT_SCHEMA_URL = new URL('../../schemas/capability.schema.json', import.meta.url)

let projectValidator: ValidateFunction | undefined

function compile (schemaText: string): ValidateFunction {
  const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false })
  return ajv.compile(JSON.parse(schemaText) as object)
}

/** The runtime's own, lenient schema (`schemas/capability.schema.json`). */
export function validateAgainstProjectSchema (data: unknown, out: DiagnosticList): void {
  projectValidator ??= compile(readFileSync(PROJECT_SCHEMA_URL, 'utf8'))
  report(projectValidator, data, out, '')
}

/** The official alpha2 JSON Schema, for `naftiko validate --strict`. */
export function validateAgainstOfficialSchema (data: unknown, schemaPath: string, out: DiagnosticList): void {
  report(compile(readFileSync(schemaPath, 'utf8')), data, out, 'official schema: ')
}

function report (validate: ValidateFunction, data: unknown, out: DiagnosticList, prefix: string): void {
  if (validate(data)) return
  const seen = new Set<string>()
  for (const err of leafErrors(validate.errors ?? [])) {
    const path = pointerToPath(err.instancePath)
    const message = `${prefix}${formatPath(path)} ${describe(err)}`
    if (seen.has(message)) continue
    seen.add(message)
    out.error(path, message)
  }
}

/** Combinator errors (`must match "then" schema`, `must match exactly one schema in oneOf`) only
 * repeat what their branches said; keep them only where no branch error explains the node. */
function leafErrors (errors: ErrorObject[]): ErrorObject[] {
  const combinators = new Set(['if', 'anyOf', 'oneOf', 'allOf', 'not'])
  const leaves = errors.filter((e) => !combinators.has(e.keyword))
  const explained = new Set(leaves.map((e) => e.instancePath))
  return errors.filter((e) => !combinators.has(e.keyword) || (e.keyword !== 'if' && !hasPrefix(explained, e.instancePath)))
}

function hasPrefix (paths: Set<string>, prefix: string): boolean {
  for (const p of paths) if (p === prefix || p.startsWith(prefix + '/')) return true
  return false
}

function describe (err: ErrorObject): string {
  const p = err.params as Record<string, unknown>
  switch (err.keyword) {
    case 'required': return `is missing required field "${String(p.missingProperty)}"`
    case 'additionalProperties': return `has unknown field "${String(p.additionalProperty)}"`
    case 'enum': return `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`
    case 'const': return `must be ${JSON.stringify(p.allowedValue)}`
    default: return err.message ?? `fails ${err.keyword}`
  }
}

function pointerToPath (pointer: string): Array<string | number> {
  if (pointer === '') return []
  return pointer.slice(1).split('/').map((raw) => {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    return /^\d+$/.test(part) ? Number(part) : part
  })
}
