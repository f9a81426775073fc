import { STRUCTURED_JSON, type CallToolResult } from './mcp-call-tool.js'

/** Above this many characters of text a result is serialised as text (the scratch space stays small). */
const BYTES_UP_TO = 16 * 1024

const TEXT_OPEN = '{"content":[{"type":"text","text":'
const STRUCTURED_OPEN = Buffer.from('}],"structuredContent":')

/**
 * How a direct answer wraps its result: `head`, the result with `members` added (JSON members
 * without their leading comma, or none), then what each call puts after it (`bytes`' `after`: the
 * JSON-RPC id). `flatten`: line breaks between the tokens of the structured content become spaces
 * (an SSE data line). Its constant parts are encoded once.
 */
export class ResultFrame {
  private readonly open: Buffer
  private readonly close: Buffer

  constructor (readonly head: string, readonly members: string, readonly flatten: boolean) {
    this.open = Buffer.from(`${head}${TEXT_OPEN}`)
    this.close = Buffer.from(members === '' ? '}' : `,${members}}`)
  }

  /**
   * The bytes of a direct answer. The common result, one text that is the upstream's JSON answer
   * and the same JSON as structured content, is written straight into bytes: the text escaped by
   * `JSON.stringify` (native code; a byte loop here cost about 2% of a call's CPU), the
   * structured content copied. Any other result is serialised whole.
   */
  bytes (result: CallToolResult, after: string): Buffer {
    const text = commonText(result)
    const structured = result[STRUCTURED_JSON] as string
    if (text === undefined || text.length > BYTES_UP_TO || structured.length > BYTES_UP_TO) {
      return Buffer.from(`${this.head}${withMembers(serialise(result, text, this.flatten), this.members)}${after}`)
    }
    // the escaped text opens and closes with the quotes the frame leaves out
    const escaped = JSON.stringify(text)
    const need = this.open.length + STRUCTURED_OPEN.length + this.close.length + 3 * (after.length + structured.length + escaped.length)
    if (out.length < need) out = Buffer.allocUnsafe(Math.max(out.length * 2, need, 16384))
    out.set(this.open, 0)
    let at = this.open.length
    // (`write` without an encoding is UTF-8 on its quickest path)
    at += out.write(escaped, at)
    out.set(STRUCTURED_OPEN, at)
    at += STRUCTURED_OPEN.length
    const from = at
    at += out.write(structured, at)
    if (this.flatten) flattenLineBreaks(out, from, at)
    out.set(this.close, at)
    at += this.close.length
    at += out.write(after, at)
    const body = Buffer.allocUnsafe(at)
    out.copy(body, 0, 0, at)
    return body
  }
}

/** Scratch space, taken on the first answer: the answer as it is put together (copied out whole). */
let out = Buffer.alloc(0)

/** Line breaks become spaces: in JSON text they only stand between tokens (a string holds them escaped). */
function flattenLineBreaks (bytes: Buffer, from: number, to: number): void {
  for (let i = from; i < to; i++) if (bytes[i] === 0x0a || bytes[i] === 0x0d) bytes[i] = 0x20
}

const LINE_BREAKS = /[\r\n]/g

/** The text of the common result (one text, its structured content as JSON text, no error), else undefined. */
function commonText (result: CallToolResult): string | undefined {
  if (result[STRUCTURED_JSON] === undefined || result.isError !== undefined || result.content.length !== 1) return undefined
  return result.content[0]?.text
}

/** `JSON.stringify(result)`, with the common result's structured JSON text put in place as it is. */
function serialise (result: CallToolResult, text: string | undefined, flatten: boolean): string {
  const json = text === undefined
    ? JSON.stringify(result)
    : `{"content":[{"type":"text","text":${JSON.stringify(text)}}],"structuredContent":${result[STRUCTURED_JSON] as string}}`
  return flatten ? json.replace(LINE_BREAKS, ' ') : json
}

/** A serialised object with members added before its closing brace. */
function withMembers (json: string, members: string): string {
  if (members === '') return json
  return json === '{}' ? `{${members}}` : `${json.slice(0, -1)},${members}}`
}
