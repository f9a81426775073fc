// Start and idle memory against the minimal proxy, measured the same way in each round: spawn the
// proxy and time it to its first 200 answer, then the gateway the same way; 1 s later, with both
// idle, read their RSS. The last gateway stays up for the memory rows that follow.
import { rmSync } from 'node:fs'
import path from 'node:path'
import { request } from 'undici'
import { ROOT, rssOf } from './processes.mjs'

/**
 * `startProxy()` / `startGateway()` resolve a started process with `url` and `startedAt`;
 * `request`: { headers, body } of the first request. Returns the times (ms) and RSS (bytes) of every
 * round, the gateway's first start without its code cache (`coldStartup`), and `fresh`, the gateway
 * of the last round, still running.
 */
export async function measureStartAndIdle ({ startProxy, startGateway, rounds, first, idleMs = 1000 }) {
  const m = { startups: [], proxyStartups: [], idleRounds: [], proxyIdleRounds: [], fresh: undefined }
  // the first start after a build has no code cache to read (it writes one as it stops): timed on
  // its own, before the rounds, which all find the cache
  rmSync(path.join(ROOT, 'dist/.compile-cache'), { recursive: true, force: true })
  const cold = await startGateway()
  m.coldStartup = await firstAnswer(cold, first)
  await cold.stop()
  for (let i = 0; i < rounds; i++) {
    const p = await startProxy()
    m.proxyStartups.push(await firstAnswer(p, first))
    const g = await startGateway()
    m.startups.push(await firstAnswer(g, first))
    await new Promise((resolve) => setTimeout(resolve, idleMs))
    m.idleRounds.push(rssOf(g.pid))
    m.proxyIdleRounds.push(rssOf(p.pid))
    await p.stop()
    if (i < rounds - 1) await g.stop()
    else m.fresh = g
  }
  return m
}

/** ms from spawning the process to the first 200 answer of a chat completion through it */
async function firstAnswer (proc, { headers, body }) {
  const res = await request(proc.url, { method: 'POST', headers, body })
  await res.body.arrayBuffer()
  if (res.statusCode !== 200) throw new Error(`first answer was ${res.statusCode}`)
  return performance.now() - proc.startedAt
}
