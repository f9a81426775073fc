import { createRequire } from 'node:module'
import type * as Undici from 'undici'

// The dispatchers are loaded from their own modules: undici's index also loads fetch, WebSocket,
// EventSource and the cache layers, which the gateway never uses (startup: 114 ms -> 46 ms to load
// undici). Requests go through `dispatch` (upstream-source.ts).
const require = createRequire(import.meta.url)
const Pool = require('undici/lib/dispatcher/pool.js') as typeof Undici.Pool
type Dispatcher = Undici.Dispatcher

export interface UpstreamTimeouts {
  /** TCP + TLS connect, ms */
  connectTimeout: number
  /** until the upstream's response headers, ms */
  headersTimeout: number
  /** longest silence while reading a response body (between two stream chunks), ms */
  bodyTimeout: number
}

export interface Dispatchers {
  forOrigin (origin: string): Dispatcher
  close (): Promise<void>
}

/**
 * One undici Pool per upstream origin, created at startup and closed on shutdown. When a proxy is
 * configured (HTTP_PROXY / HTTPS_PROXY / NO_PROXY, read by options.ts), one EnvHttpProxyAgent
 * serves every origin: it pools per origin itself and applies NO_PROXY.
 */
export function buildDispatchers (origins: Iterable<string>, timeouts: UpstreamTimeouts, proxy: { httpProxy?: string, httpsProxy?: string, noProxy?: string } | undefined): Dispatchers {
  const common = {
    connect: { timeout: timeouts.connectTimeout },
    headersTimeout: timeouts.headersTimeout,
    bodyTimeout: timeouts.bodyTimeout,
    keepAliveTimeout: 30_000,
  }
  if (proxy !== undefined) {
    // the proxy agent tunnels with undici's CONNECT API, which its index installs on every dispatcher
    const { EnvHttpProxyAgent } = require('undici') as typeof Undici
    const agent = new EnvHttpProxyAgent({ ...common, ...proxy })
    return { forOrigin: () => agent, close: () => agent.close() }
  }
  const pools = new Map<string, Undici.Pool>()
  for (const origin of origins) if (!pools.has(origin)) pools.set(origin, new Pool(origin, common))
  return {
    forOrigin (origin) {
      const pool = pools.get(origin)
      if (pool === undefined) throw new Error(`no pool for ${origin}`)
      return pool
    },
    async close () {
      await Promise.all([...pools.values()].map((p) => p.close()))
    },
  }
}
