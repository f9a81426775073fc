import { isIP } from 'node:net'
import type { ServerResponse } from 'node:http'
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
export async function startListeners (mounted: Mounted, addressOf: (server: MountedServer) => { host: string, port: number }, shutdownTimeout: number): Promise<Listeners> {
  const active = new Map(mounted.servers.map((s) => [s, countRequests(s)]))
  const closeAll = async (): Promise<void> => { await Promise.allSettled([...mounted.servers.map((s) => s.close()), ...mounted.stdio.map((s) => s.close())]) }
  const addresses: BoundAddress[] = []
  for (const mountedServer of mounted.servers) {
    const { expose, server, path, listen } = mountedServer
    const { host, port } = addressOf(mountedServer)
    try {
      await listen(host, port)
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
          await closeAll()
        } finally {
          clearTimeout(timer)
          clearInterval(sweep)
        }
      })()
      return closing
    },
  }
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
