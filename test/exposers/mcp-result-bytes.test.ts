import { describe, expect, it } from 'vitest'
import { STRUCTURED_JSON, type CallToolResult } from '../../src/exposers/mcp/mcp-call-tool.js'
import { ResultFrame } from '../../src/exposers/mcp/result-bytes.js'

const MODERN = new ResultFrame('{"result":', '"resultType":"complete","_meta":{"io.modelcontextprotocol/serverInfo":{"name":"s","version":"1"}}', false)
const LEGACY = new ResultFrame('event: message\ndata: {"result":', '', true)
/** what each call puts after the result */
const AFTER = new Map([[MODERN, ',"jsonrpc":"2.0","id":7}'], [LEGACY, ',"jsonrpc":"2.0","id":"a"}\n\n']])
const resultBytes = (result: CallToolResult, frame: ResultFrame): Buffer => frame.bytes(result, AFTER.get(frame) as string)

/** A tool result as toolResult makes it from an upstream's JSON text. */
function fromJson (text: string, wrapped = false): CallToolResult {
  return { content: [{ type: 'text', text }], [STRUCTURED_JSON]: wrapped ? `{"result":${text}}` : text }
}

/** What the answer must be: the result as JSON.stringify writes it, its structured JSON text put in place, with the frame's members. */
function expected (result: CallToolResult, frame: ResultFrame): string {
  const structured = result[STRUCTURED_JSON]
  let json = structured === undefined ? JSON.stringify(result) : `{"content":${JSON.stringify(result.content)},"structuredContent":${structured}}`
  if (frame.flatten) json = json.replace(/[\r\n]/g, ' ')
  if (frame.members !== '') json = json === '{}' ? `{${frame.members}}` : `${json.slice(0, -1)},${frame.members}}`
  return `${frame.head}${json}${AFTER.get(frame) as string}`
}

const TEXTS = [
  '{"id":"chatcmpl-1","choices":[{"message":{"role":"assistant","content":"Hello! \\"quoted\\" and a back\\\\slash"}}]}',
  '{\n  "pretty": true,\r\n\t"list": [1, 2]\n}',
  '{"accents":"café, 漢字, 😀","raw":"é"}',
  // what a text may hold that JSON text between tokens does not: every control character, DEL, quotes
  `{"k":1}${Array.from({ length: 0x20 }, (_, c) => String.fromCharCode(c)).join('')}\u007f"\\`,
  '{}',
]

describe('resultBytes', () => {
  it('writes the bytes JSON.stringify and the frame make, for both protocol generations', () => {
    for (const text of TEXTS) {
      for (const frame of [MODERN, LEGACY]) {
        for (const wrapped of [false, true]) {
          const result = fromJson(text, wrapped)
          const answer = resultBytes(result, frame).toString('utf8')
          expect(answer, JSON.stringify({ text, frame: frame.head, wrapped })).toBe(expected(result, frame))
          if (frame === MODERN && text !== TEXTS[3]) {
            expect((JSON.parse(answer) as { result: { content: Array<{ text: string }> } }).result.content[0]?.text).toBe(text)
          }
        }
      }
    }
  })

  it('serialises other results whole: errors, several contents, no structured content, large texts', () => {
    const results: CallToolResult[] = [
      { content: [{ type: 'text', text: 'Upstream answered 429: slow down' }], structuredContent: { error: { status: 429 } }, isError: true },
      { content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b\n' }] },
      { content: [{ type: 'text', text: 'plain "text"' }] },
      { content: [] },
      fromJson(`{"big":"${'x'.repeat(40_000)}\\n"}`),
    ]
    for (const result of results) {
      for (const frame of [MODERN, LEGACY]) expect(resultBytes(result, frame).toString('utf8')).toBe(expected(result, frame))
    }
  })

  it('keeps each answer its own bytes while the scratch space is reused and grows', () => {
    const first = resultBytes(fromJson('{"n":1}'), MODERN)
    const larger = `{"s":"${'é'.repeat(9_000)}"}`
    const second = resultBytes(fromJson(larger), LEGACY)
    expect(first.toString('utf8')).toBe(expected(fromJson('{"n":1}'), MODERN))
    expect(second.toString('utf8')).toBe(expected(fromJson(larger), LEGACY))
    // the legacy answer is one SSE message: its data line holds no line break
    expect(resultBytes(fromJson(TEXTS[1] as string), LEGACY).toString('utf8').split('\n')).toHaveLength(4)
  })
})
