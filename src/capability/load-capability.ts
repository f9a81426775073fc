import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { LineCounter, parseDocument } from 'yaml'
import { StartupError } from '../errors/startup-error.js'
import { buildSourceMap, type Diagnostic, type SourceMap } from './diagnostics.js'
import { compactStrings } from './one-byte-strings.js'

export interface LoadedDocument {
  /** Absolute path of the capability file; relative `file://` bindings resolve against its folder. */
  path: string
  /** The parsed YAML as plain data; `undefined` when the text is not YAML. */
  data: unknown
  source: SourceMap
  diagnostics: Diagnostic[]
}

/** Reads and parses a capability file, keeping positions for every later report. */
export async function loadCapabilityFile (file: string): Promise<LoadedDocument> {
  const path = resolve(file)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new StartupError('file_unreadable', `${file}: ${unreadable((err as NodeJS.ErrnoException).code)}`, [], { cause: err })
  }
  return parseCapabilityText(text, file, path)
}

function unreadable (code: string | undefined): string {
  switch (code) {
    case 'ENOENT': return 'no such file'
    case 'EISDIR': return 'is a directory; give the capability file inside it'
    case 'EACCES': case 'EPERM': return 'permission denied'
    default: return `cannot be read (${code ?? 'error'})`
  }
}

export function parseCapabilityText (text: string, displayName: string, path = resolve(displayName)): LoadedDocument {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  const source = buildSourceMap(displayName, doc, lines)
  const diagnostics: Diagnostic[] = []
  // the parser's offsets, placed with the line counter (its own linePos is only set for pretty errors)
  for (const [severity, problems] of [['error', doc.errors], ['warning', doc.warnings]] as const) {
    for (const problem of problems) {
      const { line, col } = lines.linePos(problem.pos[0])
      diagnostics.push({ severity, file: displayName, line, col, message: `YAML: ${firstLine(problem.message)}` })
    }
  }
  const data = doc.errors.length > 0 ? undefined : compactStrings(doc.toJS({ maxAliasCount: 100 }) as unknown)
  return { path, data, source, diagnostics }
}

function firstLine (message: string): string {
  const end = message.indexOf('\n')
  return end === -1 ? message : message.slice(0, end)
}
