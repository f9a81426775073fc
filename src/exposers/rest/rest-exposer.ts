import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createRequire } from 'node:module'
import type { Readable } from 'node:stream'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { FORWARDED_METHODS } from '../../capability/check-capability.js'
import type { RestExpose, RestResource } from '../../capability/model.js'
import { normalizeName, splitPath } from '../../expressions/template.js'
import { traceContextOf } from '../../expressions/trace-context.js'
import { NaftikoError } from '../../errors/naftiko-error.js'
import { toErrorResponse } from '../../errors/envelope.js'
import { compileInvocation, type Invocation, type InvocationContext } from '../../invocations/compile-invocation.js'
import { compileForward, type Forward, type ForwardRequest } from '../../invocations/compile-forward.js'
import { flatLine, type Logger } from '../../server/logger.js'
import type { Metrics } from '../../server/metrics.js'
import { watchRequest } from '../../server/request-watch.js'
import type { Tracing } from '../../server/tracing.js'
import { answerClientError } from '../../server/client-error.js'
import { MAX_JSON_DEPTH, SHAPE_UP_TO, WORKER_FROM, type JsonBodyReader } from '../../server/json-body.js'
import { readJsonBody } from '../../server/read-json-body.js'
import { buildInboundAuth, credentialInputs, repeatsCredential } from '../auth/inbound-auth.js'
import { refuseHostOrOrigin, type OriginPolicy } from '../auth/loopback-guard.js'
import { directRoutes } from './direct-route.js'
import { answer, logRequest, REQUEST_ID, rejection, type RawReply, type Rejection, type RequestLog, type RestExchange } from './rest-answer.js'
import { compileRouteInputs, RestInputs, type RouteInputs } from './rest-inputs.js'

export interface RestExposerOptions {
  bodyLimit: number
  logger: Logger
  metrics: Metrics
  /** Host and Origin checks, for an unauthenticated expose on loopback */
  origins: OriginPolicy | undefined
  bodies: JsonBodyReader
  /** present when spans are exported */
  tracing: Tracing | undefined
}

const MAX_PARAM_LENGTH = 2048

/**
 * Fastify builds its schema compilers (ajv, fast-json-stringify) when the server is created, which
 * loads ajv: about 100 ms of a 600 ms start. The routes here declare no schemas, so the compilers are
 * loaded only if a route ever asks for one.
 */
const require = createRequire(import.meta.url)
type CompilerFactory = (...args: unknown[]) => unknown
const LAZY_COMPILERS = {
  buildValidator: (...args: unknown[]) => (require('@fastify/ajv-compiler') as () => CompilerFactory)()(...args),
  buildSerializer: (...args: unknown[]) => (require('@fastify/fast-json-stringify-compiler') as () => CompilerFactory)()(...args),
}
interface CompiledRoute {
  method: string
  url: string
  /** the path as the capability writes it */
  template: string
  inputs: RouteInputs
  invocation: Invocation
}

/** The large JSON bodies looked at for their shape as they arrive (see `JsonShape`). */
const SHAPE_CHECKED = { from: WORKER_FROM, upTo: SHAPE_UP_TO, maxDepth: MAX_JSON_DEPTH }

declare module 'fastify' {
  /** a fastify request is a `RestExchange`: what its answer and its log line record */
  interface FastifyRequest extends Pick<RestExchange, 'span' | 'upstreamStatus' | 'upstreamError' | 'logged'> {}
  interface FastifyContextConfig {
    /** the route as the capability writes it (`/ships/{imo}`), for span names */
    template?: string
  }
}

/**
 * One fastify server for one `type: rest` expose: a route per exposed resource and method, all
 * compiled at startup; every error the gateway itself produces is an OpenAI-style envelope.
 */
