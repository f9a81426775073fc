import { spawn } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.js'
import { CHAT_CAPABILITY, CHAT_NAMESPACE, startGateway, type Gateway } from '../helpers/gateway.js'

/** The official MCP conformance suite (needs Node 22, fetched from the npm registry by npx). */
const SUITE = ['-y', '-p', 'node@22', '-p', '@modelcontextprotocol/conformance@0.1.16', 'conformance', 'server']
const SCENARIOS = ['server-initialize', 'ping', 'tools-list', 'dns-rebinding-protection', 'server-sse-multiple-streams']

let upstream: FakeOpenAI
let gateway: Gateway

beforeAll(async () => {
  upstream = await startFakeOpenAI({ apiKey: 'sk-conformance' })
  gateway = await startGateway(CHAT_CAPABILITY, {
    flags: { 'base-uri': [`${CHAT_NAMESPACE}=${upstream.url}`] },
    env: { CHATGPT_API_KEY: 'sk-conformance' },
  })
})

afterAll(async () => {
  await gateway?.close()
  await upstream?.close()
})

function runScenario (url: string, scenario: string): Promise<{ code: number | null, output: string }> {
  return new Promise((resolve) => {
    const child = spawn('npx', [...SUITE, '--url', url, '--scenario', scenario], { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d: Buffer) => { output += d.toString() })
    child.stderr.on('data', (d: Buffer) => { output += d.toString() })
    child.on('close', (code) => resolve({ code, output }))
  })
}

describe('MCP conformance suite against the gateway', () => {
  // the first run downloads Node 22 and the suite; later runs come from the npx cache
  it.each(SCENARIOS)('passes %s', { timeout: 240_000 }, async (scenario) => {
    // the DNS-rebinding scenario expects a localhost URL
    const url = gateway.url('mcp').replace('127.0.0.1', 'localhost')
    const { code, output } = await runScenario(url, scenario)
    expect(output, output).toMatch(/Test Results:\s*\n\s*Passed: \d+\/\d+, 0 failed/)
    expect(code, output).toBe(0)
  })
})
