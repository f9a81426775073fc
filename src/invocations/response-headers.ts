import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'
import type { Redactor } from '../bindings/redact.js'

/**
 * The header relay policy, for every answer an upstream gives (docs/semantics.md, "Answering"):
 * - hop-by-hop headers (RFC 9110 7.6.1) and the headers the upstream's own `Connection` header
 *   nominates are dropped;
 * - the upstream's cookies and details of the upstream's own edge are dropped;
 * - a header whose value holds a bound secret is dropped (the caller logs its name);
 * - everything else clients rely on (content-type, x-request-id, openai-*, x-ratelimit-*,
 *   retry-after(-ms)) is relayed as it is.
 */
const DROPPED = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'set-cookie', 'server', 'date', 'alt-svc', 'strict-transport-security', 'cf-ray',
  'cf-cache-status', 'nel', 'report-to', 'via',
])

export interface RelayedHeaders {
  headers: OutgoingHttpHeaders
  /** names of headers dropped because they held a bound secret */
  withheld: string[]
}

/**
 * `keepLength`: the body goes back byte for byte and unchanged in length (no secret can be
 * replaced in it), so its content-length stays true.
 */
export function relayHeaders (upstream: IncomingHttpHeaders, redactor: Redactor, keepLength: boolean): RelayedHeaders {
  const nominated = nominatedHeaders(upstream.connection)
  const headers: OutgoingHttpHeaders = {}
  const withheld: string[] = []
  for (const name in upstream) {
    if (DROPPED.has(name) || nominated?.has(name) === true) continue
    if (name === 'content-length' && !keepLength) continue
    const value = upstream[name]
    if (value === undefined) continue
    if (redactor.active && (Array.isArray(value) ? value.some((v) => redactor.holds(v)) : redactor.holds(value))) {
      withheld.push(name)
      continue
    }
    headers[name] = value
  }
  return { headers, withheld }
}

function nominatedHeaders (connection: string | undefined): Set<string> | undefined {
  // `keep-alive`, what nearly every upstream says, nominates a header that is dropped anyway
  if (connection === undefined || connection === '' || connection === 'keep-alive') return undefined
  return new Set(connection.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== ''))
}
