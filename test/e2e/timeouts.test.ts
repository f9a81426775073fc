import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client'
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.js'
import { CHAT_CAPABILITY, CHAT_NAMESPACE, startGateway, type Gateway } from '../helpers/gateway.js'

const KEY = 'sk-timeouts-upstream'
let upstream: FakeOpenAI
let gateway: Gateway

beforeAll(async () => {
  upstream = await startFakeOpenAI({ apiKey: KEY })
  gateway = await startGateway(CHAT_CAPABILITY, {
    flags: { 'base-uri': [`${CHAT_NAMESPACE}=${upstream.url}`], 'upstream-timeout': '300', 'body-timeout': '300' },
    env: { CHATGPT_API_KEY: KEY },
  })
})

afterAll(async () => {
  await gateway?.close()
  await upstream?.close()
})

const ask = (model: string, stream = false): string => JSON.stringify({ model, stream, messages: [{ role: 'user', content: 'a b c' }] })

describe('timeouts', () => {
  it('answers 504 upstream_timeout soon after --upstream-timeout and aborts the upstream request', async () => {
    const index = upstream.requests.length
    const started = performance.now()
    const response = await fetch(`${gateway.url()}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: ask('fake-hang') })
    expect(response.status).toBe(504)
    expect((await response.json() as { error: { code: string } }).error.code).toBe('upstream_timeout')
    expect(performance.now() - started).toBeLessThan(1500)
    await upstream.waitForRequests(index + 1)
    expect(await upstream.waitForAbort(index, 2000)).toBeGreaterThanOrEqual(0)
  })

  it('cuts a stream that stays silent past --body-timeout so the client sees an error', async () => {
    // 1 s between chunks against a 300 ms body timeout
    const response = await fetch(`${gateway.url()}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: ask('fake-stream-delay:1000', true) })
    expect(response.status).toBe(200)
    let text = ''
    const read = (async () => {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) text += Buffer.from(chunk).toString()
    })()
    await expect(read).rejects.toThrow()
    expect(text).toContain('upstream_stream_broken')
    expect(text).not.toContain('[DONE]')
  })

  it('reports an upstream timeout to an MCP client as a tool error', async () => {
    const client = new Client({ name: 'timeouts', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } })
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url('mcp'))))
    const result = await client.callTool({ name: 'chatgpt-create-chat-completion', arguments: { body: { model: 'fake-slow:2000', messages: [{ role: 'user', content: 'x' }] } } })
    await client.close()
    expect(result.isError).toBe(true)
    expect(JSON.stringify(result.content)).toContain('upstream_timeout')
  })
})
