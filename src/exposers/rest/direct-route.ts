import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { repeatsCredential } from '../auth/inbound-auth.js'
import { refuseHostOrOrigin, type OriginPolicy } from '../auth/loopback-guard.js'
import { logRequest, rejection, writeWhole, type RawReply, type RequestLog, type RestExchange } from './rest-answer.js'

/** A route the direct path may answer when its fastify path has no parameter. */
export interface DirectRoute {
  readonly method: string
  readonly url: string
  readonly inputs: { readonly pathParams: ReadonlyMap<string, string> }
}

export interface DirectOptions<R extends DirectRoute> {
  log: RequestLog
  bodyLimit: number
  origins: OriginPolicy | undefined
  /** reads and checks a JSON body, as fastify's content-type parser for these types does */
  readBody: (req: IncomingMessage, contentLength: string) => Promise<unknown>
  /** the route's handler, the one fastify calls too */
  handle: (route: R, exchange: RestExchange, reply: RawReply) => Promise<void>
}

/** Methods that carry a JSON body; a route of another method is always fastify's. */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH'])
const NOTHING = Object.freeze({})
const KEEP = (): void => {}
/** the plain forms of a JSON body's type, a subset of what fastify's parser for REST takes */
const PLAIN_JSON = /^application\/json(?:; ?charset=utf-8)?$/i

/**
 * The common case of REST traffic, a JSON body of a declared length posted to a route without path
 * parameters, answered before fastify: in the benchmark fastify's request and reply objects, its
 * hooks and its body parser cost about 6% of a request's CPU. It calls the same handler, reads the
 * body with the same reader and answers failures with the same envelope as the fastify routes.
 * Anything else goes to fastify, which answers it as before: another method or path, a query
 * string, a trailing slash, a chunked, empty or oversized body, a type other than plain
 * `application/json`, a repeated Authorization header, a refused Host or Origin. Not used for an
 * expose with inbound authentication or span export, which run as fastify hooks.
 *
 * Returns the request listener: true when it took the request.
 */
export function directRoutes<R extends DirectRoute> (routes: readonly R[], options: DirectOptions<R>): ((req: IncomingMessage, res: ServerResponse) => boolean) | undefined {
  const byUrl = new Map<string, Map<string, R>>()
  for (const route of routes) {
    if (route.inputs.pathParams.size > 0 || !BODY_METHODS.has(route.method)) continue
    const methods = byUrl.get(route.url) ?? new Map<string, R>()
    methods.set(route.method, route)
    byUrl.set(route.url, methods)
  }
  if (byUrl.size === 0) return undefined
  const { log, bodyLimit, origins, readBody, handle } = options

  const serve = async (route: R, req: IncomingMessage, res: ServerResponse, contentLength: string): Promise<void> => {
    const started = performance.now()
    const exchange: RestExchange = { id: randomUUID(), method: route.method, headers: req.headers, body: undefined, params: NOTHING, query: NOTHING }
    try {
      exchange.body = await readBody(req, contentLength)
      await handle(route, exchange, { raw: res, hijack: KEEP })
    } catch (err) {
      const ms = performance.now() - started
      const failed = rejection(log, exchange, route.url, err, res.destroyed || req.socket.destroyed, ms)
      if (failed === undefined) return
      // a relay that failed after its head left can only be cut
      if (res.headersSent) res.destroy()
      else writeWhole(res, failed.status, failed.headers, failed.text)
      logRequest(log, exchange, route.url, failed.status, ms)
    }
  }

  return (req, res) => {
    const route = byUrl.get(req.url as string)?.get(req.method as string)
    if (route === undefined) return false
    const headers = req.headers
    const contentLength = headers['content-length']
    if (contentLength === undefined || headers['transfer-encoding'] !== undefined) return false
    const length = Number(contentLength)
    if (!(length > 0 && length <= bodyLimit)) return false
    const type = headers['content-type']
    if (type === undefined || !PLAIN_JSON.test(type)) return false
    if (repeatsCredential(req.rawHeaders)) return false
    if (origins !== undefined && refuseHostOrOrigin(headers, origins) !== undefined) return false
    void serve(route, req, res, contentLength)
    return true
  }
}
