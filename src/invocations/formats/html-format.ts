import { parse, type HTMLElement } from 'node-html-parser'

/**
 * HTML -> `{tables: [[{Header: "cell"}]]}`: every table of the page (or, with a CSS selector, every
 * table the selector matches or contains) with a header row, as an array of row objects keyed by
 * the header's cell texts. The header row is the first row of `<thead>`, else the table's first row
 * when it has `<th>` cells; tables without one are left out. The other rows with at least one
 * `<td>` are data rows: their `<th>` and `<td>` cells in order, missing cells `""`, cells past the
 * header dropped. Cell text has its whitespace collapsed. A nested table is a table of its own, never
 * rows of the table around it.
 */
export function htmlToJson (text: string, selector: string | undefined): unknown {
  const root = parse(text)
  const tables: Array<Array<Record<string, string>>> = []
  for (const table of selectTables(root, selector)) {
    const rows = rowsOf(table)
    const header = headerRow(rows)
    if (header === undefined) continue
    const names = cellsOf(header.row).map(textOf)
    if (names.every((n) => n === '')) continue
    const body: Array<Record<string, string>> = []
    for (const { row, head } of rows) {
      if (row === header.row || head) continue
      const cells = cellsOf(row)
      if (!cells.some((c) => c.tagName === 'TD')) continue
      body.push(Object.fromEntries(names.map((name, i) => [name, cells[i] === undefined ? '' : textOf(cells[i])])))
    }
    tables.push(body)
  }
  return { tables }
}

/** Throws when a selector is not one the parser can run; for the check at load time. */
export function checkHtmlSelector (selector: string): void {
  parse('<table></table>').querySelectorAll(selector)
}

function selectTables (root: HTMLElement, selector: string | undefined): HTMLElement[] {
  if (selector === undefined) return root.querySelectorAll('table')
  const found = new Set<HTMLElement>()
  for (const element of root.querySelectorAll(selector)) {
    if (element.tagName === 'TABLE') found.add(element)
    else for (const table of element.querySelectorAll('table')) found.add(table)
  }
  return [...found]
}

interface Row { readonly row: HTMLElement, readonly head: boolean }

/** The table's own rows, in order: direct `<tr>` children and those of its `<thead>`, `<tbody>`, `<tfoot>`. */
function rowsOf (table: HTMLElement): Row[] {
  const rows: Row[] = []
  for (const child of table.children) {
    if (child.tagName === 'TR') rows.push({ row: child, head: false })
    else if (child.tagName === 'THEAD' || child.tagName === 'TBODY' || child.tagName === 'TFOOT') {
      for (const row of child.children) if (row.tagName === 'TR') rows.push({ row, head: child.tagName === 'THEAD' })
    }
  }
  return rows
}

function headerRow (rows: readonly Row[]): Row | undefined {
  const head = rows.find((r) => r.head)
  if (head !== undefined) return head
  const first = rows[0]
  return first !== undefined && first.row.children.some((c) => c.tagName === 'TH') ? first : undefined
}

function cellsOf (row: HTMLElement): HTMLElement[] {
  return row.children.filter((c) => c.tagName === 'TD' || c.tagName === 'TH')
}

function textOf (cell: HTMLElement): string {
  // structuredText puts block elements (a paragraph, a nested table) on lines of their own
  return cell.structuredText.replace(/\s+/g, ' ').trim()
}
