import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.js'
import { CHAT_CAPABILITY, CHAT_NAMESPACE, startGateway, writeCapability, type Gateway } from '../helpers/gateway.js'

/** Who may cancel a tool call: the principal when the expose authenticates, else the same client. */
const KEY = 'sk-cancel-scope-0123456789'
const TOKEN = 'gw-cancel-scope-token-0123456789'
const TOOL = 'chatgpt-create-chat-completion'
const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' }

let upstream: FakeOpenAI

beforeAll(async () => {
  upstream = await startFakeOpenAI({ apiKey: KEY })
})

afterAll(async () => {
  await upstream?.close()
})

/** A slow tool call with id 7, and a cancellation of id 7 sent 300 ms later with `cancelHeaders`. */
async function callAndCancel (url: string, callHeaders: Record<string, string>, cancelHeaders: Record<string, string>): Promise<string> {
  const call = fetch(url, {
    method: 'POST',
    headers: { ...HEADERS, ...callHeaders },
    body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: TOOL, arguments: { body: { model: 'fake-slow:1500', messages: [{ role: 'user', content: 'hi' }] } } } }),
  }).then((r) => r.text())
  await new Promise((resolve) => setTimeout(resolve, 300))
  await fetch(url, { method: 'POST', headers: { ...HEADERS, ...cancelHeaders }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 7 } }) })
  return call
}

describe('MCP cancellation scope', () => {
  let open: Gateway
  let closed: Gateway

  beforeAll(async () => {
    open = await startGateway(CHAT_CAPABILITY, { flags: { 'base-uri': [`${CHAT_NAMESPACE}=${upstream.url}`] }, env: { CHATGPT_API_KEY: KEY } })
    const text = (await import('node:fs/promises').then((fs) => fs.readFile(CHAT_CAPABILITY, 'utf8')))
      .replace('binds:\n- namespace: env\n  keys:\n', 'binds:\n- namespace: env\n  keys:\n    GATEWAY_TOKEN: GATEWAY_TOKEN\n')
      .replace('    transport: http\n', '    transport: http\n    authentication:\n      type: bearer\n      token: \'{{GATEWAY_TOKEN}}\'\n')
    closed = await startGateway(await writeCapability(text), { flags: { 'base-uri': [`${CHAT_NAMESPACE}=${upstream.url}`] }, env: { CHATGPT_API_KEY: KEY, GATEWAY_TOKEN: TOKEN } })
  })

  afterAll(async () => {
    await open?.close()
    await closed?.close()
  })

  it('without inbound authentication, another client (another user agent) cannot cancel a call', async () => {
    const answer = await callAndCancel(open.url('mcp'), { 'user-agent': 'client-a' }, { 'user-agent': 'client-b' })
    expect(answer).toContain('chatcmpl-')
    expect(answer).not.toContain('cancelled')
  })

  it('without inbound authentication, the same client cancels its call', async () => {
    const answer = await callAndCancel(open.url('mcp'), { 'user-agent': 'client-a' }, { 'user-agent': 'client-a' })
    expect(answer).toContain('The call was cancelled.')
  })

  it('with inbound authentication, the principal cancels its call from any connection or user agent', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` }
    const answer = await callAndCancel(closed.url('mcp'), { ...auth, 'user-agent': 'client-a' }, { ...auth, 'user-agent': 'client-b' })
    expect(answer).toContain('The call was cancelled.')
  })
})
