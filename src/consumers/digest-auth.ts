import { createHash, randomBytes } from 'node:crypto'

/**
 * HTTP Digest authentication to an upstream (RFC 7616), for one consumed namespace: the first call
 * learns the challenge from the upstream's 401, and later calls answer it at once (the nonce count
 * rises per call); a stale nonce is learnt again the same way. Algorithms MD5 and SHA-256 (and
 * their -sess forms), qop `auth`.
 */
export class DigestSession {
  private challenge: Challenge | undefined
  private count = 0

  constructor (private readonly username: string, private readonly password: string) {}

  /** The Authorization header for a request, once a challenge is known. */
  authorization (method: string, uri: string): string | undefined {
    const c = this.challenge
    if (c === undefined) return undefined
    const hash = (text: string): string => createHash(c.algorithm.startsWith('SHA-256') ? 'sha256' : 'md5').update(text).digest('hex')
    const nc = (++this.count).toString(16).padStart(8, '0')
    const cnonce = randomBytes(8).toString('hex')
    let ha1 = hash(`${this.username}:${c.realm}:${this.password}`)
    if (c.algorithm.endsWith('-sess')) ha1 = hash(`${ha1}:${c.nonce}:${cnonce}`)
    const ha2 = hash(`${method}:${uri}`)
    const response = c.qop === undefined ? hash(`${ha1}:${c.nonce}:${ha2}`) : hash(`${ha1}:${c.nonce}:${nc}:${cnonce}:${c.qop}:${ha2}`)
    const parts = [`username="${this.username}"`, `realm="${c.realm}"`, `nonce="${c.nonce}"`, `uri="${uri}"`, `algorithm=${c.algorithm}`, `response="${response}"`]
    if (c.qop !== undefined) parts.push(`qop=${c.qop}`, `nc=${nc}`, `cnonce="${cnonce}"`)
    if (c.opaque !== undefined) parts.push(`opaque="${c.opaque}"`)
    return `Digest ${parts.join(', ')}`
  }

  /** Learns a challenge from a 401's WWW-Authenticate; false when it holds no Digest challenge. */
  learn (header: string | string[] | undefined): boolean {
    const text = (Array.isArray(header) ? header : [header ?? '']).find((h) => /^\s*Digest\s/i.test(h))
    if (text === undefined) return false
    const params = new Map<string, string>()
    for (const m of text.replace(/^\s*Digest\s+/i, '').matchAll(/([a-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/gi)) {
      params.set((m[1] as string).toLowerCase(), m[2] ?? m[3] ?? '')
    }
    const nonce = params.get('nonce')
    if (nonce === undefined) return false
    const qops = (params.get('qop') ?? '').split(',').map((q) => q.trim())
    this.challenge = {
      realm: params.get('realm') ?? '',
      nonce,
      opaque: params.get('opaque'),
      algorithm: params.get('algorithm')?.toUpperCase() ?? 'MD5',
      qop: qops.includes('auth') ? 'auth' : undefined,
    }
    this.count = 0
    return true
  }
}

interface Challenge { realm: string, nonce: string, opaque: string | undefined, algorithm: string, qop: 'auth' | undefined }
