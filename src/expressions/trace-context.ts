import { randomBytes } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'

/** A caller's W3C trace context (`traceparent`, `tracestate`), checked. */
export interface TraceContext {
  readonly traceId: string
  /** the caller's span: the parent of the gateway's span when spans are exported */
  readonly parentId: string
  readonly flags: string
  readonly tracestate: string | undefined
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/

/**
 * The trace context a client sent, or undefined when it sent none or an invalid one (W3C Trace
 * Context: version `ff`, an all-zero trace or parent id, and a version-00 header with extra fields
 * are invalid; they are dropped, never passed on).
 */
export function traceContextOf (headers: IncomingHttpHeaders): TraceContext | undefined {
  const header = headers.traceparent
  if (typeof header !== 'string') return undefined
  const m = TRACEPARENT.exec(header.trim().toLowerCase())
  if (m === null) return undefined
  const [, version, traceId, parentId, flags] = m as unknown as [string, string, string, string, string]
  if (version === 'ff' || (version === '00' && header.trim().length !== 55) || /^0+$/.test(traceId) || /^0+$/.test(parentId)) return undefined
  const state = headers.tracestate
  return { traceId, parentId, flags, tracestate: typeof state === 'string' && state.length <= 512 ? state : undefined }
}

/**
 * The headers of an upstream call in the caller's trace: the same trace, a span id of the gateway's
 * own (`spanId`: the CLIENT span's, when spans are exported; else a random one).
 */
export function traceHeaders (trace: Pick<TraceContext, 'traceId' | 'flags' | 'tracestate'>, spanId = randomBytes(8).toString('hex')): Record<string, string> {
  const headers: Record<string, string> = { traceparent: `00-${trace.traceId}-${spanId}-${trace.flags}` }
  if (trace.tracestate !== undefined) headers.tracestate = trace.tracestate
  return headers
}
