import { readFile, stat } from 'node:fs/promises'
import { filePathOf } from './file-location.js'
import { templateTokens } from '../expressions/template.js'
import type { DiagnosticList } from './diagnostics.js'
import type { CapabilityModel } from './model.js'

/**
 * The files an MCP expose serves are checked when the capability loads, so that `validate` reports
 * a misspelt `location` with its position instead of the first client finding an empty listing: a
 * static resource's directory (or file) must exist, a file prompt must be a readable file whose
 * `{{name}}` placeholders are all declared arguments.
 */
export async function loadMcpFiles (model: CapabilityModel, capabilityPath: string, out: DiagnosticList): Promise<void> {
  for (const expose of model.exposes) {
    if (expose.type !== 'mcp') continue
    for (const resource of expose.resources) {
      if (resource.kind !== 'static') continue
      const path = filePathOf(resource.location, capabilityPath)
      const kind = await kindOf(path)
      if (kind === undefined) out.error([...resource.at, 'location'], `location ${resource.location} of resource "${resource.name}" does not exist (${path})`)
      else if (kind === 'other') out.error([...resource.at, 'location'], `location ${resource.location} of resource "${resource.name}" is neither a directory nor a file (${path})`)
    }
    for (const prompt of expose.prompts) {
      if (prompt.source.kind !== 'file') continue
      const at = [...prompt.at, 'location']
      const path = filePathOf(prompt.source.location, capabilityPath)
      let text: string
      try {
        text = await readFile(path, 'utf8')
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code
        out.error(at, `location ${prompt.source.location} of prompt "${prompt.name}" ${code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a directory, not a file' : `cannot be read (${code ?? 'error'})`} (${path})`)
        continue
      }
      const declared = new Set(prompt.arguments.map((a) => a.name))
      const unknown = [...new Set(templateTokens(text).filter((name) => !declared.has(name)))]
      if (unknown.length > 0) out.error(at, `${unknown.map((n) => `{{${n}}}`).join(', ')} in ${prompt.source.location} ${unknown.length === 1 ? 'names no argument' : 'name no arguments'} of prompt "${prompt.name}"; ${declared.size === 0 ? 'it declares none' : `its arguments are ${[...declared].join(', ')}`}`)
    }
  }
}

async function kindOf (path: string): Promise<'directory' | 'file' | 'other' | undefined> {
  try {
    const s = await stat(path)
    return s.isDirectory() ? 'directory' : s.isFile() ? 'file' : 'other'
  } catch {
    return undefined
  }
}
