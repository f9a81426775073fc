import type { IncomingMessage, ServerResponse } from 'node:http'

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]'])

/**
 * DNS-rebinding protection for a server bound to loopback (MCP transport spec): the Host header, and
 * the Origin header when a browser sends one, must name a loopback host. A refusal is answered here
 * with 403 and a JSON-RPC error, as the MCP SDK's guards answer it.
 */
export function checkLoopbackHostAndOrigin (req: IncomingMessage, res: ServerResponse): boolean {
  const host = req.headers.host
  const hostname = host === undefined ? undefined : hostnameOf(`http://${host}`)
  if (hostname === undefined || !LOOPBACK_NAMES.has(hostname)) return refuse(res, host === undefined ? 'Missing Host header' : `Invalid Host header: ${host}`)
  const origin = req.headers.origin
  if (origin !== undefined && origin !== '' && origin !== 'null') {
    const originHost = hostnameOf(origin)
    if (originHost === undefined || !LOOPBACK_NAMES.has(originHost)) return refuse(res, `Invalid Origin header: ${origin}`)
  }
  return true
}

function hostnameOf (url: string): string | undefined {
  try {
    return new URL(url).hostname
  } catch {
    return undefined
  }
}

function refuse (res: ServerResponse, message: string): false {
  res.writeHead(403, { 'content-type': 'application/json' })
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }))
  return false
}
