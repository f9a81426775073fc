import type { JWTVerifyGetKey } from 'jose'
import type { OAuthSettings } from '../../capability/model.js'
import { NaftikoError } from '../../errors/naftiko-error.js'
import type { InboundCheck, InboundVerdict } from './inbound-auth.js'

export interface ResourceServer {
  check: InboundCheck
  /** RFC 9728 protected resource metadata, served at `metadataPaths` */
  metadata: Record<string, unknown>
  metadataPaths: string[]
}

const WELL_KNOWN = '/.well-known/oauth-protected-resource'

/**
 * `authentication: {type: oauth2}` on an MCP expose: an OAuth 2.1 resource server as the MCP
 * authorization spec asks. Access tokens are JWTs checked against the authorization server's JWKS
 * (found through its RFC 8414 / OpenID metadata, fetched on first use and cached by jose), with
 * issuer, audience (the `audience`, else the `resource`), expiry and the configured scopes checked.
 */
export function buildResourceServer (auth: OAuthSettings): ResourceServer {
  const issuer = auth.authorizationServerUri.replace(/\/$/, '')
  const audience = auth.audience ?? auth.resource
  const required = auth.scopes ?? []
  const resourceUrl = new URL(auth.resource)
  const resourcePath = resourceUrl.pathname === '/' ? '' : resourceUrl.pathname.replace(/\/$/, '')
  const metadataUrl = `${resourceUrl.origin}${WELL_KNOWN}${resourcePath}`
  const base = `Bearer resource_metadata="${metadataUrl}"`
  let keys: Promise<JWTVerifyGetKey> | undefined

  const refuse = (status: 401 | 403, error: string | undefined, description: string, extra = ''): InboundVerdict => ({
    ok: false,
    status,
    challenge: error === undefined ? base : `Bearer error="${error}", error_description="${description}"${extra}, resource_metadata="${metadataUrl}"`,
    message: description,
  })

  const check: InboundCheck = async (headers) => {
    const token = /^Bearer\s+(\S+)$/i.exec(headers.authorization ?? '')?.[1]
    if (token === undefined) return refuse(401, undefined, 'An OAuth access token is required.')
    keys ??= discoverKeys(issuer).catch((err: unknown) => {
      keys = undefined
      throw err
    })
    const jose = await loadJose()
    let payload: Record<string, unknown>
    try {
      payload = (await jose.jwtVerify(token, await keys, { issuer: [issuer, `${issuer}/`], audience })).payload
    } catch (err) {
      if (err instanceof NaftikoError) throw err
      if (err instanceof jose.errors.JOSEError && !(err instanceof jose.errors.JWKSTimeout)) {
        return refuse(401, 'invalid_token', 'The access token is not valid for this resource.')
      }
      throw new NaftikoError('upstream_unreachable', 'The authorization server could not be reached to check the access token.', { cause: err })
    }
    const granted = new Set(typeof payload.scope === 'string' ? payload.scope.split(' ') : Array.isArray(payload.scp) ? payload.scp.map(String) : [])
    const missing = required.filter((s) => !granted.has(s))
    if (missing.length > 0) return refuse(403, 'insufficient_scope', 'The access token lacks a required scope.', `, scope="${required.join(' ')}"`)
    return { ok: true }
  }

  return {
    check,
    metadata: {
      resource: auth.resource,
      authorization_servers: [auth.authorizationServerUri],
      bearer_methods_supported: ['header'],
      ...(required.length > 0 ? { scopes_supported: required } : {}),
    },
    metadataPaths: [...new Set([WELL_KNOWN, `${WELL_KNOWN}${resourcePath}`, `${WELL_KNOWN}/mcp`])],
  }
}

/** jose is loaded on first use: a gateway without an OAuth expose does not pay its memory. */
let joseModule: Promise<typeof import('jose')> | undefined
function loadJose (): Promise<typeof import('jose')> {
  joseModule ??= import('jose')
  return joseModule
}

/** The JWKS of the authorization server, from its RFC 8414 metadata or, failing that, OpenID's. */
async function discoverKeys (issuer: string): Promise<JWTVerifyGetKey> {
  const url = new URL(issuer)
  const path = url.pathname === '/' ? '' : url.pathname
  const candidates = [
    `${url.origin}/.well-known/oauth-authorization-server${path}`,
    `${url.origin}/.well-known/openid-configuration${path}`,
    `${issuer}/.well-known/openid-configuration`,
  ]
  for (const candidate of candidates) {
    const response = await fetch(candidate, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined)
    if (response?.ok !== true) continue
    const metadata = await response.json().catch(() => undefined) as { jwks_uri?: unknown } | undefined
    if (typeof metadata?.jwks_uri === 'string') return (await loadJose()).createRemoteJWKSet(new URL(metadata.jwks_uri))
  }
  throw new NaftikoError('upstream_unreachable', 'The authorization server metadata (jwks_uri) could not be fetched.')
}
