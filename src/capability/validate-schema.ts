import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import type { ErrorObject } from 'ajv'
import { type DiagnosticList, formatPath } from './diagnostics.js'

interface Validator {
  (data: unknown): boolean
  errors?: ErrorObject[] | null
}

const PROJECT_SCHEMA_URL = new URL('../../schemas/capability.schema.json', import.meta.url)
// written by scripts/build-schema-validator.mjs next to this module's build output
const PRECOMPILED_PATH = fileURLToPath(new URL('./project-schema.generated.cjs', import.meta.url))
const require = createRequire(import.meta.url)

let projectValidator: Promise<Validator> | undefined

/**
 * The built package validates with the schema compiled at build time; run from source (the test
 * suite), the schema is compiled here. Either way `schemas/capability.schema.json` is the one source.
 */
function loadProjectValidator (): Promise<Validator> {
  projectValidator ??= Promise.resolve().then(() => require(PRECOMPILED_PATH) as Validator).catch(
    async () => compile(readFileSync(PROJECT_SCHEMA_URL, 'utf8'))
  )
  return projectValidator
}

async function compile (schemaText: string): Promise<Validator> {
  const { Ajv2020 } = await import('ajv/dist/2020.js')
  const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false, unicode: false, logger: false })
  return ajv.compile(JSON.parse(schemaText) as object)
}

/** The runtime's own, lenient schema (`schemas/capability.schema.json`). */
export async function validateAgainstProjectSchema (data: unknown, out: DiagnosticList): Promise<void> {
  report(await loadProjectValidator(), data, out, '')
}

/** The official alpha2 JSON Schema, for `naftiko validate --strict`. */
export async function validateAgainstOfficialSchema (data: unknown, schemaPath: string, out: DiagnosticList): Promise<void> {
  report(await compile(readFileSync(schemaPath, 'utf8')), data, out, 'official schema: ')
}

function report (validate: Validator, data: unknown, out: DiagnosticList, prefix: string): void {
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
