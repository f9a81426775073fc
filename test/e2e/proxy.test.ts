import { createServer, type Server } from 'node:http'
import { connect } from 'node:net'
import { once } from 'node:events'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.js'
import { CHAT_CAPABILITY, CHAT_NAMESPACE, startGateway } from '../helpers/gateway.js'

const KEY = 'sk-proxy-test-upstream'
let upstream: FakeOpenAI
let proxy: Server
let proxyUrl: string
const tunnels: string[] = []

beforeAll(async () => {
  upstream = await startFakeOpenAI({ apiKey: KEY })
  // a forward proxy that tunnels CONNECT requests, recording their targets
  proxy = createServer((_req, res) => { res.writeHead(405).end() })
  proxy.on('connect', (req, client, head) => {
    tunnels.push(req.url ?? '')
    const [host, port] = (req.url ?? '').split(':')
    const target = connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      target.write(head)
      target.pipe(client)
      client.pipe(target)
    })
    target.on('error', () => client.destroy())
    client.on('error', () => target.destroy())
  })
  proxy.listen(0, '127.0.0.1')
  await once(proxy, 'listening')
  const address = proxy.address()
  proxyUrl = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
})

afterAll(async () => {
  await upstream?.close()
  proxy?.closeAllConnections()
  proxy?.close()
})

const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'via proxy' }] })

describe('upstream calls and HTTP(S)_PROXY / NO_PROXY', () => {
  it('go through the proxy named by HTTP_PROXY', async () => {
    tunnels.length = 0
    const gateway = await startGateway(CHAT_CAPABILITY, { flags: { 'base-uri': [`${CHAT_NAMESPACE}=${upstream.url}`] }, env: { CHATGPT_API_KEY: KEY, HTTP_PROXY: proxyUrl } })
    try {
      const response = await fetch(`${gateway.url()}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
      expect(response.status, gateway.logs.text).toBe(200)
      expect(tunnels).toEqual([new URL(upstream.origin).host])
    } finally {
      await gateway.close()
    }
  })

  it('bypass the proxy for hosts in NO_PROXY', async () => {
    tunnels.length = 0
    const gateway = await startGateway(CHAT_CAPABILITY, { flags: { 'base-uri': [`${CHAT_NAMESPACE}=${upstream.url}`] }, env: { CHATGPT_API_KEY: KEY, HTTP_PROXY: proxyUrl, NO_PROXY: '127.0.0.1' } })
    try {
      const response = await fetch(`${gateway.url()}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
      expect(response.status).toBe(200)
      expect(tunnels).toEqual([])
    } finally {
      await gateway.close()
    }
  })
})
