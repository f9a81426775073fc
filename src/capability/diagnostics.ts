import type { LineCounter, Document } from 'yaml'
import { isNode } from 'yaml'

export type Severity = 'error' | 'warning'
export type Path = ReadonlyArray<string | number>

export interface Diagnostic {
  severity: Severity
  file: string
  line: number
  col: number
  message: string
  /** what `run` says another way: a consumed namespace's base URI (its startup summary line) */
  about?: 'base-uri'
}

/** Locates paths of the parsed document in its source, so every report says `file:line:col`. */
export interface SourceMap {
  readonly file: string
  locate (path: Path): { line: number, col: number }
}

export function buildSourceMap (file: string, doc: Document, lines: LineCounter): SourceMap {
  return {
    file,
    locate (path) {
      // walk up to the deepest existing node: a missing property is reported at its parent
      for (let depth = path.length; depth >= 0; depth--) {
        const node = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth), true)
        if (isNode(node) && node.range) {
          const pos = lines.linePos(node.range[0])
          return { line: pos.line, col: pos.col }
        }
      }
      return { line: 1, col: 1 }
    },
  }
}

export function formatDiagnostic (d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.col}: ${d.severity === 'warning' ? 'warning: ' : ''}${d.message}`
}

/** Collects problems so that all of them are reported at once, each with its position. */
export class DiagnosticList {
  readonly items: Diagnostic[] = []
  constructor (private readonly source: SourceMap) {}

  error (path: Path, message: string): void { this.add('error', path, message) }
  warning (path: Path, message: string, about?: Diagnostic['about']): void { this.add('warning', path, message, about) }

  /** `line:col` of a path, to name a second place in one message */
  position (path: Path): string {
    const { line, col } = this.source.locate(path)
    return `${line}:${col}`
  }

  get hasErrors (): boolean { return this.items.some((d) => d.severity === 'error') }

  private add (severity: Severity, path: Path, message: string, about?: Diagnostic['about']): void {
    const { line, col } = this.source.locate(path)
    this.items.push({ severity, file: this.source.file, line, col, message, ...(about === undefined ? {} : { about }) })
  }
}

/** `capability.consumes[0].namespace`, for messages. */
export function formatPath (path: Path): string {
  let out = ''
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : (out === '' ? part : `.${part}`)
  return out === '' ? '(root)' : out
}
