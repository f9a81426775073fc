/**
 * `{{...}}` expressions (spec 3.20). A token is either a bound variable (`{{API_KEY}}`,
 * `{{env.API_KEY}}`) resolved once at startup, or a reference to an input of the call
 * (`{{username}}`, `{{tools.query}}`) resolved per request.
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
