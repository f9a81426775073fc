import { describe, expect, it } from 'vitest'
import { buildRedactor } from '../../src/bindings/redact.js'
import { UpstreamSource } from '../../src/consumers/upstream-source.js'
import { NaftikoError } from '../../src/errors/naftiko-error.js'
import { UpstreamBody } from '../../src/invocations/upstream-body.js'

const SECRET = 'sk-upstream-body-0123456789'

/** A body over a source fed by hand, as undici's parser feeds it. */
function body (limit = 1024): { source: UpstreamSource, body: UpstreamBody } {
  const source = new UpstreamSource(() => {}, () => {})
  return { source, body: new UpstreamBody(source, buildRedactor([SECRET]), false, limit) }
}

describe('UpstreamBody whole reads', () => {
  it('gives the body itself, without a promise, when the answer is in already (scanned)', () => {
    const { source, body: whole } = body()
    source.push(Buffer.from('{"key":"'))
    source.push(Buffer.from(`${SECRET}"}`))
    source.finish()
    const text = whole.text()
    expect(text).toBe('{"key":"[redacted]"}')
  })

  it('gives a single chunk as it is', () => {
    const { source, body: whole } = body()
    const chunk = Buffer.from('{"a":1}')
    source.push(chunk)
    source.finish()
    expect(whole.whole()).toBe(chunk)
  })

  it('gives a promise while the answer is still arriving, settled by its end or its failure', async () => {
    const late = body()
    const pending = late.body.text()
    expect(pending).toBeInstanceOf(Promise)
    late.source.push(Buffer.from(`{"b":"${SECRET.slice(0, 10)}`))
    late.source.push(Buffer.from(`${SECRET.slice(10)}"}`))
    late.source.finish()
    await expect(pending).resolves.toBe('{"b":"[redacted]"}')

    const broken = body()
    const failing = broken.body.text()
    broken.source.fail(new Error('socket hang up'))
    await expect(failing).rejects.toThrow('socket hang up')
  })

  it('fails as a rejected promise, also when the failure is known at once (too large)', async () => {
    const { source, body: whole } = body(8)
    source.push(Buffer.from('{"much":"too long"}'))
    source.finish()
    const read = whole.text()
    expect(read).toBeInstanceOf(Promise)
    await expect(read).rejects.toBeInstanceOf(NaftikoError)
    await expect(read).rejects.toMatchObject({ code: 'upstream_response_too_large' })
  })
})
