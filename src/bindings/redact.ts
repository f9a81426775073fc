/** Replaces every bound secret in a text. Built once from the resolved bindings. */
export type Redactor = (text: string) => string

const REDACTED = '[redacted]'

/**
 * Each secret is matched plain, JSON-escaped, URL-encoded and base64-encoded: the forms in which it
 * can appear in a log line, a URL or an error body an upstream echoes back.
 */
export function buildRedactor (secrets: readonly string[]): Redactor | undefined {
  const needles = new Set<string>()
  for (const secret of secrets) {
    // very short values would blank out ordinary words; they are not plausible credentials
    if (secret.length < 4) continue
    needles.add(secret)
    needles.add(JSON.stringify(secret).slice(1, -1))
    needles.add(encodeURIComponent(secret))
    needles.add(Buffer.from(secret).toString('base64'))
  }
  if (needles.size === 0) return undefined
  // longest first, so a secret containing another is replaced whole
  const ordered = [...needles].sort((a, b) => b.length - a.length)
  return (text) => {
    let out = text
    for (const needle of ordered) if (out.includes(needle)) out = out.split(needle).join(REDACTED)
    return out
  }
}
