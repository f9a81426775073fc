import { extname, sep } from 'node:path'
import type { Redactor } from '../bindings/redact.js'

/**
 * What the exposes that serve files from a folder (MCP static resources, skill contents) share:
 * the type by extension, which types are text, the inside-the-root check, and what a file that holds
 * a bound secret becomes.
 */
const MIME_TYPES: Readonly<Record<string, string>> = {
  '.md': 'text/markdown',
  '.markdown': 'text/markdown',
  '.txt': 'text/plain',
  '.text': 'text/plain',
  '.csv': 'text/csv',
  '.tsv': 'text/tab-separated-values',
  '.html': 'text/html',
  '.htm': 'text/html',
  '.css': 'text/css',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.ts': 'text/plain',
  '.py': 'text/x-python',
  '.sh': 'text/x-shellscript',
  '.json': 'application/json',
  '.jsonl': 'application/jsonl',
  '.yaml': 'application/yaml',
  '.yml': 'application/yaml',
  '.xml': 'application/xml',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.pdf': 'application/pdf',
  '.zip': 'application/zip',
}

/** From the file's extension; an unknown one is `application/octet-stream`. */
export function mimeTypeOf (path: string): string {
  return MIME_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream'
}

const TEXT_TYPES = new Set(['application/json', 'application/jsonl', 'application/x-ndjson', 'application/xml', 'application/yaml', 'application/x-yaml', 'application/javascript', 'application/toml', 'application/graphql', 'application/sql'])

/** Whether content of this type is text (scrubbed as text; MCP sends it as `text`, else a `blob`). */
export function isText (mimeType: string): boolean {
  const type = mimeType.split(';')[0]?.trim().toLowerCase() ?? ''
  return type.startsWith('text/') || type.endsWith('+json') || type.endsWith('+xml') || TEXT_TYPES.has(type)
}

/** Whether a real path is the root or below it. */
export function isInside (path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep)
}

/**
 * A file as it may leave: text with a bound secret replaced, other content as it is unless it holds
 * one (then undefined: withheld).
 */
export function scrubFile (bytes: Buffer, mimeType: string, redactor: Redactor): { text: string } | { bytes: Buffer } | undefined {
  if (isText(mimeType)) return { text: redactor.redact(bytes.toString('utf8')) }
  if (redactor.active && redactor.holds(bytes.toString('latin1'))) return undefined
  return { bytes }
}
