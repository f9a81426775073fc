import { serialize } from 'node:v8'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { parseCapabilityText } from '../../src/capability/load-capability.js'
import { compactStrings } from '../../src/capability/one-byte-strings.js'

/** How V8 stores a string: its serializer tags a one-byte string `"` and a two-byte one `c`. */
const storage = (text: string): 'one-byte' | 'two-byte' => serialize(text)[2] === 0x22 ? 'one-byte' : 'two-byte'

const CAPABILITY = `naftiko: 1.0.0-alpha2
info:
  label: Chat — with a dash
capability:
  exposes:
    - type: rest
      namespace: chat-completions
      resources:
        - path: /v1/chat/completions
          description: Café
`

describe('compactStrings', () => {
  it('stores the values of a document that has a wide character as one-byte strings', () => {
    const raw = parse(CAPABILITY) as { capability: { exposes: Array<{ namespace: string }> } }
    // what the YAML parser hands over: cut from a two-byte text, so two-byte
    expect(storage(raw.capability.exposes[0]!.namespace)).toBe('two-byte')
    const { data } = parseCapabilityText(CAPABILITY, 'chat.yaml')
    const doc = data as { info: { label: string }, capability: { exposes: Array<{ namespace: string, resources: Array<{ path: string, description: string }> }> } }
    const expose = doc.capability.exposes[0]!
    expect(expose.namespace).toBe('chat-completions')
    expect(storage(expose.namespace)).toBe('one-byte')
    expect(expose.resources[0]!.path).toBe('/v1/chat/completions')
    expect(storage(expose.resources[0]!.path)).toBe('one-byte')
    // Latin-1 fits one byte; the dash does not, and stays as it was
    expect(expose.resources[0]!.description).toBe('Café')
    expect(storage(expose.resources[0]!.description)).toBe('one-byte')
    expect(doc.info.label).toBe('Chat — with a dash')
  })

  it('keeps every value equal, whatever its characters, and leaves other types alone', () => {
    const value = { a: ['x', 'é', '—', '🙂', '', 1, true, null], b: { c: 'd\u0000e', n: 2.5 } }
    expect(compactStrings(structuredClone(value))).toEqual(value)
  })

  it('walks a document whose aliases repeat an object or put one inside itself', () => {
    const { data, diagnostics } = parseCapabilityText('a: &x\n  b: *x\n  c: plain\nd: *x\n', 'loop.yaml')
    expect(diagnostics).toEqual([])
    const doc = data as { a: { b: unknown, c: string }, d: unknown }
    expect(doc.a.b).toBe(doc.a)
    expect(doc.d).toBe(doc.a)
    expect(doc.a.c).toBe('plain')
  })
})
