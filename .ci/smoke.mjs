#!/usr/bin/env node
// Smoke test of the built CLI on the Node that runs this script (CI runs it on Node 22 and 24 with
// `npx -y -p node@22 node .ci/smoke.mjs`; the suites run on the machine's Node): --version,
// validate of the example capabilities, then `run` against the benchmark's fake OpenAI upstream,
// one REST and one MCP call, and a clean stop. Prints one line; exit 1 on the first failure.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const CLI = 'dist/cli.js'
const KEY = 'sk-smoke-0000000000000000'
const TOOL = 'chatgpt-create-chat-completion'
const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] }
const children = new Set()
const deadline = setTimeout(() => fail('took longer than 30 s'), 30_000)

try {
  const version = await exec([CLI, '--version'])
  const expected = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version
  if (version.stdout.trim() !== expected) fail(`--version printed "${version.stdout.trim()}", not ${expected}`)

  const examples = ['capabilities/chat-completions.yaml', 'capabilities/openai.yaml', 'capabilities/public-holidays.yaml']
  const validate = await exec([CLI, 'validate', ...examples])
  if (validate.code !== 0) fail(`validate exited ${validate.code}: ${validate.stdout}${validate.stderr}`)

  const upstream = await start(['bench/upstream.mjs'], {}, (out) => /listening (\d+)/.exec(out)?.[1])
  const gateway = await start([CLI, 'run', examples[0], '--port', 'rest=0', '--port', 'mcp=0', '--log-level', 'warn',
    '--base-uri', `chat-completions-chat-completions=http://127.0.0.1:${upstream.value}/v1`], { CHATGPT_API_KEY: KEY }, (out) => {
    const rest = /rest \S+ listening on (\S+)/.exec(out)?.[1]
    const mcp = /mcp \S+ listening on (\S+)/.exec(out)?.[1]
    return rest !== undefined && mcp !== undefined ? { rest, mcp } : undefined
  })

  const rest = await fetch(`${gateway.value.rest}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chat) })
  const restBody = await rest.text()
  if (rest.status !== 200 || !restBody.includes('"chat.completion"')) fail(`REST answered ${rest.status}: ${restBody.slice(0, 200)}`)

  const mcp = await fetch(gateway.value.mcp, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: TOOL, arguments: { body: chat } } }),
  })
  const mcpBody = await mcp.text()
  if (mcp.status !== 200 || !mcpBody.includes('chatcmpl-') || mcpBody.includes('"isError":true')) fail(`MCP answered ${mcp.status}: ${mcpBody.slice(0, 200)}`)

  gateway.child.kill('SIGTERM')
  const [code] = await once(gateway.child, 'exit')
  if (code !== 0) fail(`naftiko exited ${code} on SIGTERM`)
  upstream.child.kill('SIGTERM')
  console.log(`smoke ${process.version}: --version ${expected}, validate of ${examples.length} examples, run: REST 200, MCP tools/call, clean stop: ok`)
  clearTimeout(deadline)
} catch (err) {
  fail(err.stack ?? String(err))
}

function fail (message) {
  for (const child of children) child.kill('SIGKILL')
  console.error(`smoke ${process.version}: FAIL: ${message}`)
  process.exit(1)
}

/** Runs `node ...args` (this Node) in the repository root to completion. */
async function exec (args) {
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => { stdout += d })
  child.stderr.on('data', (d) => { stderr += d })
  const [code] = await once(child, 'close')
  return { code, stdout, stderr }
}

/** Starts `node ...args` and resolves once `ready(stdoutSoFar)` returns a value. */
function start (args, env, ready) {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  child.once('exit', () => children.delete(child))
  let out = ''
  let err = ''
  child.stderr.on('data', (d) => { err += d })
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d
      const value = ready(out)
      if (value !== undefined) resolve({ child, value })
    })
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code} before it was ready: ${err.slice(-500)}`)))
  })
}
