import { randomUUID } from 'node:crypto'
import { EventEmitter } from 'node:events'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { ExposedResource, ExposesRest } from '../capability/types.js'
import { normalizeName } from '../bindings/template.js'
import { JsonBody, RawBody } from '../consumers/call-context.js'
import { NaftikoError } from '../errors/naftiko-error.js'
import { toErrorResponse } from '../errors/envelope.js'
import type { Logger } from '../logger.js'
import type { Redactor } from '../bindings/redact.js'
import type { Consumers } from '../consumers/build-consumers.js'
import type { ExpressionScope } from '../consumers/compile-value.js'
import { compileInvocation, type Invocation } from './compile-invocation.js'
import { invokeOperation, isEventStream, readJson } from './invoke.js'
import { passThroughHeaders, relayBody, relayEventStream, type RelayOutcome } from './relay-response.js'
import { compileRouteInputs, RestInputs, type RouteInputs } from './rest-inputs.js'
import { answerClientError } from './client-error.js'
import { buildInboundAuth, credentialInputs } from './inbound-auth.js'

export interface RestExposerOptions {
  bodyLimit: number
  logger: Logger
  /** scrubs bound secrets out of upstream error bodies before they reach the client */
  redact: Redactor | undefined
}

const MAX_PARAM_LENGTH = 2048
/** names the log line of a response */
const REQUEST_ID = 'x-naftiko-request-id'

interface CompiledRoute {
  method: string
  url: string
  inputs: RouteInputs
  invocation: Invocation
}

declare module 'fastify' {
  interface FastifyRequest {
    upstreamStatus?: number
    /** set when the handler logs the request itself (relayed responses, clients gone) */
    logged?: boolean
  }
}

/**
 * One fastify server for one `type: rest` expose: a route per exposed resource and method, all
 * compiled at startup; every error the gateway itself produces is an OpenAI-style envelope.
 */
export function buildRestExposer (expose: ExposesRest, consumers: Consumers, scope: ExpressionScope, options: RestExposerOptions): FastifyInstance {
  const log = options.logger.child({ expose: expose.namespace })
  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimit,
    exposeHeadRoutes: false,
    return503OnClosing: true,
    genReqId: () => randomUUID(),
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: MAX_PARAM_LENGTH },
    clientErrorHandler: answerClientError,
    // errors fastify raises before routing (a malformed URL, an over-long path parameter)
    frameworkErrors: (err, _request, reply) => {
      const { status, body } = toErrorResponse(err.code === 'FST_ERR_MAX_PARAM_LENGTH'
        ? new NaftikoError('invalid_request', `A path parameter is longer than ${MAX_PARAM_LENGTH} bytes.`)
        : err)
      void (reply as FastifyReply).code(status).header('content-type', 'application/json').send(body)
    },
  })

  app.removeAllContentTypeParsers()
  app.addContentTypeParser(/^application\/([\w.+-]*\+)?json\s*(;.*)?$/i, { parseAs: 'buffer' }, (_req, raw: Buffer, done) => {
    if (raw.length === 0) return done(null, undefined)
    try {
      // parsing is the check that the body is well-formed; the bytes go upstream as received
      done(null, new JsonBody(raw, JSON.parse(raw.toString('utf8'))))
    } catch {
      done(new NaftikoError('invalid_json', 'The request body is not valid JSON.'), undefined)
    }
  })
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (req, raw: Buffer, done) => {
    done(null, raw.length === 0 ? undefined : new RawBody(raw, req.headers['content-type']))
  })

  const auth = buildInboundAuth(expose.authentication, scope)
  if (auth !== undefined) {
    app.addHook('onRequest', async (request, reply) => {
      const verdict = await auth.check(request.headers, request.url)
      if (verdict.ok) return
      void reply.header('www-authenticate', verdict.challenge)
      throw new NaftikoError(verdict.status === 403 ? 'insufficient_scope' : 'unauthorized', verdict.message)
    })
  }

  app.setErrorHandler((err, request, reply) => {
    if (reply.raw.destroyed || request.raw.socket?.destroyed === true) {
      // the client went away (its upstream call was aborted because of that): nothing to answer
      request.logged = true
      logRequest(log, request, 499, reply.elapsedTime, { outcome: 'client_gone' })
      return
    }
    const { status, body } = toErrorResponse(err)
    if (status >= 500) log.error({ reqId: request.id, err }, 'request failed')
    else log.debug({ reqId: request.id, code: body.error.code }, 'request rejected')
    void reply.code(status).header('content-type', 'application/json').header(REQUEST_ID, request.id).send(body)
  })
  app.setNotFoundHandler((request, reply) => {
    const { status, body } = toErrorResponse(new NaftikoError('unknown_route', `No route for ${request.method} ${request.url.split('?')[0] ?? ''}.`))
    void reply.code(status).header(REQUEST_ID, request.id).send(body)
  })
  app.addHook('onResponse', (request, reply, done) => {
    if (request.logged !== true) logRequest(log, request, reply.statusCode, reply.elapsedTime)
    done()
  })

  const hidden = credentialInputs(expose.authentication)
  for (const route of compileRoutes(expose, consumers, scope, hidden)) {
    app.route({
      method: route.method as 'GET',
      url: route.url,
      handler: (request, reply) => handle(route, request, reply, log, options.redact),
    })
  }
  return app
}

