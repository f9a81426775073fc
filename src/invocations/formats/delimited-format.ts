import { parse } from 'csv-parse/sync'

/**
 * CSV, TSV and PSV -> JSON (RFC 4180 quoting, any of the three delimiters): the first row names the
 * columns, each later row is an object of strings keyed by them (`[{id: "1", name: "Alice"}]`).
 * Blank lines are skipped; a short row gets `""` for its missing cells and cells past the header are
 * dropped; header names are trimmed. An empty body is `[]`.
 */
export function delimitedToJson (text: string, delimiter: string): unknown {
  const rows = parse(text, {
    delimiter,
    bom: true,
    skip_empty_lines: true,
    relax_column_count: true,
    // a quote inside an unquoted field (`5" disk`) is a character; an unclosed quoted field is an error
    relax_quotes: true,
  }) as string[][]
  const [header, ...records] = rows
  if (header === undefined) return []
  const names = header.map((h) => h.trim())
  // fromEntries defines own properties: a `__proto__` column is a column like any other
  return records.map((cells) => Object.fromEntries(names.map((name, i) => [name, cells[i] ?? ''])))
}
