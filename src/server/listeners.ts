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
  /** what listens now, in the order of the capability's exposes */
  readonly addresses: readonly BoundAddress[]
  /**
   * Serves another build of the exposes on these listeners: a listener whose expose keeps its
   * address stays open and its new requests go to `next`'s handlers, while requests already in
   * flight finish on the handlers that took them; a listener whose expose moved or went away drains
   * and closes; a new one opens. When a new listener cannot open, nothing changes and it throws.
   */
  switchTo (next: Mounted): Promise<void>
  /** requests the handlers of `mounted` are still answering (streams included) */
  inFlight (mounted: Mounted): number
  /** closes the servers of `mounted` no listener uses any more (a build that was switched away from) */
  release (mounted: Mounted): Promise<void>
  /** Stops accepting, lets in-flight requests finish within the shutdown bound. */
  close (): Promise<void>
}

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

export type AddressOf = (server: MountedServer) => { host: string, port: number }

/** A server's request handlers, and how many requests they are answering. */
interface Handlers {
  readonly mounted: MountedServer
  readonly run: ReadonlyArray<(req: IncomingMessage, res: ServerResponse) => void>
  inFlight: number
}

/** One listening socket: the server that holds it, and the handlers its requests go to. */
interface Listener {
  readonly key: string
  readonly host: string
  readonly port: number
  readonly url: string
  /** the server that listens; its own handlers answer only while it is the target */
  readonly owner: MountedServer
  target: Handlers
  /** requests whose response has not closed yet, whatever handlers took them */
  active: number
}

/**
 * The one owner of the listening sockets: every mounted server listens here and is drained here.
 * A server that cannot listen closes the others and is a startup error naming the expose.
 */
