import type { OutgoingHttpHeaders } from 'node:http'
import type { Redactor } from '../bindings/redact.js'
import { NaftikoError } from '../errors/naftiko-error.js'
import type { OutputMapping } from './compile-mapping.js'
import type { FormatConverter } from './formats/load-output-formats.js'
import type { UpstreamBody } from './upstream-body.js'

/**
 * What one invocation of a REST operation or MCP tool came to. It is decided once, here in
 * invocations/, for every exposer: REST renders it as an HTTP answer, MCP as a tool result. Every
 * text and header in it has passed the redactor; bodies pass it as they are read.
 */
export type Outcome =
  /** a 2xx answer the mapping leaves as it is: its bytes go back as they come */
  | { readonly kind: 'relay', readonly status: number, readonly headers: OutgoingHttpHeaders, readonly body: UpstreamBody, readonly shape: AnswerShape }
  /** a 2xx event stream: events go back as they come */
  | { readonly kind: 'stream', readonly status: number, readonly headers: OutgoingHttpHeaders, readonly body: UpstreamBody, readonly shape: AnswerShape }
  /** a mapped answer, a mock answer, or a relay/stream read whole */
  | { readonly kind: 'json', readonly status: number, readonly headers: OutgoingHttpHeaders, readonly value: unknown, readonly text: string }
  /** a 2xx relay read whole that is not JSON */
  | { readonly kind: 'text', readonly status: number, readonly headers: OutgoingHttpHeaders, readonly text: string }
  /** a non-2xx answer: never mapped (DESIGN 2.1) */
  | {
    readonly kind: 'upstream_error'
    readonly status: number
    readonly headers: OutgoingHttpHeaders
    readonly body: string
    /** the upstream's own error message and code, for a caller that shows one line */
    readonly message: string
    readonly code: string | undefined
    /** the upstream's `retry-after`, for a caller that must back off */
    readonly retryAfter: string | undefined
  }
  /** the gateway's own failure (a NaftikoError or a foreign error mapped by code) */
  | { readonly kind: 'error', readonly error: unknown }

/** What reading a relayed or streamed answer whole needs; compiled once per invocation. */
export interface AnswerShape {
  readonly output: OutputMapping
  readonly redactor: Redactor
  /** a mapped answer in another format than JSON: its bytes to the JSON value the mapping reads */
  readonly convert?: FormatConverter | undefined
}

/** A value as the JSON text that leaves, scrubbed; the value is re-read when scrubbing changed the text. */
export function jsonOutcome (status: number, headers: OutgoingHttpHeaders, value: unknown, redactor: Redactor, text?: string): Outcome {
  const serialised = text ?? JSON.stringify(value ?? null)
  if (!redactor.active || !redactor.holds(serialised)) return { kind: 'json', status, headers, value: value ?? null, text: serialised }
  const scrubbed = redactor.redact(serialised)
  try {
    return { kind: 'json', status, headers, value: JSON.parse(scrubbed) as unknown, text: scrubbed }
  } catch {
    return { kind: 'error', error: new NaftikoError('upstream_invalid_response', 'The upstream answer held a credential of the gateway and was withheld.') }
  }
}
