#!/usr/bin/env node
// Offline try-it: the test upstream (an OpenAI-compatible fake) plus the gateway pointed at it.
// No OpenAI key is needed: the gateway holds the fake's key, exactly as it would hold a real one.
import { spawn } from 'node:child_process'
import { startFakeOpenAI } from '../dist/demo/fake-openai.js'

const KEY = 'sk-demo-upstream-key'
const upstream = await startFakeOpenAI({ apiKey: KEY, port: Number(process.env.DEMO_UPSTREAM_PORT ?? 8787) })
const gateway = spawn(process.execPath, [
  new URL('../dist/cli.js', import.meta.url).pathname,
  'run', new URL('../capabilities/chat-completions.yaml', import.meta.url).pathname,
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
