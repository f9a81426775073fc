import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import type { InboundAuthentication } from '../../capability/model.js'
import { resolveStaticText, type ExpressionScope } from '../../expressions/compile-value.js'
import { buildResourceServer, type ResourceServer } from './oauth-resource-server.js'

export type InboundVerdict =
  | { ok: true }
  | { ok: false, status: 401 | 403, challenge: string, message: string }

/** Checks the credential a client presents to the gateway; compiled once per expose. */
/** `url` is the request target (path and query), for credentials placed in the query. */
export type InboundCheck = (headers: IncomingHttpHeaders, url: string) => InboundVerdict | Promise<InboundVerdict>

/** The expose's inbound check: OAuth 2.1 resource server or a shared secret. */
export function buildInboundAuth (auth: InboundAuthentication | undefined, scope: ExpressionScope): { check: InboundCheck, resourceServer?: ResourceServer } | undefined {
  if (auth === undefined) return undefined
  if (auth.type === 'oauth2') {
    const resourceServer = buildResourceServer(auth)
    return { check: resourceServer.check, resourceServer }
  }
  return { check: compileInboundAuth(auth, scope) }
}

/** Two `Authorization` headers (node keeps the first): which one counts is not the gateway's to guess. */
export function repeatsCredential (rawHeaders: readonly string[]): boolean {
  let seen = 0
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] as string).length === 13 && (rawHeaders[i] as string).toLowerCase() === 'authorization' && ++seen > 1) return true
  }
  return false
}

/** Request inputs that carry the client's credential for the gateway: never an input of a call. */
export function credentialInputs (auth: InboundAuthentication | undefined): string[] {
  if (auth?.type === 'apikey') return [auth.key]
  return []
}

/**
 * `authentication` on a `rest` or `mcp` expose (bearer, apikey, basic): the credential a client must
 * present. Secrets come from bindings; comparisons take the same time whatever the input. The
 * client's credential is for the gateway only: it never travels upstream (nothing forwards it).
 */
function compileInboundAuth (auth: Exclude<InboundAuthentication, { type: 'oauth2' }>, scope: ExpressionScope): InboundCheck {
  const text = (v: unknown): string => resolveStaticText(v, scope)
  switch (auth.type) {
    case 'bearer': {
      const expected = digest(text(auth.token))
      const refusal = unauthorized('Bearer realm="naftiko"', 'A bearer token is required.')
      return (headers) => {
        const presented = /^Bearer\s+(.+)$/i.exec(headers.authorization ?? '')?.[1]?.trim()
        return presented !== undefined && sameDigest(expected, presented) ? OK : refusal
      }
    }
    case 'apikey': {
      const name = text(auth.key)
      const expected = digest(text(auth.value))
      const inQuery = auth.placement === 'query'
      const header = name.toLowerCase()
      const refusal = unauthorized(`ApiKey realm="naftiko", ${inQuery ? 'query' : 'header'}="${name}"`, `An API key is required in the ${inQuery ? 'query parameter' : 'header'} ${name}.`)
      return (headers, url) => {
        const raw = inQuery ? new URLSearchParams(url.slice(url.indexOf('?') + 1)).get(name) : headers[header]
        const presented = Array.isArray(raw) ? raw[0] : raw
        return presented !== undefined && presented !== null && sameDigest(expected, presented) ? OK : refusal
      }
    }
    case 'basic': {
      const expected = digest(`${text(auth.username)}:${text(auth.password)}`)
      const refusal = unauthorized('Basic realm="naftiko", charset="UTF-8"', 'Basic credentials are required.')
      return (headers) => {
        const encoded = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(headers.authorization ?? '')?.[1]
        return encoded !== undefined && sameDigest(expected, Buffer.from(encoded, 'base64').toString('utf8')) ? OK : refusal
      }
    }
  }
}

const OK: InboundVerdict = { ok: true }

function unauthorized (challenge: string, message: string): InboundVerdict {
  return { ok: false, status: 401, challenge, message }
}

/** Hashing both sides first gives equal lengths, so timingSafeEqual leaks neither content nor length. */
function digest (value: string): Buffer {
  return createHash('sha256').update(value).digest()
}

function sameDigest (expected: Buffer, presented: string): boolean {
  return timingSafeEqual(expected, digest(presented))
}
