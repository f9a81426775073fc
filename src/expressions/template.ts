/**
 * The text forms of the format's expressions (spec 3.20): `{{token}}` templates and path
 * placeholders. What a token refers to is decided in references.ts.
 */
export type TemplatePart = string | { token: string }

const TOKEN = /\{\{\s*([^{}]+?)\s*\}\}/g

export function hasTemplate (text: string): boolean {
  return text.includes('{{')
}

export function parseTemplate (text: string): TemplatePart[] {
  const parts: TemplatePart[] = []
  let last = 0
  for (const m of text.matchAll(TOKEN)) {
    if (m.index > last) parts.push(text.slice(last, m.index))
    parts.push({ token: m[1] as string })
    last = m.index + m[0].length
  }
  if (last < text.length) parts.push(text.slice(last))
  return parts
}

export function templateTokens (text: string): string[] {
  return [...text.matchAll(TOKEN)].map((m) => m[1] as string)
}

/** Bind variable names are SCREAMING_SNAKE_CASE (spec 3.19.1). */
export const BIND_VARIABLE = /^[A-Z][A-Z0-9_]*$/

/** Names compare ignoring case, `-` and `_` (DESIGN 2.1: `{codebaseid}` feeds `rest.codebaseId`). */
export function normalizeName (name: string): string {
  return name.replace(/[-_]/g, '').toLowerCase()
}

/** A path placeholder: `{id}` and `{{id}}` are both placeholders (DESIGN 2.1). */
export interface Placeholder {
  /** the text between the braces, trimmed (`id`, `rest.id`) */
  token: string
  /** the last dotted segment: the parameter name it stands for */
  name: string
  index: number
  length: number
}

const PLACEHOLDER = /\{\{?\s*([^{}]+?)\s*\}?\}/g

export function pathPlaceholders (path: string): Placeholder[] {
  return [...path.matchAll(PLACEHOLDER)].map((m) => {
    const token = m[1] as string
    return { token, name: token.slice(token.lastIndexOf('.') + 1), index: m.index, length: m[0].length }
  })
}

/** Splits a path into its literal text and its placeholders, in order. */
export function splitPath (path: string): Array<string | Placeholder> {
  const parts: Array<string | Placeholder> = []
  let last = 0
  for (const p of pathPlaceholders(path)) {
    if (p.index > last) parts.push(path.slice(last, p.index))
    parts.push(p)
    last = p.index + p.length
  }
  if (last < path.length) parts.push(path.slice(last))
  return parts
}

/** `/users/{id}`, `/users/{{user_id}}` and `/users/{id}/` are the same route (trailing slashes are ignored). */
export function routeKey (path: string): string {
  const key = splitPath(path).map((part) => typeof part === 'string' ? part : '{}').join('')
  return key.length > 1 && key.endsWith('/') ? key.slice(0, -1) : key
}
