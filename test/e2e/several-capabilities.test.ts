import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { request } from 'undici'
import { runCli, startCliServing } from '../helpers/cli.js'
import { CHAT_CAPABILITY, CHAT_NAMESPACE, writeCapability } from '../helpers/gateway.js'
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.js'

/**
 * `naftiko run a.yaml b.yaml`: several capabilities in one process, each serving its own exposes;
 * a namespace or a port two of them would share is refused before anything starts, naming both files.
 */
const KEY = 'sk-several-0000000000000000'
const ships = (namespace: string, port: number): string => `
naftiko: "1.0.0-alpha2"
capability:
  exposes:
    - type: rest
      namespace: ${namespace}
      port: ${port}
      resources:
        - path: /ships
          operations:
            - method: GET
              outputParameters:
                - { name: count, type: number, value: "3" }
  consumes: []
`

let upstream: FakeOpenAI
beforeAll(async () => { upstream = await startFakeOpenAI({ apiKey: KEY }) })
afterAll(async () => { await upstream.close() })

describe('several capabilities in one process', () => {
  it('serves every capability named, with --port and --base-uri names from any of them', async () => {
    const second = await writeCapability(ships('fleet-rest', 0))
    const cli = await startCliServing(['run', CHAT_CAPABILITY, second, '--port', 'rest=0', '--port', 'mcp=0', '--port', 'fleet-rest=0', '--base-uri', `${CHAT_NAMESPACE}=${upstream.url}`], { CHATGPT_API_KEY: KEY }, { exposes: 3, upstreams: 1 })
    try {
      const url = (namespace: string): string => cli.addresses.find((a) => a.namespace === namespace)?.url ?? ''
      const fleet = await request(`${url('fleet-rest')}/ships`)
      expect(await fleet.body.json()).toEqual({ count: 3 })
      const chat = await request(`${cli.addresses.find((a) => a.type === 'rest' && a.namespace !== 'fleet-rest')?.url ?? ''}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
      })
      expect(chat.statusCode).toBe(200)
      await chat.body.dump()
    } finally {
      expect(await cli.stop()).toBe(0)
    }
  })

  it('refuses two capabilities that would listen on one port, naming both files', async () => {
    const a = await writeCapability(ships('fleet-a', 18765), 'a.yaml')
    const b = await writeCapability(ships('fleet-b', 18765), 'b.yaml')
    const refused = await runCli(['run', a, b])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain(`${a} (expose "fleet-a") and ${b} (expose "fleet-b") would both listen on 127.0.0.1:18765`)
  })

  it('refuses a --port name no capability has', async () => {
    const a = await writeCapability(ships('fleet-a', 0), 'a.yaml')
    const refused = await runCli(['run', a, CHAT_CAPABILITY, '--port', 'fleet-x=0'])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toMatch(/--port names "fleet-x", which this capability does not have/)
  })

  it('--control-port covers every capability: metrics of each one\'s exposes, status and dashboard feed list them all', async () => {
    const a = await writeCapability(ships('fleet-a', 0), 'a.yaml')
    const b = await writeCapability(ships('fleet-b', 0), 'b.yaml')
    const cli = await startCliServing(['run', a, b, '--control-port', '0'], {}, { exposes: 3, upstreams: 0 })
    try {
      const url = (namespace: string): string => cli.addresses.find((x) => x.namespace === namespace)?.url ?? ''
      for (const ns of ['fleet-a', 'fleet-a', 'fleet-b']) await (await request(`${url(ns)}/ships`)).body.dump()
      const metrics = await (await request(`${url('control')}/metrics`)).body.text()
      expect(metrics).toContain('naftiko_requests_total{expose="fleet-a",route="/ships",status="200"} 2')
      expect(metrics).toContain('naftiko_requests_total{expose="fleet-b",route="/ships",status="200"} 1')
      const status = await (await request(`${url('control')}/status`)).body.json() as { capabilities: Array<{ file: string }>, exposes: Array<{ namespace: string }>, ready: boolean }
      expect(status.ready).toBe(true)
      expect(status.capabilities.map((c) => c.file)).toEqual([a, b])
      expect(status.exposes.map((e) => e.namespace)).toEqual(['fleet-a', 'control', 'fleet-b'])
      const feed = await (await request(`${url('control')}/dashboard/data`)).body.json() as { exposes: Array<{ namespace: string }> }
      expect(feed.exposes.map((e) => e.namespace)).toContain('fleet-b')
    } finally {
      expect(await cli.stop()).toBe(0)
    }
  })
})
