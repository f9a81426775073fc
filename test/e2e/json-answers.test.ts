import { createServer, type Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, writeCapability, type Gateway } from '../helpers/gateway.js'
import { listenOnLoopback } from '../helpers/loopback.js'
import { CLIENTS, type McpSdkClient } from '../helpers/mcp-clients.js'

/**
 * An upstream's JSON answer relayed as it is, whatever its kind: REST sends the text back, MCP gives
 * the text and the structured content (an object as it is, any other value under `result`), on the
 * path served without the SDK and on the SDK's (a call with progress). Text that is not JSON is text.
 */
const DEEP = '['.repeat(600) + ']'.repeat(600)
const ANSWERS: Record<string, { body: string, structured?: unknown }> = {
  object: { body: ' \n{"a": [1, 2.5, "é"], "b": null}', structured: { a: [1, 2.5, 'é'], b: null } },
  // line breaks between tokens: a 2025-era answer is one SSE data line, which they must not end
  pretty: { body: '{\r\n  "a": {\n    "b": [1, "x\\ny"]\r  }\n}\n', structured: { a: { b: [1, 'x\ny'] } } },
  array: { body: '[1, {"x": true}]', structured: { result: [1, { x: true }] } },
  string: { body: '"just text"', structured: { result: 'just text' } },
  number: { body: '42', structured: { result: 42 } },
  null: { body: 'null', structured: { result: null } },
  empty: { body: '', structured: { result: null } },
  deep: { body: DEEP, structured: { result: JSON.parse(DEEP) as unknown } },
  'not-json': { body: '{"a": 1,}' },
}

let upstream: Server
let gateway: Gateway

beforeAll(async () => {
  upstream = createServer((req, res) => {
    const answer = ANSWERS[(req.url ?? '').split('/').pop() ?? '']
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(answer?.body ?? '')
  })
  const origin = await listenOnLoopback(upstream)
  const file = await writeCapability(`naftiko: 1.0.0-alpha2
capability:
  consumes:
  - type: http
    namespace: up
    baseUri: https://up.example
    resources:
    - name: answers
      path: /answers/{kind}
      operations:
      - name: answer
        method: GET
        inputParameters:
        - name: kind
          in: path
  exposes:
  - type: rest
    namespace: api
    port: 0
    resources:
    - path: /answers/{kind}
      operations:
      - method: GET
        call: up.answer
  - type: mcp
    namespace: tools
    port: 0
    tools:
    - name: answer
      description: One kind of JSON answer
      call: up.answer
      inputParameters:
      - name: kind
        type: string
        required: true
`)
  gateway = await startGateway(file, { flags: { 'base-uri': [`up=${origin}`] } })
})

afterAll(async () => {
  await gateway?.close()
  upstream?.close()
})

const kinds = Object.keys(ANSWERS)

describe('JSON answers of every kind', () => {
  it.each(kinds)('%s over REST: the upstream\'s text as it is', async (kind) => {
    const response = await fetch(`${gateway.url('rest')}/answers/${kind}`)
    expect(response.status).toBe(200)
    expect(await response.text()).toBe(ANSWERS[kind]?.body)
  })

  describe.each(CLIENTS)('over MCP with the %s', (_name, connect) => {
    let client: McpSdkClient
    beforeAll(async () => { client = await connect(gateway.url('mcp')) })
    afterAll(async () => { await client?.close() })

    it.each(kinds)('%s: the text, and the structured content, without and with progress', async (kind) => {
      const answer = ANSWERS[kind] as { body: string, structured?: unknown }
      for (const options of [undefined, { onprogress: () => {} }]) {
        const result = await client.callTool('answer', { kind }, options)
        expect(result.isError, JSON.stringify(result).slice(0, 200)).toBeFalsy()
        expect(result.content).toEqual([{ type: 'text', text: answer.body }])
        expect(result.structuredContent).toEqual(answer.structured)
      }
    })
  })
})
