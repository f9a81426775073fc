// The orchestration row: a two-step capability whose steps are independent runs them at once, so an
// answer takes about as long as the slower step, not the sum; the answer equals the one a chain of
// the same calls gives (the steps are read in declaration order either way).
import http from 'node:http'
import { once } from 'node:events'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { request } from 'undici'
import { median } from './measure.mjs'
import { cleanEnv, startNode } from './processes.mjs'

export const STEP_DELAY_MS = 50

const capability = (origin) => `
naftiko: "1.0.0-alpha2"
capability:
  consumes:
    - type: http
      namespace: fleet
      baseUri: "${origin}"
      resources:
        - name: ships
          path: /ships
          operations:
            - { name: ship, method: GET }
        - name: crew
          path: /crew
          operations:
            - { name: crew, method: GET }
        - name: crew-of
          path: /crew-of
          operations:
            - name: crew-of
              method: GET
              inputParameters:
                - { name: ship, in: query }
  exposes:
    - type: rest
      namespace: bench
      port: 0
      resources:
        - path: /one
          operations:
            - { method: GET, call: fleet.ship }
        - path: /both
          operations:
            - method: GET
              steps:
                - { type: call, name: ship, call: fleet.ship }
                - { type: call, name: crew, call: fleet.crew }
              mappings:
                - { targetName: name, value: "$.ship.name" }
                - { targetName: crew, value: "$.crew.names" }
        - path: /chain
          operations:
            - method: GET
              steps:
                - { type: call, name: ship, call: fleet.ship }
                - type: call
                  name: crew
                  call: fleet.crew-of
                  with: { ship: "{{ship.name}}" }
              mappings:
                - { targetName: name, value: "$.ship.name" }
                - { targetName: crew, value: "$.crew.names" }
`

/** An upstream whose every answer takes STEP_DELAY_MS. */
async function slowUpstream () {
  const server = http.createServer((req, res) => {
    const body = req.url.startsWith('/ships') ? { name: 'Northern Star' } : { names: ['Ada', 'Grace'] }
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    }, STEP_DELAY_MS)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { server, origin: `http://127.0.0.1:${server.address().port}` }
}

/** Median wall time of `count` sequential calls of each route, in ms, and each route's answer. */
export async function measureOrchestration ({ count = 40 } = {}) {
  const upstream = await slowUpstream()
  const dir = mkdtempSync(path.join(tmpdir(), 'naftiko-bench-'))
  const file = path.join(dir, 'orchestration.yaml')
  writeFileSync(file, capability(upstream.origin))
  const gateway = await startNode(['dist/cli.js', 'run', file, '--port', 'bench=0', '--log-level', 'warn'], {
    name: 'naftiko (orchestration)',
    env: cleanEnv(),
    ready: (out) => /rest \S+ listening on (\S+)/.exec(out)?.[1],
  })
  try {
    const result = {}
    for (const route of ['one', 'both', 'chain']) {
      const url = `${gateway.value}/${route}`
      const times = []
      let answer
      for (let i = 0; i < count; i++) {
        const started = performance.now()
        const res = await request(url)
        answer = await res.body.text()
        times.push(performance.now() - started)
      }
      result[route] = { ms: median(times), answer }
    }
    return { ...result, same: result.both.answer === result.chain.answer, delayMs: STEP_DELAY_MS }
  } finally {
    await gateway.stop()
    upstream.server.close()
  }
}
