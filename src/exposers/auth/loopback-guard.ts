import type { IncomingHttpHeaders } from 'node:http'

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]'])
/** `name`, `name:port`, `[v6]`, `[v6]:port`: anything else (userinfo, paths) is not a Host */
const HOST_SYNTAX = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/

/** The Host last found to name loopback: a client sends the same one on every request (the verdict
 * depends on the string alone) */
let lastLoopbackHost: string | undefined

export interface OriginPolicy {
  /** the expose listens on a loopback address: Host and Origin must name loopback (DNS rebinding) */
  loopback: boolean
  /** browser origins allowed besides loopback ones (`--allow-origin`) */
  allowOrigins: readonly string[]
}

/**
 * DNS-rebinding and cross-origin protection (MCP transport spec): on loopback, the Host header must
 * name a loopback host; on every bind, a browser's Origin must be a loopback origin (on loopback) or
 * one the operator allowed. Returns why a request is refused, or undefined.
 */
export function refuseHostOrOrigin (headers: IncomingHttpHeaders, policy: OriginPolicy): string | undefined {
  if (policy.loopback) {
    const host = headers.host
    if (host === undefined) return 'Missing Host header'
    if (host !== lastLoopbackHost) {
      if (!HOST_SYNTAX.test(host) || !(isLoopbackHost(host) || LOOPBACK_NAMES.has(hostnameOf(`http://${host}`) ?? ''))) return `Invalid Host header: ${host}`
      lastLoopbackHost = host
    }
  }
  const origin = headers.origin
  if (origin === undefined || origin === '') return undefined
  if (policy.loopback && (origin === 'null' || LOOPBACK_NAMES.has(hostnameOf(origin) ?? ''))) return undefined
  if (policy.allowOrigins.includes(origin)) return undefined
  return `Invalid Origin header: ${origin}`
}

/**
 * A Host that is a loopback name as it is written (`127.0.0.1:8080`, `localhost`, `[::1]:80`), with
 * a valid port: the common case, answered without the URL parser (a URL per request was 2% of the
 * REST route's profile). Any other spelling goes through the parser, which normalizes it.
 */
function isLoopbackHost (host: string): boolean {
  const colon = host.lastIndexOf(':')
  const name = colon === -1 || host.endsWith(']') ? host : host.slice(0, colon)
  if (!LOOPBACK_NAMES.has(name)) return false
  // HOST_SYNTAX has checked that a port is 1 to 5 digits; the URL parser also refuses one above 65535
  return name.length === host.length || Number(host.slice(colon + 1)) <= 65535
}

function hostnameOf (url: string): string | undefined {
  try {
    return new URL(url).hostname
  } catch {
    return undefined
  }
}
