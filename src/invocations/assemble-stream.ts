import { NaftikoError } from '../errors/naftiko-error.js'

export interface StreamProgress {
  /** number of events received so far */
  events: number
  /** the assistant text so far (chat completion streams) */
  text: string
  /** the stream has ended: the text is complete */
  done?: boolean
}

const RESPONSE_TERMINALS = new Set(['response.completed', 'response.failed', 'response.incomplete'])

interface ToolCallAcc { index: number, id?: string, type?: string, function: { name: string, arguments: string } }
interface ChoiceAcc { index: number, role: string, content: string, refusal: string | null, toolCalls: ToolCallAcc[], finishReason: unknown }

/**
 * Reads an event stream (already scrubbed and checked for its terminator by UpstreamBody) to its
 * end for a caller that needs one result (an MCP tool call), reporting progress as events arrive.
 * Chat completion chunks are assembled into the same shape as a non-streamed completion (content,
 * tool calls, finish reason, usage); a Responses API stream gives the response object of its final
 * `response.completed` (or `failed` / `incomplete`) event, its text deltas reported as progress; any
 * other stream becomes `{ events: [...] }`.
 */
export async function assembleEventStream (chunks: AsyncIterable<Buffer>, onProgress: ((p: StreamProgress) => void) | undefined): Promise<unknown> {
  const decoder = new TextDecoder()
  let buffer = ''
  let isChat = false
  const events: unknown[] = []
  const completion: Record<string, unknown> = {}
  const choices = new Map<number, ChoiceAcc>()
  let text = ''
  let response: unknown
  let responseEvents = 0

  const onData = (data: string): void => {
    if (data === '[DONE]') return
    let event: unknown
    try {
      event = JSON.parse(data)
    } catch {
      events.push(data)
      return
    }
    const chunk = event as Record<string, unknown>
    if (typeof chunk.error === 'object' && chunk.error !== null) {
      throw new NaftikoError('upstream_stream_broken', `The upstream stream reported an error: ${String((chunk.error as { message?: unknown }).message ?? 'unknown')}`)
    }
    if (chunk.type === 'error') {
      throw new NaftikoError('upstream_stream_broken', `The upstream stream reported an error: ${String(chunk.message ?? chunk.code ?? 'unknown')}`)
    }
    if (typeof chunk.type === 'string' && chunk.type.startsWith('response.')) {
      if (chunk.type === 'response.output_text.delta' && typeof chunk.delta === 'string') text += chunk.delta
      else if (RESPONSE_TERMINALS.has(chunk.type) && typeof chunk.response === 'object') response = chunk.response
      onProgress?.({ events: ++responseEvents, text })
      return
    }
    if (chunk.object === 'chat.completion.chunk') {
      isChat = true
      text += mergeChunk(completion, choices, chunk)
    } else {
      events.push(event)
    }
    onProgress?.({ events: events.length + choices.size, text })
  }

  for await (const piece of chunks) {
    buffer += decoder.decode(piece, { stream: true })
    let end: number
    while ((end = buffer.indexOf('\n')) !== -1) {
      const line = buffer.slice(0, end).replace(/\r$/, '')
      buffer = buffer.slice(end + 1)
      if (line.startsWith('data:')) onData(line.slice(5).trimStart())
    }
  }
  if (response !== undefined) return response
  if (!isChat) return { events }
  return {
    ...completion,
    object: 'chat.completion',
    choices: [...choices.values()].sort((a, b) => a.index - b.index).map((c) => ({
      index: c.index,
      message: {
        role: c.role,
        content: c.toolCalls.length > 0 && c.content === '' ? null : c.content,
        refusal: c.refusal,
        ...(c.toolCalls.length > 0 ? { tool_calls: c.toolCalls.map(({ index: _i, ...call }) => call) } : {}),
      },
      logprobs: null,
      finish_reason: c.finishReason ?? null,
    })),
  }
}

/** Folds one chat.completion.chunk into the accumulators; returns the text it added. */
function mergeChunk (completion: Record<string, unknown>, choices: Map<number, ChoiceAcc>, chunk: Record<string, unknown>): string {
  for (const key of ['id', 'created', 'model', 'system_fingerprint', 'service_tier']) {
    if (chunk[key] !== undefined && chunk[key] !== null) completion[key] = chunk[key]
  }
  if (chunk.usage !== undefined && chunk.usage !== null) completion.usage = chunk.usage
  let added = ''
  for (const raw of (chunk.choices as Array<Record<string, unknown>> | undefined) ?? []) {
    const index = typeof raw.index === 'number' ? raw.index : 0
    let acc = choices.get(index)
    if (acc === undefined) {
      acc = { index, role: 'assistant', content: '', refusal: null, toolCalls: [], finishReason: null }
      choices.set(index, acc)
    }
    const delta = (raw.delta ?? {}) as Record<string, unknown>
    if (typeof delta.role === 'string') acc.role = delta.role
    if (typeof delta.content === 'string') { acc.content += delta.content; added += delta.content }
    if (typeof delta.refusal === 'string') acc.refusal = (acc.refusal ?? '') + delta.refusal
    for (const call of (delta.tool_calls as Array<Record<string, unknown>> | undefined) ?? []) {
      const callIndex = typeof call.index === 'number' ? call.index : 0
      let tc = acc.toolCalls.find((t) => t.index === callIndex)
      if (tc === undefined) {
        tc = { index: callIndex, function: { name: '', arguments: '' } }
        acc.toolCalls.push(tc)
      }
      if (typeof call.id === 'string') tc.id = call.id
      if (typeof call.type === 'string') tc.type = call.type
      const fn = (call.function ?? {}) as Record<string, unknown>
      if (typeof fn.name === 'string') tc.function.name += fn.name
      if (typeof fn.arguments === 'string') tc.function.arguments += fn.arguments
    }
    if (raw.finish_reason !== undefined && raw.finish_reason !== null) acc.finishReason = raw.finish_reason
  }
  return added
}
