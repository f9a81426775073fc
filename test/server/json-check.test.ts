import { describe, expect, it } from 'vitest'
import { checkJson } from '../../src/server/json-check.js'

const check = (text: string | Buffer, maxDepth = 512): string => checkJson(Buffer.isBuffer(text) ? text : Buffer.from(text), maxDepth)

/** What JSON.parse of the UTF-8 decoding says: the verdict checkJson must give (depth aside). */
function parses (bytes: Buffer): boolean {
  try {
    JSON.parse(bytes.toString('utf8'))
    return true
  } catch {
    return false
  }
}

const VALID = [
  '{}', '[]', '0', '-0', '1.5e+10', '-12.25E-3', '"x"', 'true', 'false', 'null',
  ' \n\t\r{ "a" : [ 1 , 2 , { } , [ ] ] , "b" : null } \r\n',
  '{"escapes": "\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\uD83D\\uDE00"}',
  '{"s": "日本 🙂 é"}',
  '{"a":{"b":{"c":[[[{"d":""}]]]}}}',
  '[' + '1,'.repeat(100) + '1]',
  '['.repeat(512) + ']'.repeat(512),
]

const INVALID = [
  '', ' ', '{', '}', '[', '{"a"}', '{"a":}', '{"a":1,}', '[1,]', '[,1]', '{,}', '{"a" 1}', '{a:1}', "{'a':1}",
  '01', '1.', '.5', '-', '1e', '1e+', '+1', '0x10', 'NaN', 'Infinity', 'tru', 'nul', 'True', 'nulll',
  '"a', '"\\"', '"\\x"', '"\\u12"', '"\\u12g4"', '"a\u0001b"', '"tab\there"', '{}{}', '{} x', '[1 2]',
  '{"a":1 "b":2}', '[}', '{]', '\ufeff{}', '{"a":1}}', '[[]', '{"a":[1}',
]

describe('checkJson', () => {
  it.each(VALID)('accepts %j', (text) => {
    expect(check(text)).toBe('ok')
    expect(parses(Buffer.from(text))).toBe(true)
  })

  it.each(INVALID)('refuses %j', (text) => {
    expect(check(text)).toBe('syntax')
    expect(parses(Buffer.from(text))).toBe(false)
  })

  it('refuses nesting past the limit, at any depth of objects and arrays', () => {
    expect(check('['.repeat(513) + ']'.repeat(513))).toBe('deep')
    expect(check('{"a":'.repeat(513) + '1' + '}'.repeat(513))).toBe('deep')
    expect(check('{"a":'.repeat(512) + '1' + '}'.repeat(512))).toBe('ok')
    expect(check('[[[]]]', 3)).toBe('ok')
    expect(check('[[[[]]]]', 3)).toBe('deep')
  })

  it('takes bytes from 0x80 up inside strings as JSON.parse of their decoding does, invalid UTF-8 too', () => {
    for (const bytes of [Buffer.from([0x22, 0xff, 0x22]), Buffer.from([0x5b, 0x22, 0xc3, 0x22, 0x5d]), Buffer.from([0x22, 0xe2, 0x82, 0x22])]) {
      expect(check(bytes)).toBe('ok')
      expect(parses(bytes)).toBe(true)
    }
    expect(check(Buffer.from([0x7b, 0xc3, 0xa9, 0x7d]))).toBe('syntax')
  })

  it('agrees with JSON.parse on many thousand damaged and intact texts', () => {
    let seed = 12345
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed % n
    }
    const pieces = ['{', '}', '[', ']', '"', ':', ',', ' ', '\\', 'u', '0', '1', '-', '.', 'e', '+', 'a', 'true', 'null', '\n', '\u0001', '\u00e9']
    const value = (depth: number): unknown => {
      switch (random(depth > 3 ? 4 : 7)) {
        case 0: return random(2) === 0 ? -random(1000) / 8 : random(1e6)
        case 1: return ['', 'x', 'a "quoted" \\ word', 'é\n\t', '\u0000\u001f'][random(5)]
        case 2: return [true, false, null][random(3)]
        case 3: return random(3) === 0 ? 1e21 : 0.5
        case 4: return Array.from({ length: random(4) }, () => value(depth + 1))
        default: return Object.fromEntries(Array.from({ length: random(4) }, (_, i) => [`k${i}`, value(depth + 1)]))
      }
    }
    let refused = 0
    for (let round = 0; round < 20_000; round++) {
      let text = JSON.stringify(value(0), null, random(3) === 0 ? 1 : undefined)
      for (let edits = random(3); edits > 0; edits--) {
        const at = random(text.length + 1)
        const cut = random(3)
        text = text.slice(0, at) + (cut === 0 ? '' : pieces[random(pieces.length)]) + text.slice(at + (cut === 2 ? 0 : 1))
      }
      const bytes = Buffer.from(text)
      const expected = parses(bytes) ? 'ok' : 'syntax'
      if (expected === 'syntax') refused++
      expect(check(bytes), JSON.stringify(text)).toBe(expected)
    }
    // both kinds were tried in numbers
    expect(refused).toBeGreaterThan(5_000)
    expect(refused).toBeLessThan(15_000)
  })
})
