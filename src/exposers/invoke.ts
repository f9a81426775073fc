import type { EventEmitter } from 'node:events'
import type { IncomingHttpHeaders } from 'node:http'
import type { Dispatcher } from 'undici'
import { NaftikoError } from '../errors/naftiko-error.js'
import type { CallInputs } from '../consumers/call-context.js'
import { sendRequest } from '../consumers/upstream-dispatchers.js'
import type { Invocation } from './compile-invocation.js'

export interface UpstreamResponse {
  status: number
  headers: IncomingHttpHeaders
  body: Dispatcher.ResponseData['body']
}

type CallInvocation = Extract<Invocation, { kind: 'call' }>

/**
 * The one call path REST and MCP share: build the upstream request from the caller's inputs and
 * send it on the namespace's pool. The response body is left unread for the caller to stream,
 * relay or parse; `signal` aborts the upstream request (client gone, cancelled, shutdown).
 */
/** An AbortSignal, or an EventEmitter that emits `abort` and has `aborted` (undici takes both). */
export type UpstreamSignal = AbortSignal | (EventEmitter & { readonly aborted: boolean })

export async function invokeOperation (invocation: CallInvocation, inputs: CallInputs, signal: UpstreamSignal): Promise<UpstreamResponse> {
  const { operation } = invocation
  const target = operation.target
  if (target === undefined) throw new NaftikoError('upstream_not_configured', `The upstream "${operation.namespace}" has no base URI; start the gateway with --base-uri ${operation.namespace}=URL.`)
  const request = operation.buildRequest(invocation.args(inputs))
  const options: Dispatcher.RequestOptions = {
    origin: target.origin,
    path: request.path,
    method: request.method as Dispatcher.HttpMethod,
    headers: request.headers,
    body: request.body,
    signal,
  }
  let response: Dispatcher.ResponseData
  try {
    response = await sendRequest(target.dispatcher, options)
  } catch (err) {
    if (signal.aborted || !safeToRetry(err, request.method)) throw err
    // once, on a fresh connection (the pool drops the failed socket)
    response = await sendRequest(target.dispatcher, options)
  }
  return { status: response.statusCode, headers: response.headers as IncomingHttpHeaders, body: response.body }
}

/** Failures where the request cannot have reached the upstream: the connection never opened. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'EAI_AGAIN'])
/** A connection that broke before any response: the upstream may have acted, so only an
 * idempotent request is sent again. */
const BROKEN = new Set(['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE'])
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'])

/**
 * A retry is safe only before the first response byte, and for a non-idempotent call only when the
 * request cannot have reached the upstream. Upstream 429/5xx answers are never retried here: they go
 * back to the client, whose SDK retries with the upstream's retry-after.
 */
function safeToRetry (err: unknown, method: string): boolean {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code !== 'string') return false
  return NOT_CONNECTED.has(code) || (BROKEN.has(code) && IDEMPOTENT.has(method))
}

/** Reads a whole upstream body and parses it as JSON, for mappings and MCP results. */
export async function readJson (response: UpstreamResponse): Promise<unknown> {
  return parseUpstreamJson(await response.body.text())
}

export function parseUpstreamJson (text: string): unknown {
  if (text === '') return null
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new NaftikoError('upstream_invalid_response', 'The upstream answered with a body that is not valid JSON.', { cause: err })
  }
}

export function isEventStream (headers: IncomingHttpHeaders): boolean {
  const type = headers['content-type']
  return typeof type === 'string' && type.startsWith('text/event-stream')
}
