import type { IncomingHttpHeaders } from 'node:http'

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]'])
/** `name`, `name:port`, `[v6]`, `[v6]:port`: anything else (userinfo, paths) is not a Host */
const HOST_SYNTAX = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/

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
    if (!HOST_SYNTAX.test(host) || !LOOPBACK_NAMES.has(hostnameOf(`http://${host}`) ?? '')) return `Invalid Host header: ${host}`
  }
  const origin = headers.origin
  if (origin === undefined || origin === '') return undefined
  if (policy.loopback && (origin === 'null' || LOOPBACK_NAMES.has(hostnameOf(origin) ?? ''))) return undefined
  if (policy.allowOrigins.includes(origin)) return undefined
  return `Invalid Origin header: ${origin}`
}

function hostnameOf (url: string): string | undefined {
  try {
    return new URL(url).hostname
  } catch {
    return undefined
  }
}
