import { DiagnosticList, type Diagnostic, type SourceMap } from './diagnostics.js'
import { loadCapabilityFile } from './load-capability.js'
import { resolveImports } from './resolve-imports.js'
import { checkCapability } from './check-capability.js'
import { loadMcpFiles } from './load-mcp-files.js'
import { normalizeCapability } from './normalize-capability.js'
import { validateAgainstOfficialSchema, validateAgainstProjectSchema } from './validate-schema.js'
import type { CapabilityModel } from './model.js'
import { loadOutputFormats, type OutputFormats } from '../invocations/formats/load-output-formats.js'

export interface ReadCapability {
  path: string
  /** undefined when the file has errors, or is a shared consumes document (no `capability`) */
  model: CapabilityModel | undefined
  /** the converters of consumed operations whose answers are not JSON, schemas loaded */
  formats: OutputFormats
  /** the document as read, imports resolved (templates are read from it with their positions) */
  document: Record<string, unknown>
  /** what kind of document it is, for messages */
  kind: 'capability' | 'shared-consumes' | 'other'
  source: SourceMap
  diagnostics: Diagnostic[]
  ok: boolean
}

/**
 * load -> resolve imports -> schema -> normalize -> semantic checks -> output format schemas. Every
 * problem found is collected so that they are all reported at once; `ok` is false when any of them
 * is an error.
 */
export async function readCapability (file: string, options: { officialSchema?: string } = {}): Promise<ReadCapability> {
  const loaded = await loadCapabilityFile(file)
  const out = new DiagnosticList(loaded.source)
  out.items.push(...loaded.diagnostics)
  let model: CapabilityModel | undefined
  let formats: OutputFormats = new Map()
  const data = loaded.data as Record<string, unknown> | undefined
  const runnable = data !== null && typeof data === 'object' && typeof data.capability === 'object' && data.capability !== null
  const stranger = data === undefined ? undefined : notACapability(data)
  if (stranger !== undefined) out.error([], stranger)
  else if (data !== undefined) {
    if (options.officialSchema !== undefined) await validateAgainstOfficialSchema(data, options.officialSchema, out)
    // imported consumes entries are replaced by what they import before the runtime's schema sees them
    if (runnable) await resolveImports(data, loaded.path, out)
    await validateAgainstProjectSchema(data, out)
    const schemaOk = !out.hasErrors
    if (runnable) {
      // checked even when the schema found errors, so that every problem is reported at once
      try {
        const normalized = normalizeCapability(data, out)
        checkCapability(normalized, data, out, { strict: options.officialSchema !== undefined })
        await loadMcpFiles(normalized, loaded.path, out)
        formats = await loadOutputFormats(normalized, loaded.path, out)
        if (!out.hasErrors) model = normalized
      } catch (err) {
        // only reachable on shapes the schema already rejected; those errors are the report
        if (schemaOk) throw err
      }
    }
  }
  const kind = stranger === undefined && runnable ? 'capability' : Array.isArray(data?.consumes) ? 'shared-consumes' : 'other'
  return { path: loaded.path, model, formats, document: data ?? {}, kind, source: loaded.source, diagnostics: out.items, ok: !out.hasErrors && (model !== undefined || kind === 'shared-consumes') }
}

/** A file that is not a Naftiko document at all gets one sentence that says what it looks like. */
function notACapability (data: unknown): string | undefined {
  const doc = data !== null && typeof data === 'object' && !Array.isArray(data) ? data as Record<string, unknown> : undefined
  if (doc !== undefined && 'naftiko' in doc) {
    if ('capability' in doc || 'consumes' in doc) return undefined
    return 'a Naftiko document needs `capability:` (a capability: what it consumes and exposes) or a root `consumes:` list (a shared consumes document that capabilities import); this one has neither'
  }
  const looksLike = doc === undefined
    ? `its root is ${data === null ? 'empty' : Array.isArray(data) ? 'a list' : `a ${typeof data}`}`
    : 'openapi' in doc || 'swagger' in doc
      ? 'it looks like an OpenAPI document; a capability consumes such an API, it is not one'
      : 'asyncapi' in doc ? 'it looks like an AsyncAPI document' : `its root has ${Object.keys(doc).slice(0, 4).map((k) => `"${k}"`).join(', ') || 'no keys'}`
  return `not a Naftiko capability: there is no \`naftiko:\` key at the root (${looksLike}). A capability starts with \`naftiko: 1.0.0-alpha2\` and has a \`capability:\` with \`consumes:\` (the APIs it calls) and \`exposes:\` (its REST and MCP servers)`
}
