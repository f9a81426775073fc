import { DiagnosticList, type Diagnostic } from './diagnostics.js'
import { loadCapabilityFile } from './load-capability.js'
import { resolveImports } from './resolve-imports.js'
import { checkCapability } from './check-capability.js'
import { validateAgainstOfficialSchema, validateAgainstProjectSchema } from './validate-schema.js'
import type { Capability } from './types.js'
import type { SourceMap } from './diagnostics.js'

export interface ReadCapability {
  path: string
  capability: Capability | undefined
  source: SourceMap
  diagnostics: Diagnostic[]
  ok: boolean
}

/**
 * load -> resolve imports -> schema -> semantic checks. Every problem found is collected so they are
 * all reported at once; `ok` is false when any of them is an error.
 */
export async function readCapability (file: string, options: { officialSchema?: string } = {}): Promise<ReadCapability> {
  const loaded = await loadCapabilityFile(file)
  const out = new DiagnosticList(loaded.source)
  out.items.push(...loaded.diagnostics)
  let capability: Capability | undefined
  if (loaded.data !== undefined) {
    if (options.officialSchema !== undefined) await validateAgainstOfficialSchema(loaded.data, options.officialSchema, out)
    const data = loaded.data as Capability
    const runnable = typeof data?.capability === 'object' && data.capability !== null
    // imported consumes entries are replaced by what they import before the runtime's schema sees them
    if (runnable && Array.isArray(data.capability.consumes)) await resolveImports(data, loaded.path, out)
    await validateAgainstProjectSchema(loaded.data, out)
    const schemaOk = !out.hasErrors
    if (runnable) {
      try {
        checkCapability(data, out)
      } catch (err) {
        // only reachable on shapes the schema already rejected; those errors are the report
        if (schemaOk) throw err
      }
    }
    if (schemaOk) capability = data
  }
  return { path: loaded.path, capability, source: loaded.source, diagnostics: out.items, ok: !out.hasErrors && capability !== undefined }
}
