import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, writeCapability, type Gateway } from '../helpers/gateway.js'
import { CLIENTS, connectModernClient, type McpTestClient } from '../helpers/mcp-clients.js'
import {
  BODY_CHANNELS, CHANNELS, COMPRESSED_CHANNELS, ERROR_CUT_LENGTH, ERROR_CUT_OFFSETS, HEADER_400_ENVELOPE,
  PROGRESS_AFTER, PROGRESS_BEFORE, SECRET, STREAM_AFTER, STREAM_BEFORE,
  secretFormsIn, secretPiecesIn, startHostileUpstream, type HostileUpstream,
} from '../helpers/hostile-upstream.js'

/**
 * Every channel through which an upstream can hand the gateway's own credential back (STYLE
 * "every byte that leaves toward a client passes the one redactor"): each channel of the hostile
 * upstream is a consumed operation, exposed as `POST /h/<channel>` and as the MCP tool `<channel>`.
 */
const REDACTED = '[redacted]'

/** Routes and tools that call a channel with an output mapping of `$.echo`. */
const MAPPED = [{ name: 'gzip-mapped', channel: 'gzip' }]

function operationName (channel: string): string {
  return channel.replace(/-/g, '_')
}

function capabilityYaml (): string {
  const consumed = CHANNELS.map((channel) => `    - name: ${operationName(channel)}
      path: /${channel}
      operations:
      - name: ${operationName(channel)}
        method: POST
        inputParameters:
        - name: body
          in: body
`).join('')
  const mapping = (indent: string): string => `${indent}outputParameters:
${indent}- type: object
${indent}  properties:
${indent}    echo:
${indent}      type: string
${indent}      mapping: $.echo
`
  const exposed = [...CHANNELS.map((channel) => ({ name: channel, channel, mapped: false })), ...MAPPED.map((m) => ({ ...m, mapped: true }))]
  const routes = exposed.map((e) => `    - path: /h/${e.name}
      operations:
      - method: POST
        call: up.${operationName(e.channel)}
        with:
          body: rest.body
${e.mapped ? mapping('        ') : ''}`).join('')
  const tools = exposed.map((e) => `    - name: ${e.name}
      description: Calls the ${e.channel} channel of the hostile upstream
      call: up.${operationName(e.channel)}
      with:
        body: tools.body
${e.mapped ? mapping('      ') : ''}`).join('')
  return `naftiko: 1.0.0-alpha2
binds:
- namespace: env
  keys:
    HOSTILE_KEY: HOSTILE_KEY
capability:
  consumes:
  - type: http
    namespace: up
    baseUri: https://up.example
    authentication:
      type: bearer
      token: '{{env.HOSTILE_KEY}}'
    resources:
${consumed}  exposes:
  - type: rest
    namespace: api
    port: 0
    resources:
${routes}  - type: mcp
    namespace: tools
    port: 0
    tools:
${tools}`
}

let upstream: HostileUpstream
let gateway: Gateway
let mcp: McpTestClient

beforeAll(async () => {
  upstream = await startHostileUpstream()
  const file = await writeCapability(capabilityYaml())
  gateway = await startGateway(file, { flags: { 'base-uri': [`up=${upstream.origin}`] }, env: { HOSTILE_KEY: SECRET } })
  mcp = await connectModernClient(gateway.url('mcp'))
})

afterAll(async () => {
  await mcp?.close()
  await gateway?.close()
  await upstream?.close()
})

interface RestAnswer {
  status: number
  headers: Headers
  text: string
  /** reading the body failed (cut, or a content-encoding that does not match the body) */
  broken: boolean
}

interface ToolResult {
  isError?: boolean
  content?: Array<{ type: string, text?: string }>
  structuredContent?: Record<string, unknown>
}

interface Progress { progress: number, message?: string }

