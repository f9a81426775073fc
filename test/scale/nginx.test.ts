import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI from 'openai'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCliServing, type ServingCli } from '../helpers/cli.js'
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.js'
import { CHAT_CAPABILITY, CHAT_NAMESPACE } from '../helpers/gateway.js'
import { freePort } from '../helpers/loopback.js'
import { connectLegacyClient, connectModernClient } from '../helpers/mcp-clients.js'

/**
 * Scale-out: two gateway processes behind a real nginx (round-robin, loopback). The gateway keeps no
 * per-client state, so the openai SDK and both MCP client generations work across the replicas,
 * streaming included; both replicas' metrics show traffic; killing one mid-run loses no request that
 * nginx can retry before any byte was sent. `.ci/run` installs nginx (Debian's nginx-light).
 */
const NGINX = (() => {
  try {
    return execFileSync('sh', ['-c', 'command -v nginx || ls /usr/sbin/nginx'], { encoding: 'utf8' }).trim().split('\n')[0] ?? ''
  } catch {
    return ''
  }
})()
if (NGINX === '') console.warn('scale-out suite skipped: nginx is not installed (.ci/run installs it with apt-get)')

const KEY = 'sk-scale-out-0000000000000000'
const TOOL = 'chatgpt-create-chat-completion'

const hostPort = (url: string): string => new URL(url).host

function nginxConfig (dir: string, ports: { rest: number, mcp: number }, replicas: ServingCli[]): string {
  const servers = (type: 'rest' | 'mcp'): string => replicas
    .map((r) => `    server ${hostPort(r.addresses.find((a) => a.type === type)?.url ?? '')} max_fails=1 fail_timeout=10s;`).join('\n')
  const proxy = (upstream: string): string => `
    location / {
      proxy_pass http://${upstream};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_buffering off;
      proxy_read_timeout 30s;
      # a replica that fails before answering: the request goes to the other one, POST included
      proxy_next_upstream error timeout non_idempotent;
    }`
  return `
daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream rest {
${servers('rest')}
    keepalive 16;
  }
  upstream mcp {
${servers('mcp')}
    keepalive 16;
  }
  server {
    listen 127.0.0.1:${ports.rest};${proxy('rest')}
  }
  server {
    listen 127.0.0.1:${ports.mcp};${proxy('mcp')}
  }
}
`
}

describe.skipIf(NGINX === '')('two replicas behind nginx', () => {
  let upstream: FakeOpenAI
  const replicas: ServingCli[] = []
  let nginx: ChildProcess
  let rest: string
  let mcp: string

  beforeAll(async () => {
    upstream = await startFakeOpenAI({ apiKey: KEY })
    for (let i = 0; i < 2; i++) {
      replicas.push(await startCliServing(['run', CHAT_CAPABILITY, '--port', 'rest=0', '--port', 'mcp=0', '--control-port', '0', '--base-uri', `${CHAT_NAMESPACE}=${upstream.url}`, '--log-level', 'warn'], { CHATGPT_API_KEY: KEY }, { exposes: 3, upstreams: 1 }))
    }
    const ports = { rest: await freePort(), mcp: await freePort() }
    const dir = mkdtempSync(join(tmpdir(), 'naftiko-nginx-'))
    writeFileSync(join(dir, 'nginx.conf'), nginxConfig(dir, ports, replicas))
    nginx = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] })
    rest = `http://127.0.0.1:${ports.rest}`
    mcp = `http://127.0.0.1:${ports.mcp}/mcp`
    for (let i = 0; i < 100; i++) {
      const up = await request(`${rest}/v1/models`).then(async (r) => { await r.body.dump(); return true }, () => false)
      if (up) break
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }, 60_000)

  afterAll(async () => {
    nginx?.kill('SIGTERM')
    await Promise.allSettled(replicas.map((r) => r.stop()))
    await upstream?.close()
  })

  const metricsOf = async (replica: ServingCli): Promise<number> => {
    const control = replica.addresses.find((a) => a.type === 'control')?.url ?? ''
    const text = await (await request(`${control}/metrics`)).body.text()
    return [...text.matchAll(/^naftiko_requests_total\{[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0)
  }

  it('serves the openai SDK (plain and streaming) and both MCP clients across the replicas', async () => {
    const openai = new OpenAI({ apiKey: 'not-the-upstream-key', baseURL: `${rest}/v1`, maxRetries: 0 })
    for (let i = 0; i < 24; i++) {
      const completion = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `call ${i}` }] })
      expect(completion.choices[0]?.message.content).toContain(`call ${i}`)
    }
    for (let i = 0; i < 8; i++) {
      const stream = await openai.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: `stream ${i}` }] })
      let text = ''
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? ''
      expect(text).toContain(`stream ${i}`)
    }
    for (const connect of [connectLegacyClient, connectModernClient]) {
      const client = await connect(mcp)
      try {
        for (let i = 0; i < 12; i++) {
          const result = await client.callTool(TOOL, { body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `${client.era} ${i}` }] } })
          expect(result.isError ?? false).toBe(false)
          expect(JSON.stringify(result.structuredContent)).toContain(`${client.era} ${i}`)
        }
      } finally {
        await client.close()
      }
    }
    const counts = await Promise.all(replicas.map(metricsOf))
    // round-robin: each replica answered a good share of the 56 calls and the MCP handshakes
    for (const count of counts) expect(count).toBeGreaterThanOrEqual(15)
  }, 120_000)

  it('loses no request when a replica dies mid-run: nginx retries what it had not answered', async () => {
    const openai = new OpenAI({ apiKey: 'x', baseURL: `${rest}/v1`, maxRetries: 0 })
    const before = upstream.requests.length
    let done = 0
    const calls = Array.from({ length: 40 }, async (_, i) => {
      // slow answers keep requests in flight on both replicas when one dies
      const completion = await openai.chat.completions.create({ model: 'fake-slow:150', messages: [{ role: 'user', content: `survive ${i}` }] })
      done++
      return completion.choices[0]?.message.content ?? ''
    })
    const answered = (): number => done
    while (answered() < 8) await new Promise((resolve) => setTimeout(resolve, 10))
    ;(replicas[0] as ServingCli).child.kill('SIGKILL')
    const answers = await Promise.all(calls)
    answers.forEach((text, i) => expect(text).toContain(`survive ${i}`))
    // every call reached the upstream at least once (when the dead replica had calls in flight,
    // nginx sent them again to the other one, and the upstream saw more than 40)
    expect(upstream.requests.length - before).toBeGreaterThanOrEqual(40)
  }, 120_000)
})