export async function startListeners (mounted: Mounted, addressOf: AddressOf, limits: ListenerLimits): Promise<Listeners> {
  const { shutdownTimeout } = limits
  let live: Listener[] = []
  const handlersOf = new Map<MountedServer, Handlers>()
  const stdio: Array<{ close: () => Promise<void> }> = []
  const draining = new Set<Promise<void>>()

  const take = (mountedServer: MountedServer): Handlers => {
    const handlers: Handlers = { mounted: mountedServer, run: mountedServer.server.listeners('request') as unknown as Handlers['run'], inFlight: 0 }
    handlersOf.set(mountedServer, handlers)
    return handlers
  }

  /** Listens with `owner`'s socket; its requests go to whichever handlers are the listener's target. */
  const open = async (owner: MountedServer): Promise<Listener> => {
    const { expose, server, path, listen } = owner
    const { host, port } = addressOf(owner)
    const target = take(owner)
    server.removeAllListeners('request')
    server.maxConnections = limits.maxConnections
    server.requestTimeout = limits.requestTimeout
    try {
      await listen(host, port, limits.backlog)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      const reason = code === 'EADDRINUSE' ? 'the address is already in use' : code === 'EACCES' ? 'permission denied' : (err as Error).message
      throw new StartupError('listen_failed', `${expose.type} expose "${expose.namespace}" cannot listen on ${urlHost(host)}:${port}: ${reason}`, [], { cause: err })
    }
    const bound = server.address()
    const actualPort = typeof bound === 'object' && bound !== null ? bound.port : port
    const listener: Listener = { key: keyOf(owner), host, port, url: `http://${urlHost(host)}:${actualPort}${path}`, owner, target, active: 0 }
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const handlers = listener.target
      listener.active++
      handlers.inFlight++
      // 'close' comes once: `on` spares the wrapper `once` builds per request
      res.on('close', () => {
        listener.active--
        handlers.inFlight--
      })
      for (const run of handlers.run) run.call(server, req, res)
      boundBodySilence(req, res, limits.requestBodyTimeout)
    })
    return listener
  }

  /** Stops accepting on `listeners` and waits for their requests, within the shutdown bound. */
  const drain = async (listeners: readonly Listener[]): Promise<void> => {
    if (listeners.length === 0) return
    const timer = setTimeout(() => {
      for (const { owner } of listeners) owner.server.closeAllConnections()
    }, shutdownTimeout)
    // a keep-alive connection whose last response just ended would hold close() open until the
    // keep-alive timeout: close connections as soon as they fall idle
    const sweep = setInterval(() => {
      for (const { owner, active } of listeners) {
        // with nothing in flight, even a connection that never sent a request can go
        if (active === 0) owner.server.closeAllConnections()
        else owner.server.closeIdleConnections()
      }
    }, 100)
    try {
      await Promise.allSettled(listeners.map((l) => l.owner.close()))
    } finally {
      clearTimeout(timer)
      clearInterval(sweep)
    }
  }

  const opened: Listener[] = []
  try {
    for (const mountedServer of mounted.servers) opened.push(await open(mountedServer))
  } catch (err) {
    await Promise.allSettled([...opened.map((l) => l.owner.close()), ...mounted.servers.slice(opened.length).map((s) => s.close())])
    throw err
  }
  live = opened
  // stdin/stdout are served only once every listener is up: a bind failure is reported, not a
  // protocol stream that closes under the client
  for (const start of mounted.stdio) stdio.push(start())

  const inUse = (s: MountedServer): boolean => live.some((l) => l.owner === s || l.target.mounted === s)
  let closing: Promise<void> | undefined
  return {
    get addresses () {
      return live.map(({ owner, url }) => ({ type: owner.expose.type, namespace: owner.expose.namespace, url }))
    },
    async switchTo (next) {
      if (closing !== undefined) throw new Error('the listeners are closing')
      if (next.stdio.length > 0 || stdio.length > 0) throw new StartupError('reload_refused', 'an MCP expose on stdin/stdout cannot change while its client is connected; restart the gateway instead')
      const kept = new Map<MountedServer, Listener>()
      for (const s of next.servers) {
        const { host, port } = addressOf(s)
        const same = live.find((l) => l.key === keyOf(s) && l.host === host && l.port === port && !kept.has(s))
        if (same !== undefined) kept.set(s, same)
      }
      // new listeners first: if one cannot open, the running ones are untouched
      const fresh: Listener[] = []
      try {
        for (const s of next.servers) {
          if (kept.has(s)) await s.ready()
          else fresh.push(await open(s))
        }
      } catch (err) {
        await Promise.allSettled(fresh.map((l) => l.owner.close()))
        throw err
      }
      for (const [s, listener] of kept) listener.target = take(s)
      const gone = live.filter((l) => ![...kept.values()].includes(l))
      live = next.servers.map((s) => kept.get(s) ?? fresh.find((l) => l.owner === s) as Listener)
      const drained = drain(gone)
      draining.add(drained)
      void drained.finally(() => draining.delete(drained))
    },
    inFlight (m) {
      return m.servers.reduce((sum, s) => sum + (handlersOf.get(s)?.inFlight ?? 0), 0)
    },
    async release (m) {
      await Promise.allSettled(m.servers.filter((s) => !inUse(s)).map(async (s) => {
        handlersOf.delete(s)
        await s.close()
      }))
    },
    close () {
      closing ??= (async () => {
        // the control port closes last: while in-flight requests finish it answers "not ready"
        const control = live.filter((l) => l.owner.expose.type === 'control')
        await Promise.allSettled([drain(live.filter((l) => !control.includes(l))), ...stdio.map((s) => s.close()), ...draining])
        await drain(control)
        // the handlers of a later build served through an earlier build's sockets
        await Promise.allSettled(live.filter((l) => l.target.mounted !== l.owner).map((l) => l.target.mounted.close()))
      })()
      return closing
    },
  }
}

/** A listener keeps its socket across builds while the same expose asks for the same address. */
function keyOf ({ expose }: MountedServer): string {
  return `${expose.type} ${expose.namespace}`
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

function urlHost (host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host
}