export function buildRestExposer (expose: RestExpose, context: InvocationContext, options: RestExposerOptions): FastifyInstance {
  const logger = options.logger.child({ expose: expose.namespace })
  const log: RequestLog = { logger, line: flatLine(logger), metrics: options.metrics, expose: expose.namespace }
  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimit,
    exposeHeadRoutes: false,
    return503OnClosing: true,
    genReqId: () => randomUUID(),
    schemaController: { compilersFactory: LAZY_COMPILERS as never },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: MAX_PARAM_LENGTH },
    clientErrorHandler: answerClientError,
    // errors fastify raises before routing (a malformed URL, an over-long path parameter): answered
    // like any refusal, and logged here, as fastify runs no hooks for them
    frameworkErrors: (err, request, raw) => {
      const reply = raw as FastifyReply
      const error = err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? new NaftikoError('invalid_request', `A path parameter is longer than ${MAX_PARAM_LENGTH} bytes.`) : err
      const failed = rejection(log, request, 'unknown', error, false, 0) as Rejection
      void reply.code(failed.status).headers(failed.headers).send(failed.text)
      request.logged = true
      logRequest(log, request, 'unknown', failed.status, reply.elapsedTime)
    },
  })

  app.removeAllContentTypeParsers()
  // JSON only: a web page cannot send a JSON body without a CORS preflight, which the gateway never
  // grants, so it cannot spend the key with a simple request; any other body is 415
  const bodies = options.bodies
  // no route sets a limit of its own (and `request.routeOptions` builds a new object at each read)
  const limits = { limit: options.bodyLimit, shape: SHAPE_CHECKED }
  const readBody = (payload: Readable, contentLength: string | undefined): Promise<unknown> => readJsonBody(payload, contentLength, limits)
    // the check that the body is well-formed (off this thread when large); the bytes go upstream as received
    .then(({ pieces, length, shape }) => length === 0 ? undefined : bodies.body(pieces, length, shape))
  app.addContentTypeParser(/^application\/([\w.+-]*\+)?json\s*(;.*)?$/i, (request, payload, done) => {
    readBody(payload, request.headers['content-length']).then((body) => done(null, body), (err: Error) => done(err, undefined))
  })

  const tracing = options.tracing
  if (tracing !== undefined) {
    // first of all hooks: a request refused by a later one (Host, credentials) has its span too
    app.addHook('onRequest', (request, _reply, done) => {
      const template = request.routeOptions.config.template
      const attributes = { 'http.request.method': request.method, 'url.scheme': 'http', 'naftiko.expose': expose.namespace, ...(template === undefined ? {} : { 'http.route': template }) }
      request.span = tracing.startRequest(template === undefined ? request.method : `${request.method} ${template}`, attributes, traceContextOf(request.headers), performance.timeOrigin + performance.now())
      done()
    })
  }
  const origins = options.origins
  // a callback hook, not an async one: no promise per request on the hot path
  app.addHook('onRequest', (request, _reply, done) => {
    if (repeatsCredential(request.raw.rawHeaders)) return done(new NaftikoError('invalid_request', 'The request carries more than one Authorization header.'))
    const refused = origins === undefined ? undefined : refuseHostOrOrigin(request.headers, origins)
    done(refused === undefined ? undefined : new NaftikoError('host_not_allowed', `${refused}: this expose answers only to loopback names.`))
  })
  const auth = buildInboundAuth(expose.authentication, context.scope)
  if (auth !== undefined) {
    app.addHook('onRequest', async (request, reply) => {
      const verdict = await auth.check(request.headers, request.url)
      if (verdict.ok) return
      void reply.header('www-authenticate', verdict.challenge)
      throw new NaftikoError(verdict.status === 403 ? 'insufficient_scope' : 'unauthorized', verdict.message)
    })
  }

  app.setErrorHandler((err, request, reply) => {
    const failed = rejection(log, request, routeOf(request), err, reply.raw.destroyed || request.raw.socket?.destroyed === true, reply.elapsedTime)
    if (failed !== undefined) void reply.code(failed.status).headers(failed.headers).send(failed.text)
  })
  app.setNotFoundHandler((request, reply) => {
    const { status, body } = toErrorResponse(new NaftikoError('unknown_route', `No route for ${request.method} ${request.url.split('?')[0] ?? ''}.`))
    void reply.code(status).header(REQUEST_ID, request.id).send(body)
  })
  app.addHook('onResponse', (request, reply, done) => {
    if (request.logged !== true) logRequest(log, request, routeOf(request), reply.statusCode, reply.elapsedTime)
    done()
  })

  const hidden = credentialInputs(expose.authentication)
  const routes = compileRoutes(expose, context, hidden)
  for (const route of routes) {
    app.route({
      method: route.method as 'GET',
      url: route.url,
      config: { template: route.template },
      handler: (request, reply) => handle(route, request, reply, log),
    })
  }
  if (auth === undefined && tracing === undefined) {
    const direct = directRoutes(routes, { log, bodyLimit: options.bodyLimit, origins, readBody, handle: (route, exchange, reply) => handle(route, exchange, reply, log) })
    if (direct !== undefined) serveDirectFirst(app, direct)
  }
  const forwards = expose.resources.filter((r) => r.forward !== undefined && r.operations.length === 0)
  if (forwards.length > 0) {
    void app.register(async (scope) => {
      // a forwarded body is streamed upstream as it arrives, whatever its type, never parsed here
      scope.removeAllContentTypeParsers()
      scope.addContentTypeParser('*', (_request, payload, done) => { done(null, payload) })
      for (const resource of forwards) mountForward(scope, resource, compileForward(resource.forward as NonNullable<RestResource['forward']>, context, inboundCredential(expose.authentication)), log)
    })
  }
  return app
}

