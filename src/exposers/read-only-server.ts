import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { toErrorResponse } from '../errors/envelope.js'
import { NaftikoError } from '../errors/naftiko-error.js'
import { answerClientError } from '../server/client-error.js'
import type { Logger } from '../server/logger.js'
import type { InboundCheck } from './auth/inbound-auth.js'

/** A refusal of the inbound check, with the challenge the 401 carries. */
class Refused extends NaftikoError {
  constructor (status: number, message: string, readonly challenge: string) {
    super(status === 403 ? 'insufficient_scope' : 'unauthorized', message)
  }
}

/**
 * An HTTP server for a read-only expose (skill catalog, control port): the inbound check first,
 * GET and HEAD only (405 otherwise; POST too on the `actions` paths), `route` answers by path; every failure is the gateway's error
 * envelope, with its challenge or `allow` header. One log line per request, like the other exposes.
 */
export function readOnlyServer (check: InboundCheck | undefined, log: Logger, route: (path: string, req: IncomingMessage, res: ServerResponse) => Promise<void>, actions: ReadonlySet<string> = new Set()): Server {
  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = req.url ?? '/'
    if (check !== undefined) {
      const verdict = await check(req.headers, url)
      if (!verdict.ok) throw new Refused(verdict.status, verdict.message, verdict.challenge)
    }
    const path = url.split('?')[0] ?? '/'
    // `actions` are the paths that also take POST (the control port's reload)
    if (req.method !== 'GET' && req.method !== 'HEAD' && !(req.method === 'POST' && actions.has(path))) throw new NaftikoError('method_not_allowed', `This path answers GET only, not ${req.method ?? ''}.`)
    await route(path, req, res)
  }
  const server = createServer((req, res) => {
    const started = performance.now()
    res.once('finish', () => log.info({ method: req.method, route: (req.url ?? '/').split('?')[0], status: res.statusCode, ms: Math.round((performance.now() - started) * 100) / 100 }, 'request'))
    serve(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy()
        return
      }
      const { status, body } = toErrorResponse(err)
      if (status >= 500) log.error({ err }, 'request failed')
      res.writeHead(status, {
        'content-type': 'application/json',
        ...(err instanceof Refused ? { 'www-authenticate': err.challenge } : {}),
        ...(status === 405 ? { allow: 'GET, HEAD' } : {}),
      })
      res.end(JSON.stringify(body))
    })
  })
  server.on('clientError', answerClientError)
  return server
}

export function sendJson (res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' })
  res.end(body)
}
