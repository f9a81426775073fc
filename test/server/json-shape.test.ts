import { describe, expect, it } from 'vitest'
import { JsonShape, jsonShape } from '../../src/server/json-shape.js'

const shape = (text: string, budget = 1_000_000): string => jsonShape(Buffer.from(text), 512, budget)

const PLAUSIBLE = [
  '{}',
  '  \n[1, 2.5e-3, true, false, null, "x"]\r\n\t',
  '{"a": {"b": [{"c": "d"}]}}',
  '{"quote": "say \\"hi\\"", "slash": "a\\\\", "both": "\\\\\\"", "brackets": "]}[{"}',
  `{"long": "${'x'.repeat(10_000)}\\"${'y'.repeat(100)}"}`,
  '{"s": "日本 🙂 é"}',
  '['.repeat(512) + ']'.repeat(512),
]

const CHECK: Array<[string, string]> = [
  ['nothing', ''],
  ['only whitespace', '   '],
  ['a top-level string', '"x"'],
  ['a top-level number', '12'],
  ['a truncated object', '{"a": [1, 2'],
  ['an unclosed string', '{"a": "b}'],
  ['a string whose last quote is escaped', '{"a": "b\\"}'],
  ['a mismatched bracket', '{"a": [1}]'],
  ['a stray closing bracket', '{"a": 1}}'],
  ['trailing garbage', '{"a": 1} x'],
  ['two values', '{}{}'],
  ['single quotes', "{'a': 1}"],
  ['a bare word', '{"a": hello}'],
  ['a control byte outside a string', '{"a":\u00001}'],
  ['513 levels of nesting', '['.repeat(513) + ']'.repeat(513)],
]

describe('jsonShape', () => {
  it.each(PLAUSIBLE)('finds %j plausible', (text) => {
    expect(shape(text)).toBe('plausible')
  })

  it.each(CHECK)('cannot vouch for %s', (_name, text) => {
    expect(shape(text)).toBe('check')
  })

  it('gives the same verdict to a body pushed in pieces, cut anywhere', () => {
    for (const text of [...PLAUSIBLE, ...CHECK.map(([, t]) => t)]) {
      const bytes = Buffer.from(text)
      const whole = jsonShape(bytes, 512, Infinity)
      for (const size of [1, 2, 3, 5, 7, 33, 64]) {
        const pieces = new JsonShape(512)
        for (let at = 0; at < bytes.length; at += size) pieces.push(bytes.subarray(at, at + size))
        expect(pieces.end(), `${JSON.stringify(text.slice(0, 40))} in pieces of ${size}`).toBe(whole)
      }
    }
  })

  it('gives up past its budget, and within it finds the same body plausible', () => {
    const body = `[${Array.from({ length: 1000 }, (_, i) => `{"k":${i}}`).join(',')}]`
    expect(shape(body, 1000)).toBe('check')
    expect(shape(body, 100_000)).toBe('plausible')
    const padded = `{}${' '.repeat(5000)}`
    expect(shape(padded, 1000)).toBe('check')
    expect(shape(padded, 10_000)).toBe('plausible')
  })

  it('reads a view into a larger buffer from its own start', () => {
    const inner = `{"a": "${'b'.repeat(100)}"}`
    const whole = Buffer.from(`"x${inner}"yy`)
    expect(jsonShape(whole.subarray(2, 2 + inner.length), 512, 1000)).toBe('plausible')
  })

  it('reads a plain Uint8Array view (not a Buffer) the same way', () => {
    for (const text of [...PLAUSIBLE, ...CHECK.map(([, t]) => t)]) {
      const padded = Buffer.from(`"x${text}"yy`)
      const view = new Uint8Array(padded.buffer, padded.byteOffset + 2, padded.length - 5)
      expect(jsonShape(view, 512, Infinity), JSON.stringify(text.slice(0, 40))).toBe(jsonShape(Buffer.from(text), 512, Infinity))
    }
  })
})
