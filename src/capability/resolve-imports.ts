import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { parse } from 'yaml'
import { compactStrings } from './one-byte-strings.js'
import type { DiagnosticList } from './diagnostics.js'

interface ImportedConsumes { import: string, location: string, as?: string }

function isImport (entry: unknown): entry is ImportedConsumes {
  return typeof (entry as ImportedConsumes)?.import === 'string' && typeof (entry as ImportedConsumes)?.location === 'string'
}

/**
 * Replaces `consumes: [{import, location, as}]` entries with the consumed namespace they name, read
 * from the shared consumes file (a document with a root `consumes:` list), so later stages only ever
 * see plain consumes entries.
 */
export async function resolveImports (doc: Record<string, unknown>, capabilityPath: string, out: DiagnosticList): Promise<void> {
  const entries = (doc.capability as { consumes?: unknown } | undefined)?.consumes
  if (!Array.isArray(entries)) return
  for (let i = 0; i < entries.length; i++) {
    const entry: unknown = entries[i]
    if (!isImport(entry)) continue
    const path = ['capability', 'consumes', i]
    const file = resolve(dirname(capabilityPath), entry.location.replace(/^file:\/\//, ''))
    let shared: { consumes?: Array<{ namespace?: unknown }> }
    try {
      shared = compactStrings(parse(await readFile(file, 'utf8'))) as typeof shared
    } catch (err) {
      out.error([...path, 'location'], `cannot import consumes from ${entry.location}: ${(err as Error).message.split('\n')[0]}`)
      continue
    }
    const found = shared?.consumes?.find((c) => c?.namespace === entry.import)
    if (found === undefined) {
      out.error([...path, 'import'], `${entry.location} has no consumed namespace "${entry.import}"`)
      continue
    }
    entries[i] = { ...found, namespace: entry.as ?? entry.import }
  }
}