async function callRest (name: string): Promise<RestAnswer> {
  const response = await fetch(`${gateway.url('rest')}/h/${name}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ question: name }),
  })
  const chunks: Buffer[] = []
  let broken = false
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(chunk))
  } catch {
    broken = true
  }
  return { status: response.status, headers: response.headers, text: Buffer.concat(chunks).toString('utf8'), broken }
}

async function callMcp (name: string, body: Record<string, unknown> = { question: name }, onprogress?: (p: Progress) => void, client = mcp): Promise<ToolResult> {
  return await client.callTool(name, { body }, onprogress === undefined ? undefined : { onprogress }) as ToolResult
}

function textOf (result: ToolResult): string {
  return (result.content ?? []).map((c) => c.text ?? '').join('\n')
}

/** Every string leaf of a value, so that a form is looked for in decoded text too. */
function stringsOf (value: unknown): string[] {
  if (typeof value === 'string') return [value]
  if (Array.isArray(value)) return value.flatMap(stringsOf)
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(stringsOf)
  return []
}

function parseOrUndefined (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** No form of the secret (plain, JSON-escaped, URL-encoded, base64 windows) in a text, nor in the
 * strings a JSON text decodes to. */
function expectNoSecret (text: string, where: string): void {
  expect(secretFormsIn(text), where).toEqual([])
  for (const s of stringsOf(parseOrUndefined(text))) expect(secretFormsIn(s), `${where} (decoded)`).toEqual([])
}

/** Each text of a tool result on its own (a second JSON serialisation would hide the escaped form),
 * its structured content's strings, and the result serialised. */
function expectNoSecretInResult (result: ToolResult, where: string): void {
  for (const c of result.content ?? []) expectNoSecret(c.text ?? '', `${where}: content text`)
  for (const s of stringsOf(result.structuredContent)) expect(secretFormsIn(s), `${where}: structuredContent`).toEqual([])
  expectNoSecret(JSON.stringify(result.structuredContent ?? null), `${where}: structuredContent JSON`)
  expect(secretFormsIn(JSON.stringify(result)), `${where}: result JSON`).toEqual([])
}

function expectNoSecretInHeaders (headers: Headers): void {
  for (const [name, value] of headers) expect(secretFormsIn(value), `response header ${name}`).toEqual([])
}

/** The call really carried the bound secret to that channel, so a clean answer is the gateway's doing. */
function expectSecretSentUpstream (channel: string, since: number): void {
  const calls = upstream.requests.slice(since).filter((r) => r.url === `/${channel}`)
  expect(calls.length, `calls to /${channel}`).toBeGreaterThan(0)
  for (const call of calls) expect(call.headers.authorization).toBe(`Bearer ${SECRET}`)
}

/** The assistant text a client reassembles from the deltas of a relayed chat stream. */
function reassembleDeltas (stream: string): string {
  let text = ''
  for (const line of stream.split('\n')) {
    if (!line.startsWith('data:')) continue
    const data = line.slice(5).trim()
    if (data === '[DONE]') continue
    const event = parseOrUndefined(data) as { choices?: Array<{ delta?: { content?: unknown } }> } | undefined
    const content = event?.choices?.[0]?.delta?.content
    if (typeof content === 'string') text += content
  }
  return text
}

function completionText (result: ToolResult): unknown {
  const completion = result.structuredContent as { choices?: Array<{ message?: { content?: unknown } }> } | undefined
  return completion?.choices?.[0]?.message?.content
}

describe('an answer body never carries the bound secret in any encoding', () => {
  it.each(BODY_CHANNELS)('%s over REST: the body holds no form of the secret and keeps the rest of the answer', async (channel) => {
    const since = upstream.requests.length
    const answer = await callRest(channel)
    expectSecretSentUpstream(channel, since)
    expect(answer.status).toBe(200)
    expect(answer.broken).toBe(false)
    expectNoSecret(answer.text, 'REST body')
    expectNoSecretInHeaders(answer.headers)
    if (channel === 'plain') {
      expect(answer.text.startsWith('channel=plain echo=')).toBe(true)
      expect(answer.text.endsWith(' tail=ok')).toBe(true)
    } else {
      const body = JSON.parse(answer.text) as Record<string, unknown>
      expect(body.channel).toBe(channel)
      expect(body.tail).toBe('ok')
      expect(typeof body.echo).toBe('string')
    }
  })

  it.each(BODY_CHANNELS)('%s over MCP: the tool result holds no form of the secret and keeps the rest of the answer', async (channel) => {
    const since = upstream.requests.length
    const result = await callMcp(channel)
    expectSecretSentUpstream(channel, since)
    expect(result.isError, textOf(result)).toBeFalsy()
    expectNoSecretInResult(result, channel)
    if (channel === 'plain') {
      expect(textOf(result).startsWith('channel=plain echo=')).toBe(true)
      expect(textOf(result).endsWith(' tail=ok')).toBe(true)
    } else {
      expect(result.structuredContent?.channel).toBe(channel)
      expect(result.structuredContent?.tail).toBe('ok')
    }
  })
})

describe('a secret cut across socket writes or events is still withheld', () => {
  it('split-tcp over REST: a JSON body cut mid-secret across two writes holds no secret', async () => {
    const since = upstream.requests.length
    const answer = await callRest('split-tcp')
    expectSecretSentUpstream('split-tcp', since)
    expect(answer.status).toBe(200)
    expect(answer.broken).toBe(false)
    expectNoSecret(answer.text, 'REST body')
    const body = JSON.parse(answer.text) as Record<string, unknown>
    expect(body).toMatchObject({ channel: 'split-tcp', tail: 'ok' })
  })

  it('split-tcp over MCP: a JSON body cut mid-secret across two writes holds no secret', async () => {
    const since = upstream.requests.length
    const result = await callMcp('split-tcp')
    expectSecretSentUpstream('split-tcp', since)
    expect(result.isError, textOf(result)).toBeFalsy()
    expectNoSecretInResult(result, 'split-tcp')
    expect(result.structuredContent).toMatchObject({ channel: 'split-tcp', tail: 'ok' })
  })

  it('sse-split-tcp over REST: an event cut mid-secret across two writes is relayed without the secret', async () => {
    const since = upstream.requests.length
    const answer = await callRest('sse-split-tcp')
    expectSecretSentUpstream('sse-split-tcp', since)
    expect(answer.status).toBe(200)
    expect(answer.broken).toBe(false)
    expectNoSecret(answer.text, 'relayed stream')
    expect(answer.text).toContain('data: [DONE]')
    const text = reassembleDeltas(answer.text)
    expectNoSecret(text, 'reassembled text')
    expect(text.startsWith(STREAM_BEFORE)).toBe(true)
    expect(text.endsWith(STREAM_AFTER)).toBe(true)
  })

  it('sse-split-tcp over MCP: an event cut mid-secret across two writes is assembled without the secret', async () => {
    const since = upstream.requests.length
    const result = await callMcp('sse-split-tcp')
    expectSecretSentUpstream('sse-split-tcp', since)
    expect(result.isError, textOf(result)).toBeFalsy()
    expectNoSecretInResult(result, 'sse-split-tcp')
    const text = completionText(result) as string
    expect(text.startsWith(STREAM_BEFORE)).toBe(true)
    expect(text.endsWith(STREAM_AFTER)).toBe(true)
  })

  it('sse-split-events over MCP: a secret split between two delta events is in neither the result nor a progress notification', async () => {
    const since = upstream.requests.length
    const notes: Progress[] = []
    const result = await callMcp('sse-split-events', { question: 'split', stream: true }, (p) => notes.push(p))
    expectSecretSentUpstream('sse-split-events', since)
    expect(result.isError, textOf(result)).toBeFalsy()
    expectNoSecretInResult(result, 'sse-split-events')
    const text = completionText(result) as string
    expect(text.startsWith(STREAM_BEFORE)).toBe(true)
    expect(text.endsWith(STREAM_AFTER)).toBe(true)
    expect(notes.length).toBeGreaterThan(0)
    for (const note of notes) {
      expect(secretFormsIn(note.message ?? ''), `progress ${note.progress}`).toEqual([])
      expect(secretPiecesIn(note.message ?? '', 12), `progress ${note.progress}`).toEqual([])
    }
  })

  it('sse-split-events over REST: neither the relayed bytes nor the text a client reassembles from the deltas hold the secret', async () => {
    const since = upstream.requests.length
    const answer = await callRest('sse-split-events')
    expectSecretSentUpstream('sse-split-events', since)
    expect(answer.status).toBe(200)
    expect(answer.broken).toBe(false)
    expect(answer.text).toContain('data: [DONE]')
    expectNoSecret(answer.text, 'relayed stream')
    const text = reassembleDeltas(answer.text)
    expect(text.startsWith(STREAM_BEFORE)).toBe(true)
    expect(text.endsWith(STREAM_AFTER)).toBe(true)
    expectNoSecret(text, 'reassembled text')
  })
})

describe('MCP progress notifications carry only new, scrubbed text', () => {
  const FINAL_TEXT = `${PROGRESS_BEFORE}${REDACTED}${PROGRESS_AFTER}`

  async function callProgress (connect: (url: string) => Promise<McpTestClient>): Promise<{ result: ToolResult, notes: Progress[] }> {
    const client = await connect(gateway.url('mcp'))
    try {
      const since = upstream.requests.length
      const notes: Progress[] = []
      const result = await callMcp('progress', { question: 'progress', stream: true }, (p) => notes.push(p), client)
      expectSecretSentUpstream('progress', since)
      return { result, notes }
    } finally {
      await client.close()
    }
  }

  it.each(CLIENTS)('with the %s, no notification and not the result holds the secret or a 12-character piece of it', async (_name, connect) => {
    const { result, notes } = await callProgress(connect)
    expect(result.isError, textOf(result)).toBeFalsy()
    expect(notes.length).toBeGreaterThan(0)
    for (const note of notes) {
      expect(secretFormsIn(note.message ?? ''), `progress ${note.progress}`).toEqual([])
      expect(secretPiecesIn(note.message ?? '', 12), `progress ${note.progress}: ${note.message ?? ''}`).toEqual([])
    }
    expectNoSecretInResult(result, 'progress')
    expect(secretPiecesIn(JSON.stringify(result), 12)).toEqual([])
    for (const c of result.content ?? []) expect(secretPiecesIn(c.text ?? '', 12)).toEqual([])
    expect(completionText(result)).toBe(FINAL_TEXT)
  })

  it.each(CLIENTS)('with the %s, the notifications spell out the final text once, in order, with rising progress values', async (_name, connect) => {
    const { result, notes } = await callProgress(connect)
    expect(result.isError, textOf(result)).toBeFalsy()
    expect(completionText(result)).toBe(FINAL_TEXT)
    expect(notes.length).toBeGreaterThan(1)
    expect(notes.map((n) => n.message ?? '').join('')).toBe(completionText(result))
    for (let i = 1; i < notes.length; i++) {
      expect((notes[i] as Progress).progress, `progress value ${i}`).toBeGreaterThan((notes[i - 1] as Progress).progress)
    }
  })
})

describe('response headers never carry the bound secret', () => {
  it.each(['header-200', 'header-400'])('%s over REST: x-echo is withheld and logged by name, x-request-id and retry-after are relayed', async (channel) => {
    const since = upstream.requests.length
    const answer = await callRest(channel)
    expectSecretSentUpstream(channel, since)
    expect(answer.status).toBe(channel === 'header-200' ? 200 : 400)
    expect(answer.headers.has('x-echo')).toBe(false)
    expectNoSecretInHeaders(answer.headers)
    expect(answer.headers.get('x-request-id')).toBe('abc')
    expect(answer.headers.get('retry-after')).toBe('3')
    expectNoSecret(answer.text, 'REST body')
    expect(JSON.parse(answer.text)).toEqual(channel === 'header-200' ? { channel, tail: 'ok' } : HEADER_400_ENVELOPE)
    const withheld = gateway.logs.entries().filter((e) => /withheld/i.test(JSON.stringify(e)) && JSON.stringify(e).includes('x-echo'))
    expect(withheld.length, gateway.logs.text).toBeGreaterThan(0)
    expect(secretFormsIn(gateway.logs.text)).toEqual([])
  })

  it.each(['header-200', 'header-400'])('%s over MCP: the tool result holds no secret', async (channel) => {
    const since = upstream.requests.length
    const result = await callMcp(channel)
    expectSecretSentUpstream(channel, since)
    expect(result.isError ?? false).toBe(channel === 'header-400')
    expectNoSecretInResult(result, channel)
    if (channel === 'header-200') expect(result.structuredContent).toEqual({ channel, tail: 'ok' })
    else expect(textOf(result)).toContain('the request was refused')
  })

  it('nominated over REST: a header the upstream\'s Connection header nominates is dropped, the others are relayed', async () => {
    const since = upstream.requests.length
    const answer = await callRest('nominated')
    expectSecretSentUpstream('nominated', since)
    expect(answer.status).toBe(200)
    expect(answer.headers.has('x-private')).toBe(false)
    expect(answer.headers.get('x-kept')).toBe('1')
    expect(JSON.parse(answer.text)).toEqual({ channel: 'nominated', tail: 'ok' })
  })
})

describe('error text cut for MCP never holds a piece of the secret', () => {
  it.each(ERROR_CUT_OFFSETS)('error-cut-%i over MCP: the error text holds no 8-character piece of the secret', async (offset) => {
    const channel = `error-cut-${offset}`
    const since = upstream.requests.length
    const result = await callMcp(channel)
    expectSecretSentUpstream(channel, since)
    expect(result.isError, textOf(result)).toBe(true)
    expect(textOf(result)).toContain('400')
    expect(textOf(result)).toContain('x'.repeat(100))
    expect(secretPiecesIn(textOf(result), 8), textOf(result)).toEqual([])
    expectNoSecretInResult(result, channel)
  })

  it.each(ERROR_CUT_OFFSETS)('error-cut-%i over REST: the 400 body holds no secret and keeps the rest of the text', async (offset) => {
    const channel = `error-cut-${offset}`
    const since = upstream.requests.length
    const answer = await callRest(channel)
    expectSecretSentUpstream(channel, since)
    expect(answer.status).toBe(400)
    expectNoSecret(answer.text, 'REST body')
    expect(answer.text.startsWith('x'.repeat(offset))).toBe(true)
    expect(answer.text.endsWith('y'.repeat(ERROR_CUT_LENGTH - offset - SECRET.length))).toBe(true)
  })
})

describe('a compressed answer is read, scrubbed and relayed readable', () => {
  const ENCODINGS_FETCH_DECODES = [null, 'identity', 'gzip', 'br', 'deflate']

  function expectReadableJson (answer: RestAnswer): Record<string, unknown> {
    expect(answer.broken, 'the body could not be read with its content-encoding').toBe(false)
    expect(ENCODINGS_FETCH_DECODES).toContain(answer.headers.get('content-encoding'))
    const body = parseOrUndefined(answer.text)
    expect(body, `not JSON: ${JSON.stringify(answer.text.slice(0, 80))}`).toBeTypeOf('object')
    return body as Record<string, unknown>
  }

  it.each(COMPRESSED_CHANNELS)('%s over REST: the body is plain JSON with the echoed secret redacted', async (channel) => {
    const since = upstream.requests.length
    const answer = await callRest(channel)
    expectSecretSentUpstream(channel, since)
    expect(answer.status).toBe(200)
    const body = expectReadableJson(answer)
    expect(body).toEqual({ echo: REDACTED })
    expectNoSecret(answer.text, 'REST body')
  })

  it.each(COMPRESSED_CHANNELS)('%s over MCP: the result holds the redacted echo', async (channel) => {
    const since = upstream.requests.length
    const result = await callMcp(channel)
    expectSecretSentUpstream(channel, since)
    expect(result.isError, textOf(result)).toBeFalsy()
    expectNoSecretInResult(result, channel)
    expect(result.structuredContent).toEqual({ echo: REDACTED })
  })

  it('gzip through a mapping over REST: the mapped echo is redacted', async () => {
    const since = upstream.requests.length
    const answer = await callRest('gzip-mapped')
    expectSecretSentUpstream('gzip', since)
    expect(answer.status).toBe(200)
    expect(expectReadableJson(answer)).toEqual({ echo: REDACTED })
    expectNoSecret(answer.text, 'REST body')
  })

  it('gzip through a mapping over MCP: the mapped echo is redacted', async () => {
    const since = upstream.requests.length
    const result = await callMcp('gzip-mapped')
    expectSecretSentUpstream('gzip', since)
    expect(result.isError, textOf(result)).toBeFalsy()
    expectNoSecretInResult(result, 'gzip-mapped')
    expect(result.structuredContent).toEqual({ echo: REDACTED })
  })

  it('gzip-400 over REST: the 400 body is readable and scrubbed', async () => {
    const since = upstream.requests.length
    const answer = await callRest('gzip-400')
    expectSecretSentUpstream('gzip-400', since)
    expect(answer.status).toBe(400)
    const body = expectReadableJson(answer) as { error?: { message?: unknown, code?: unknown } }
    expect(body.error?.code).toBe('invalid_api_key')
    expect(body.error?.message).toBe(`rejected key ${REDACTED} for this call`)
    expectNoSecret(answer.text, 'REST body')
  })

  it('gzip-400 over MCP: the error text is the scrubbed upstream message', async () => {
    const since = upstream.requests.length
    const result = await callMcp('gzip-400')
    expectSecretSentUpstream('gzip-400', since)
    expect(result.isError, textOf(result)).toBe(true)
    expect(textOf(result)).toContain('400')
    expect(textOf(result)).toContain(`rejected key ${REDACTED} for this call`)
    expectNoSecretInResult(result, 'gzip-400')
  })

  it('asks the upstream for an identity-encoded answer on REST and MCP calls', async () => {
    const since = upstream.requests.length
    await callRest('gzip')
    await callMcp('gzip')
    const calls = upstream.requests.slice(since).filter((r) => r.url === '/gzip')
    expect(calls.length).toBe(2)
    for (const call of calls) expect(call.headers['accept-encoding']).toBe('identity')
  })
})

describe('the gateway log', () => {
  it('holds no form of the secret after every channel was called', () => {
    expect(upstream.requests.length).toBeGreaterThan(CHANNELS.length)
    expect(gateway.logs.lines.length).toBeGreaterThan(0)
    expect(secretFormsIn(gateway.logs.text)).toEqual([])
  })
})