/**
 * The direct route's listener in front of fastify's on the fastify server: what it does not take,
 * and everything once the server is closing (fastify answers 503), goes to fastify.
 */
function serveDirectFirst (app: FastifyInstance, direct: (req: IncomingMessage, res: ServerResponse) => boolean): void {
  const server = app.server
  const [fastifyListener, ...others] = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>
  if (fastifyListener === undefined || others.length > 0) return
  let closing = false
  app.addHook('preClose', (done) => { closing = true; done() })
  server.removeListener('request', fastifyListener)
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (closing || !direct(req, res)) fastifyListener.call(server, req, res)
  })
}

/** The caller's credential for this expose, which a `forward` never relays. */
function inboundCredential (auth: RestExpose['authentication']): { headers: string[], query: string[] } {
  if (auth === undefined) return { headers: [], query: [] }
  if (auth.type === 'apikey') return auth.placement === 'query' ? { headers: [], query: [auth.key] } : { headers: [auth.key], query: [] }
  return { headers: ['authorization'], query: [] }
}

/** `/forward/{{path}}` serves `/forward/` and everything under it; a path with no placeholder, itself too. */
function mountForward (app: FastifyInstance, resource: RestResource, forward: Forward, log: RequestLog): void {
  const first = splitPath(resource.path).findIndex((part) => typeof part !== 'string')
  const prefix = first === -1 ? resource.path : splitPath(resource.path).slice(0, first).join('')
  const base = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix
  const handler = (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const url = request.raw.url ?? '/'
    const mark = url.indexOf('?')
    const path = mark === -1 ? url : url.slice(0, mark)
    const forwarded: ForwardRequest = {
      method: request.method,
      rest: path.slice(base.length).replace(/^\//, ''),
      query: mark === -1 ? '' : url.slice(mark + 1),
      headers: request.headers,
      body: (request.body as Readable | undefined) ?? null,
      watch: watchRequest(log.metrics, log.expose, routeOf(request), request.span),
    }
    return answer(request, reply, log, routeOf(request), (gone) => forward.invoke(forwarded, gone))
  }
  const urls = first === -1 ? [base === '' ? '/' : base, `${base}/*`] : [`${base}/*`]
  for (const url of urls) app.route({ method: [...FORWARDED_METHODS], url, config: { template: resource.path }, handler })
}

function compileRoutes (expose: RestExpose, context: InvocationContext, hidden: string[]): CompiledRoute[] {
  const routes: CompiledRoute[] = []
  for (const resource of expose.resources) {
    for (const op of resource.operations) {
      const { url, pathParams } = toFastifyPath(op.path)
      routes.push({
        method: op.method,
        url,
        template: op.path,
        inputs: compileRouteInputs(pathParams, [...resource.inputParameters, ...op.inputParameters], hidden),
        invocation: compileInvocation(op, context),
      })
    }
  }
  return routes
}

/** `/ships/{imo}` and `/ships/{{imo}}` -> `/ships/:p0`; parameter names with `-` or `.` are not
 * valid fastify names, so every parameter gets a positional one and a lookup by normalized name. */
export function toFastifyPath (path: string): { url: string, pathParams: Map<string, string> } {
  const pathParams = new Map<string, string>()
  const url = splitPath(path).map((part) => {
    if (typeof part === 'string') return part
    const key = `p${pathParams.size}`
    pathParams.set(normalizeName(part.name), key)
    return `:${key}`
  }).join('')
  return { url, pathParams }
}

function handle (route: CompiledRoute, exchange: RestExchange, reply: RawReply, log: RequestLog): Promise<void> {
  const inputs = new RestInputs(exchange, route.inputs, watchRequest(log.metrics, log.expose, route.url, exchange.span))
  const problem = inputs.check()
  if (problem !== undefined) throw problem
  return answer(exchange, reply, log, route.url, (gone) => route.invocation.invoke(inputs, gone))
}

/** The route a request matched (fastify's path), or `unknown` before routing. */
function routeOf (request: FastifyRequest): string {
  return request.routeOptions.url ?? 'unknown'
}
