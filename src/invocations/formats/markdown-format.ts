import type { Nodes, Root, RootContent, Table } from 'mdast'
import { fromMarkdown } from 'mdast-util-from-markdown'
import { gfmTableFromMarkdown } from 'mdast-util-gfm-table'
import { gfmTable } from 'micromark-extension-gfm-table'
import { yamlToJson } from './yaml-format.js'

interface Section { heading: string, level: number, content: string }

/**
 * Markdown (CommonMark with GFM tables) -> `{frontMatter, tables, sections}`:
 * - `frontMatter`: the YAML between a first line `---` and the next `---` line, `{}` without one (or
 *   when it is not a mapping); front matter that is not YAML makes the body invalid;
 * - `tables`: each top-level table as an array of row objects keyed by its header cells (missing
 *   cells `""`), in document order;
 * - `sections`: each heading with its `level` and the plain text of the blocks up to the next heading
 *   (tables left out, one line per block). `filter` keeps the sections whose heading starts with it;
 *   a filter written as a heading (`## Results`) also requires that level.
 */
export function markdownToJson (text: string, filter: string | undefined): unknown {
  const { frontMatter, body } = splitFrontMatter(text.replace(/\r\n?/g, '\n'))
  const tree = fromMarkdown(body, { extensions: [gfmTable()], mdastExtensions: [gfmTableFromMarkdown()] })
  return { frontMatter, tables: tablesOf(tree), sections: sectionsOf(tree, compileFilter(filter)) }
}

// `---`, the YAML, `---`, each on lines of their own, at the very start of the text
const FRONT_MATTER = /^---[ \t]*\n(?:([\s\S]*?)\n)?---[ \t]*(?:\n|$)/

function splitFrontMatter (text: string): { frontMatter: unknown, body: string } {
  const found = FRONT_MATTER.exec(text)
  if (found === null) return { frontMatter: {}, body: text }
  const yaml = found[1] ?? ''
  const parsed = yaml.trim() === '' ? {} : yamlToJson(yaml)
  const frontMatter = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed : {}
  return { frontMatter, body: text.slice(found[0].length) }
}

function tablesOf (tree: Root): Array<Array<Record<string, string>>> {
  const tables: Array<Array<Record<string, string>>> = []
  for (const node of tree.children) {
    if (node.type !== 'table') continue
    const rows = rowsOf(node)
    const [header, ...body] = rows
    if (header === undefined || header.every((h) => h === '')) continue
    tables.push(body.map((cells) => Object.fromEntries(header.map((name, i) => [name, cells[i] ?? '']))))
  }
  return tables
}

function rowsOf (table: Table): string[][] {
  return table.children.map((row) => row.children.map((cell) => plainText(cell).trim()))
}

function sectionsOf (tree: Root, keep: (heading: string, level: number) => boolean): Section[] {
  const sections: Section[] = []
  let current: { heading: string, level: number, blocks: string[] } | undefined
  const close = (): void => {
    if (current !== undefined && keep(current.heading, current.level)) sections.push({ heading: current.heading, level: current.level, content: current.blocks.join('\n') })
  }
  for (const node of tree.children) {
    if (node.type === 'heading') {
      close()
      current = { heading: plainText(node).trim(), level: node.depth, blocks: [] }
    } else if (current !== undefined && node.type !== 'table') {
      const text = plainText(node).trim()
      if (text !== '') current.blocks.push(text)
    }
  }
  close()
  return sections
}

function compileFilter (filter: string | undefined): (heading: string, level: number) => boolean {
  if (filter === undefined || filter.trim() === '') return () => true
  const written = /^(#{1,6})\s+(.*)$/.exec(filter.trim())
  if (written === null) return (heading) => heading.startsWith(filter)
  const level = (written[1] as string).length
  const prefix = written[2] as string
  return (heading, l) => l === level && heading.startsWith(prefix)
}

/** The text a reader sees: markup and raw HTML left out, a soft line break a space, a hard one a newline. */
function plainText (node: Nodes | RootContent): string {
  switch (node.type) {
    case 'text': return node.value.replace(/\n/g, ' ')
    case 'inlineCode': case 'code': return node.value
    case 'break': return '\n'
    case 'html': return ''
  }
  if (!('children' in node)) return ''
  // blocks inside a container (list items, quotes) go on lines of their own
  const separator = node.type === 'list' || node.type === 'listItem' || node.type === 'blockquote' ? '\n' : ''
  return node.children.map((child) => plainText(child)).join(separator)
}
