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

  it('finds the shortest secret it keeps in a text of exactly its length, and nothing in a shorter one', () => {
    const short = buildRedactor(['k3y!', SECRET])
    expect(short.holds('k3y!')).toBe(true)
    expect(short.holds('k3y')).toBe(false)
    expect(short.redact('k3y!')).toBe(REDACTED)
    expect(redactor.holds(SECRET)).toBe(true)
    expect(redactor.holds(SECRET.slice(1))).toBe(false)
  })
})

describe('the redactor\'s stream scanner', () => {
  it('scrubs a secret cut between two chunks at any byte, and holds back only what could start one', () => {
    for (const form of forms) {
      const text = `data: {"x":"${form}"}\n\n`
      for (let cut = 1; cut < text.length; cut++) {
        const scanner = redactor.scanner()
        const first = scanner.push(Buffer.from(text.slice(0, cut)))
        const out = Buffer.concat([first, scanner.push(Buffer.from(text.slice(cut))), scanner.end()]).toString()
        expect(out, `${form} cut at ${cut}`).toBe(redactor.redact(text))
        expect(out).not.toContain(SECRET)
        // what was held back is at most a form's length
        expect(cut - first.length).toBeLessThan(form.length)
      }
    }
  })

  it('passes a chunk that ends in a line feed through whole', () => {
    const scanner = redactor.scanner()
    const chunk = Buffer.from(`data: {"x":"${SECRET.slice(0, 10)}\n\n`)
    expect(scanner.push(chunk)).toEqual(chunk)
    expect(scanner.end().length).toBe(0)
  })
})
