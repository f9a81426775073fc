import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, writeCapability, type Gateway } from '../helpers/gateway.js'

/**
 * Mock outputs (a tool or operation with no call whose outputs carry `value`s): the answer is built
 * from the values, templates filled from the inputs, each typed as declared; no upstream is called.
 */
const CAPABILITY = `
naftiko: "1.0.0-alpha2"
capability:
  exposes:
    - type: rest
      namespace: mock-rest
      port: 0
      resources:
        - path: /ships/{{imo}}
          inputParameters:
            - { name: imo, in: path, type: string }
          operations:
            - method: GET
              inputParameters:
                - { name: tonnage, in: query, type: string }
                - { name: active, in: query, type: string }
              outputParameters:
                - { name: imo, type: string, value: "{{imo}}" }
                - { name: label, type: string, value: "Ship {{imo}}" }
                - { name: tonnage, type: number, value: "{{tonnage}}" }
                - { name: active, type: boolean, value: "{{active}}" }
                - { name: year, type: number, value: "2008" }
  consumes: []
`

describe('mock outputs', () => {
  let gateway: Gateway
  beforeAll(async () => {
    gateway = await startGateway(await writeCapability(CAPABILITY), { flags: { port: ['mock-rest=0'] } })
  })
  afterAll(async () => { await gateway.close() })

  const get = async (path: string): Promise<unknown> => {
    const answer = await request(`${gateway.url('rest')}${path}`)
    expect(answer.statusCode).toBe(200)
    return await answer.body.json()
  }

  it('answers from the values, typed as declared', async () => {
    expect(await get('/ships/IMO9321483?tonnage=51200&active=true'))
      .toEqual({ imo: 'IMO9321483', label: 'Ship IMO9321483', tonnage: 51200, active: true, year: 2008 })
  })

  it('keeps a text that is not of the declared type as it is, and an absent input as null', async () => {
    expect(await get('/ships/IMO1?tonnage=heavy')).toEqual({ imo: 'IMO1', label: 'Ship IMO1', tonnage: 'heavy', active: null, year: 2008 })
  })

  it('refuses a path parameter over 2,048 bytes with the envelope, a request id and a log line', async () => {
    const answer = await request(`${gateway.url('rest')}/ships/${'x'.repeat(2049)}`)
    expect(answer.statusCode).toBe(400)
    expect(await answer.body.json()).toMatchObject({ error: { code: 'invalid_request', message: 'A path parameter is longer than 2048 bytes.' } })
    const id = answer.headers['x-naftiko-request-id']
    expect(id).toMatch(/^[0-9a-f-]{36}$/)
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(gateway.logs.entries().filter((e) => e.msg === 'request' && e.reqId === id)).toMatchObject([{ status: 400, route: null }])
  })
})
