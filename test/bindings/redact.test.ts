import { describe, expect, it } from 'vitest'
import { buildRedactor, REDACTED } from '../../src/bindings/redact.js'

const SECRET = 'sk-(redact)+[test]{2}|42'
const redactor = buildRedactor([SECRET])
const forms = [SECRET, JSON.stringify(SECRET).slice(1, -1), encodeURIComponent(SECRET), Buffer.from(`user:${SECRET}`).toString('base64')]

describe('the redactor', () => {
  // a short text is tested with one pattern, a long one needle by needle: both must find every form
  it.each([['a short text', 10], ['a long text', 5_000]])('finds and replaces every form of a secret in %s', (_name, padding) => {
    for (const form of forms) {
      const text = `${'x'.repeat(padding)} ${form} ${'y'.repeat(padding)}`
      expect(redactor.holds(text), form).toBe(true)
      const clean = redactor.redact(text)
      expect(clean).toContain(REDACTED)
      expect(clean).not.toContain(SECRET)
      expect(clean.startsWith('x'.repeat(padding))).toBe(true)
      expect(redactor.holds(clean)).toBe(false)
    }
  })

  it.each([['a short text', 10], ['a long text', 5_000]])('leaves %s without a secret as it is', (_name, padding) => {
    const text = `${'x'.repeat(padding)} sk-(redact)+[test]{2}|4 ${'y'.repeat(padding)}`
    expect(redactor.holds(text)).toBe(false)
    expect(redactor.redact(text)).toBe(text)
  })
})