function compileRoutes (expose: ExposesRest, consumers: Consumers, scope: ExpressionScope, hidden: string[]): CompiledRoute[] {
  const routes: CompiledRoute[] = []
  for (const resource of expose.resources ?? []) {
    const { url, pathParams } = toFastifyPath(resource.path)
    for (const op of resource.operations ?? []) {
      const own = op.path === undefined ? { url, pathParams } : toFastifyPath(op.path)
      routes.push({
        method: String(op.method).toUpperCase(),
        url: own.url,
        inputs: compileRouteInputs(own.pathParams, [...(resource.inputParameters ?? []), ...(op.inputParameters ?? [])], hidden),
        invocation: compileInvocation(op, consumers, scope),
      })
    }
    if (resource.forward !== undefined && (resource.operations ?? []).length === 0) {
      routes.push(...forwardRoutes(resource, url, pathParams))
    }
  }
  return routes
}

/** `forward` is recognised but not executed yet: its path answers 501 rather than 404. */
function forwardRoutes (resource: ExposedResource, url: string, pathParams: Map<string, string>): CompiledRoute[] {
  const invocation: Invocation = { kind: 'unsupported', feature: `forward to ${resource.forward?.targetNamespace ?? ''}` }
  const inputs = compileRouteInputs(pathParams, [], [])
  return ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].map((method) => ({ method, url, inputs, invocation }))
}

/**
 * Aborts the upstream request when the client goes away. undici takes an EventEmitter as a signal:
 * an AbortController per request cost about 5% of the REST route's time in the benchmark's profile.
 */
class ClientGone extends EventEmitter {
  aborted = false
  reason: Error | undefined

  abort (): void {
    if (this.aborted) return
    this.aborted = true
    this.reason = new Error('the client went away')
    this.emit('abort')
  }
}

/** `/ships/{imo}` and `/ships/{{imo}}` -> `/ships/:p0`; parameter names with `-` or `.` are not
 * valid fastify names, so every parameter gets a positional one and a lookup by normalized name. */
function toFastifyPath (path: string): { url: string, pathParams: Map<string, string> } {
  const pathParams = new Map<string, string>()
  let i = 0
  const url = path.replace(/\{\{?\s*([^{}]+?)\s*\}?\}/g, (_m, name: string) => {
    const key = `p${i++}`
    pathParams.set(normalizeName(name), key)
    return `:${key}`
  })
  return { url, pathParams }
}

async function handle (route: CompiledRoute, request: FastifyRequest, reply: FastifyReply, log: Logger, redact: Redactor | undefined): Promise<void> {
  const invocation = route.invocation
  const inputs = new RestInputs(request, route.inputs)
  void reply.header(REQUEST_ID, request.id)
  if (invocation.kind === 'unsupported') {
    throw new NaftikoError('feature_not_supported', `This operation uses ${invocation.feature}, which this runtime does not execute yet.`)
  }
  if (invocation.kind === 'mock') {
    await reply.send(invocation.render(inputs))
    return
  }
  const raw = reply.raw
  const gone = new ClientGone()
  raw.once('close', () => { if (!raw.writableFinished) gone.abort() })
  const started = performance.now()
  const upstream = await invokeOperation(invocation, inputs, gone)
  request.upstreamStatus = upstream.status
  const upstreamMs = performance.now() - started

  const ok = upstream.status >= 200 && upstream.status < 300
  if (!ok && redact !== undefined) {
    // an error answer can echo what it was sent, the gateway's credential included
    const text = redact(await upstream.body.text())
    await reply.code(upstream.status).headers(passThroughHeaders(upstream.headers)).send(text)
    return
  }
  if (ok && !invocation.output.identity && !isEventStream(upstream.headers)) {
    // a mapping needs the whole JSON body; a non-2xx answer is never mapped (DESIGN 2.1)
    const mapped = invocation.output.map(await readJson(upstream))
    const headers = passThroughHeaders(upstream.headers)
    delete headers['content-encoding']
    await reply.code(upstream.status).headers(headers).header('content-type', 'application/json; charset=utf-8').send(JSON.stringify(mapped ?? null))
    return
  }
  request.logged = true
  reply.hijack()
  const extra = { [REQUEST_ID]: request.id }
  const outcome: RelayOutcome = await (isEventStream(upstream.headers)
    ? relayEventStream(raw, upstream, extra)
    : relayBody(raw, upstream, extra))
  logRequest(log, request, upstream.status, performance.now() - started, { upstreamMs, outcome })
}

function logRequest (log: Logger, request: FastifyRequest, status: number, ms: number, extra?: { upstreamMs?: number, outcome: RelayOutcome }): void {
  log.info({
    reqId: request.id,
    method: request.method,
    route: request.routeOptions.url ?? null,
    status,
    upstreamStatus: request.upstreamStatus ?? null,
    ms: Math.round(ms * 100) / 100,
    upstreamMs: extra?.upstreamMs === undefined ? undefined : Math.round(extra.upstreamMs * 100) / 100,
    outcome: extra?.outcome,
  }, 'request')
}
