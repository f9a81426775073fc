#!/usr/bin/env node
// Offline try-it: the test upstream (an OpenAI-compatible fake) plus the gateway pointed at it.
// No OpenAI key is needed: the gateway holds the fake's key, exactly as it would hold a real one.
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url))
const FAKE = new URL('../.demo/fake-openai.js', import.meta.url)

if (!existsSync(CLI)) {
  console.error('demo: dist/cli.js is missing: run `npm ci` (or `npm run build`) first')
  process.exit(1)
}
buildFakeUpstream()
const { startFakeOpenAI } = await import(FAKE.href)

const KEY = 'sk-demo-upstream-key'
const upstream = await startFakeOpenAI({ apiKey: KEY, port: Number(process.env.DEMO_UPSTREAM_PORT ?? 8787) })
const gateway = spawn(process.execPath, [
  CLI,
  'run', fileURLToPath(new URL('../capabilities/chat-completions.yaml', import.meta.url)),
  '--base-uri', `chat-completions-chat-completions=${upstream.url}`,
  ...process.argv.slice(2),
], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, CHATGPT_API_KEY: KEY } })

console.log(`demo upstream (OpenAI-compatible fake) on ${upstream.url}; Ctrl-C stops both`)
console.log('try:  curl -s localhost:8080/v1/chat/completions -H \'content-type: application/json\' -d \'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}\'')

const stop = () => gateway.kill('SIGTERM')
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
gateway.on('exit', async (code) => {
  await upstream.close()
  process.exit(code ?? 0)
})

/**
 * Compiles the fake upstream (test/helpers/fake-openai.ts) into .demo/ only when the output is
 * missing or older than its source or config: tsc took about 10 of the demo's 17 s to start.
 */
function buildFakeUpstream () {
  const inputs = ['test/helpers/fake-openai.ts', 'tsconfig.demo.json', 'tsconfig.json'].map((f) => statSync(new URL(`../${f}`, import.meta.url)).mtimeMs)
  if (existsSync(FAKE) && statSync(FAKE).mtimeMs >= Math.max(...inputs)) return
  console.log('demo: compiling the fake upstream into .demo/ (once, about 10 s)')
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.demo.json'], { cwd: ROOT, stdio: 'inherit' })
}
