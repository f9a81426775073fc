import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Pool } from 'undici'
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.js'
import { CHAT_CAPABILITY, CHAT_NAMESPACE } from '../helpers/gateway.js'
import { startCli, type RunningCli } from '../helpers/cli.js'

/**
 * Load, against the gateway as its own process (so its memory is its own): many concurrent streams
 * complete intact, and a long run of plain requests leaves resident memory flat. The figures are
 * printed, and quoted in the README's operations section.
 */
const KEY = 'sk-load-test-key'
const STREAMS = 500
const PLAIN = 50_000

let upstream: FakeOpenAI
let cli: RunningCli
let rest: string

function rssMb (pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN)
  return Math.round(kb / 102.4) / 10
}

beforeAll(async () => {
  upstream = await startFakeOpenAI({ apiKey: KEY })
  cli = await startCli(['run', CHAT_CAPABILITY, '--port', 'rest=0', '--port', 'mcp=0', '--log-level', 'warn', '--base-uri', `${CHAT_NAMESPACE}=${upstream.url}`], { CHATGPT_API_KEY: KEY }, 2)
  rest = cli.urls.get('rest') ?? ''
})

afterAll(async () => {
  cli?.child.kill('SIGTERM')
  await cli?.exited
  await upstream?.close()
})

const body = (model: string, content: string, stream = false): string =>
  JSON.stringify({ model, stream, messages: [{ role: 'user', content }] })

describe.skipIf(process.platform !== 'linux')('under load', () => {
  it(`completes ${STREAMS} concurrent streams intact`, { timeout: 120_000 }, async () => {
    const pool = new Pool(rest, { connections: STREAMS })
    const started = performance.now()
    const results = await Promise.all(Array.from({ length: STREAMS }, async (_, i) => {
      const words = `stream ${i} alpha beta gamma delta`
      const { statusCode, body: stream } = await pool.request({
        path: '/v1/chat/completions',
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: body('fake-stream-delay:20', words, true),
      })
      let text = ''
      for await (const chunk of stream) text += (chunk as Buffer).toString()
      const content = [...text.matchAll(/^data: (\{.*\})$/gm)]
        .map((m) => (JSON.parse(m[1] as string) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? '')
        .join('')
      return { statusCode, done: text.trimEnd().endsWith('data: [DONE]'), intact: content === `echo: ${words}` }
    }))
    const seconds = (performance.now() - started) / 1000
    await pool.close()
    console.log(`load: ${STREAMS} concurrent streams in ${seconds.toFixed(2)} s, gateway RSS ${rssMb(cli.child.pid ?? 0)} MB`)
    expect(results.filter((r) => r.statusCode !== 200)).toEqual([])
    expect(results.filter((r) => !r.done || !r.intact)).toEqual([])
  })

  it(`keeps resident memory flat over ${PLAIN} plain requests`, { timeout: 240_000 }, async () => {
    const pool = new Pool(rest, { connections: 32, pipelining: 1 })
    const pid = cli.child.pid ?? 0
    const run = async (count: number): Promise<number> => {
      let next = 0
      let failures = 0
      await Promise.all(Array.from({ length: 32 }, async () => {
        while (next < count) {
          next++
          const { statusCode, body: answer } = await pool.request({ path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json' }, body: body('gpt-4o-mini', 'hello') })
          await answer.text()
          if (statusCode !== 200) failures++
        }
      }))
      return failures
    }
    // warm up: JIT, pools and buffers reach their working size
    expect(await run(5_000)).toBe(0)
    await sleep(500)
    const before = rssMb(pid)
    const started = performance.now()
    expect(await run(PLAIN)).toBe(0)
    const seconds = (performance.now() - started) / 1000
    await sleep(500)
    const after = rssMb(pid)
    await pool.close()
    console.log(`load: ${PLAIN} plain requests in ${seconds.toFixed(1)} s (${Math.round(PLAIN / seconds)} req/s with the test upstream on the same cores), gateway RSS ${before} MB -> ${after} MB`)
    expect(after).toBeLessThan(before * 1.15 + 5)
  })
})
