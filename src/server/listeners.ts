import { isIP } from 'node:net'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { toErrorResponse } from '../errors/envelope.js'
import { NaftikoError } from '../errors/naftiko-error.js'
import { StartupError } from '../errors/startup-error.js'
import type { Mounted, MountedServer } from '../exposers/mount-exposers.js'

export interface BoundAddress {
  type: string
  namespace: string
  url: string
}

export interface Listeners {
  readonly addresses: readonly BoundAddress[]
  /** Stops accepting, lets in-flight requests finish within the shutdown bound. */
  close (): Promise<void>
}

/**
 * The one owner of the listening sockets: every mounted server listens here and is drained here.
 * A server that cannot listen closes the others and is a startup error naming the expose.
 */
export interface ListenerLimits {
  shutdownTimeout: number
  /** longest silence while a client sends its request body */
  requestBodyTimeout: number
  /** longest time to receive a whole request: node answers 408 (server/client-error.ts) */
  requestTimeout: number
  maxConnections: number
  /** the listen queue: connections the kernel holds until the gateway accepts them */
  backlog: number
}

export async function startListeners (mounted: Mounted, addressOf: (server: MountedServer) => { host: string, port: number }, limits: ListenerLimits): Promise<Listeners> {
  const { shutdownTimeout } = limits
  const active = new Map(mounted.servers.map((s) => [s, countRequests(s)]))
  const stdio: Array<{ close: () => Promise<void> }> = []
  for (const { server } of mounted.servers) {
    server.maxConnections = limits.maxConnections
    server.requestTimeout = limits.requestTimeout
    server.on('request', (req: IncomingMessage, res: ServerResponse) => boundBodySilence(req, res, limits.requestBodyTimeout))
  }
  const closeAll = async (): Promise<void> => { await Promise.allSettled([...mounted.servers.map((s) => s.close()), ...stdio.map((s) => s.close())]) }
  const addresses: BoundAddress[] = []
  for (const mountedServer of mounted.servers) {
    const { expose, server, path, listen } = mountedServer
    const { host, port } = addressOf(mountedServer)
    try {
      await listen(host, port, limits.backlog)
    } catch (err) {
      await closeAll()
      const code = (err as NodeJS.ErrnoException).code
      const reason = code === 'EADDRINUSE' ? 'the address is already in use' : code === 'EACCES' ? 'permission denied' : (err as Error).message
      throw new StartupError('listen_failed', `${expose.type} expose "${expose.namespace}" cannot listen on ${urlHost(host)}:${port}: ${reason}`, [], { cause: err })
    }
    const bound = server.address()
    const actualPort = typeof bound === 'object' && bound !== null ? bound.port : port
    addresses.push({ type: expose.type, namespace: expose.namespace, url: `http://${urlHost(host)}:${actualPort}${path}` })
  }
  // stdin/stdout are served only once every listener is up: a bind failure is reported, not a
  // protocol stream that closes under the client
  for (const start of mounted.stdio) stdio.push(start())

  let closing: Promise<void> | undefined
  return {
    addresses,
    close () {
      closing ??= (async () => {
        const timer = setTimeout(() => {
          for (const { server } of mounted.servers) server.closeAllConnections()
        }, shutdownTimeout)
        // a keep-alive connection whose last response just ended would hold close() open until
        // the keep-alive timeout: close connections as soon as they fall idle
        const sweep = setInterval(() => {
          for (const [{ server }, inFlight] of active) {
            // with nothing in flight, even a connection that never sent a request can go
            if (inFlight() === 0) server.closeAllConnections()
            else server.closeIdleConnections()
          }
        }, 100)
        try {
          // the control port closes last: while in-flight requests finish it answers "not ready"
          const control = mounted.servers.filter((s) => s.expose.type === 'control')
          await Promise.allSettled([...mounted.servers.filter((s) => !control.includes(s)).map((s) => s.close()), ...stdio.map((s) => s.close())])
          await Promise.allSettled(control.map((s) => s.close()))
        } finally {
          clearTimeout(timer)
          clearInterval(sweep)
        }
      })()
      return closing
    },
  }
}

/**
 * A client that stops sending its body holds a connection and a buffer: past `timeout` of silence it
 * gets 408 and the connection closes (nginx's client_body_timeout). Armed only while a body is
 * expected; once it has arrived, a slow upstream answer is not the client's silence.
 */
function boundBodySilence (req: IncomingMessage, res: ServerResponse, timeout: number): void {
  const chunked = req.headers['transfer-encoding'] !== undefined
  if (!chunked && (req.headers['content-length'] === undefined || req.headers['content-length'] === '0')) return
  req.setTimeout(timeout, () => {
    if (req.complete) return
    if (!res.headersSent) {
      const { status, body } = toErrorResponse(new NaftikoError('request_timeout', `No request body data for ${timeout} ms.`))
      res.writeHead(status, { 'content-type': 'application/json', connection: 'close' })
      res.end(JSON.stringify(body))
    }
    res.once('finish', () => req.socket.destroy())
    setTimeout(() => req.socket.destroy(), 1000).unref()
  })
  req.once('end', () => req.setTimeout(0))
}

/** Requests whose response has not closed yet, streams included. */
function countRequests ({ server }: MountedServer): () => number {
  let active = 0
  server.on('request', (_req, res: ServerResponse) => {
    active++
    res.once('close', () => { active-- })
  })
  return () => active
}

function urlHost (host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host
}
