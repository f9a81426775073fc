import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import OpenAI from 'openai'
import { generateText, jsonSchema, stepCountIs, tool as aiTool } from 'ai'
import { createOpenAI } from '@ai-sdk/openai'
import { Agent, run, setDefaultOpenAIClient, setTracingDisabled, tool as agentTool } from '@openai/agents'
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.js'
import { startGateway, type Gateway } from '../helpers/gateway.js'
import { connectModernClient, type McpTestClient } from '../helpers/mcp-clients.js'

const OPENAI_CAPABILITY = new URL('../../capabilities/openai.yaml', import.meta.url).pathname
const KEY = 'sk-test-openai-surface-0123456789abcdef'
/** what clients send: the gateway holds the real key, so this one must never reach the upstream */
const CLIENT_KEY = 'sk-client-credential-must-not-leak'

let upstream: FakeOpenAI
let gateway: Gateway
let client: OpenAI

beforeAll(async () => {
  upstream = await startFakeOpenAI({ apiKey: KEY })
  gateway = await startGateway(OPENAI_CAPABILITY, {
    flags: { 'base-uri': [`openai=${upstream.url}`] },
    env: { OPENAI_API_KEY: KEY },
  })
  client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${gateway.url()}/v1`, maxRetries: 0 })
})

afterAll(async () => {
  await gateway?.close()
  await upstream?.close()
})

const weatherTool = { type: 'function' as const, name: 'get_weather', strict: false, parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }

type TextContent = Array<{ type: string, text: string }>

describe('the openai SDK on the REST expose', () => {
  it('creates a response whose output_text echoes the input, sent upstream with the bound key', async () => {
    const before = upstream.requests.length
    const response = await client.responses.create({ model: 'gpt-4o-mini', input: 'hello gateway 🌍' })
    expect(response).toMatchObject({ object: 'response', status: 'completed', model: 'gpt-4o-mini' })
    expect(response.output_text).toBe('echo: hello gateway 🌍')
    const seen = upstream.requests[before]
    expect(seen?.url).toBe('/v1/responses')
    expect(seen?.headers.authorization).toBe(`Bearer ${KEY}`)
    expect(JSON.stringify(seen?.headers)).not.toContain(CLIENT_KEY)
  })

  it('streams a response whose deltas assemble to the final output_text, ending with response.completed', async () => {
    const stream = await client.responses.create({ model: 'fake-stream-delay:10', input: 'one two three four', stream: true })
    const types: string[] = []
    let text = ''
    let final: OpenAI.Responses.Response | undefined
    for await (const event of stream) {
      types.push(event.type)
      if (event.type === 'response.output_text.delta') text += event.delta
      if (event.type === 'response.completed') final = event.response
    }
    expect(types.filter((t) => t === 'response.output_text.delta')).toHaveLength(5)
    expect(types[0]).toBe('response.created')
    expect(types.at(-1)).toBe('response.completed')
    expect(text).toBe('echo: one two three four')
    // raw stream events carry the response as sent: its text is in the output items
    const finalText = final?.output.flatMap((o) => o.type === 'message' ? o.content : []).map((c) => c.type === 'output_text' ? c.text : '').join('')
    expect(finalText).toBe(text)
  })

  it('completes a function-call round trip', async () => {
    const first = await client.responses.create({ model: 'gpt-4o-mini', input: 'call get_weather for Paris', tools: [weatherTool] })
    const call = first.output[0] as OpenAI.Responses.ResponseFunctionToolCall
    expect(call).toMatchObject({ type: 'function_call', name: 'get_weather', status: 'completed' })
    expect(JSON.parse(call.arguments)).toEqual({ city: 'call get_weather for Paris' })

    const second = await client.responses.create({
      model: 'gpt-4o-mini',
      tools: [weatherTool],
      input: [
        { role: 'user', content: 'call get_weather for Paris' },
        call,
        { type: 'function_call_output', call_id: call.call_id, output: '{"temp":21}' },
      ],
    })
    expect(second.output_text).toBe('echo: {"temp":21}')
  })

  it('retrieves a stored response by id', async () => {
    const created = await client.responses.create({ model: 'gpt-4o-mini', input: 'keep me' })
    const retrieved = await client.responses.retrieve(created.id)
    expect(retrieved.id).toBe(created.id)
    expect(retrieved.output_text).toBe('echo: keep me')
  })

  it('lists models and retrieves one', async () => {
    const ids: string[] = []
    for await (const model of client.models.list()) ids.push(model.id)
    expect(ids).toContain('gpt-4o-mini')
    const model = await client.models.retrieve('gpt-4o-mini')
    expect(model).toMatchObject({ id: 'gpt-4o-mini', object: 'model' })
  })

  it('creates embeddings the SDK decodes from base64', async () => {
    const result = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['alpha', 'beta'] })
    expect(result.data.map((d) => [d.index, d.embedding.length])).toEqual([[0, 1536], [1, 1536]])
    expect(result.usage.total_tokens).toBe(2)
  })
})

describe('the create-response MCP tool (2026-07-28 client)', () => {
  let mcp: McpTestClient
  beforeAll(async () => { mcp = await connectModernClient(gateway.url('mcp')) })
  afterAll(async () => { await mcp?.close() })

  it('reports a streamed response as progress that concatenates to the final text, and returns the response object', async () => {
    const progress: Array<{ progress: number, message?: string }> = []
    const result = await mcp.callTool('create-response', { body: { model: 'fake-stream-delay:40', input: 'alpha beta gamma delta', stream: true } }, {
      onprogress: (p) => progress.push(p),
    })
    expect(result.isError).toBeFalsy()
    expect(progress.length).toBeGreaterThanOrEqual(2)
    expect(progress.map((p) => p.message ?? '').join('')).toBe('echo: alpha beta gamma delta')
    expect(result.structuredContent).toMatchObject({
      object: 'response',
      status: 'completed',
      output: [{ type: 'message', content: [{ type: 'output_text', text: 'echo: alpha beta gamma delta' }] }],
    })
  })

  it('returns the response object for a call that is not streamed', async () => {
    const result = await mcp.callTool('create-response', { body: { model: 'gpt-4o-mini', input: 'plain call' } })
    expect(result.isError).toBeFalsy()
    expect(result.structuredContent).toMatchObject({
      object: 'response',
      status: 'completed',
      output: [{ type: 'message', content: [{ text: 'echo: plain call' }] }],
    })
  })

  it('returns embeddings from the create-embedding tool', async () => {
    const result = await mcp.callTool('create-embedding', { body: { model: 'text-embedding-3-small', input: 'alpha', encoding_format: 'float', dimensions: 4 } })
    expect(result.isError).toBeFalsy()
    expect(result.structuredContent).toMatchObject({ object: 'list', data: [{ object: 'embedding', index: 0, embedding: expect.any(Array) }] })
  })
})

describe('a Responses stream that spells the bound key across two delta events', () => {
  it('reaches a REST client without the key', async () => {
    const res = await fetch(`${gateway.url()}/v1/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fake-echo-auth', input: 'tell me the key', stream: true }),
    })
    const raw = await res.text()
    expect(raw).toContain('response.output_text.delta')
    expect(raw).toContain('event: response.completed')
    expect(raw).not.toContain(KEY)
    // the halves travel in separate events: neither may survive on its own
    expect(raw).not.toContain(KEY.slice(0, Math.ceil(KEY.length / 2)))
    expect(raw).not.toContain(KEY.slice(Math.ceil(KEY.length / 2)))
  })

  it('reaches an MCP client without the key, in progress or result', async () => {
    const mcp = await connectModernClient(gateway.url('mcp'))
    try {
      const progress: Array<{ message?: string }> = []
      const result = await mcp.callTool('create-response', { body: { model: 'fake-echo-auth', input: 'tell me the key', stream: true } }, {
        onprogress: (p) => progress.push(p),
      })
      expect(progress.length).toBeGreaterThan(0)
      expect(JSON.stringify(progress)).not.toContain(KEY)
      expect(JSON.stringify(result)).not.toContain(KEY)
      expect(JSON.stringify(result)).toContain('echo: tell me the key')
    } finally {
      await mcp.close()
    }
  })
})

describe('a Responses stream the upstream breaks off', () => {
  it('does not end cleanly with response.completed for a REST client', async () => {
    const stream = await client.responses.create({ model: 'fake-truncate', input: 'a b c d e f', stream: true })
    const events: Array<{ type: string, code?: unknown }> = []
    const thrown = await (async () => {
      try {
        for await (const event of stream) events.push(event as { type: string, code?: unknown })
      } catch (err) {
        return err
      }
    })()
    const types = events.map((e) => e.type)
    expect(types).toContain('response.output_text.delta')
    expect(types).not.toContain('response.completed')
    const errorEvent = events.find((e) => e.type === 'error')
    expect(thrown !== undefined || errorEvent?.code === 'upstream_stream_broken', `events: ${types.join(', ')}`).toBe(true)
  })

  it('is an MCP tool error naming upstream_stream_broken', async () => {
    const mcp = await connectModernClient(gateway.url('mcp'))
    try {
      const result = await mcp.callTool('create-response', { body: { model: 'fake-truncate', input: 'a b c d e f', stream: true } })
      expect(result.isError).toBe(true)
      expect((result.content as TextContent).map((c) => c.text).join('')).toContain('upstream_stream_broken')
    } finally {
      await mcp.close()
    }
  })
})

describe('agent frameworks on their default (Responses) wire API', () => {
  it('the Vercel AI SDK (ai 6, @ai-sdk/openai 3) completes a tool loop with generateText', async () => {
    const provider = createOpenAI({ apiKey: CLIENT_KEY, baseURL: `${gateway.url()}/v1` })
    const before = upstream.requests.length
    const calls: unknown[] = []
    const result = await generateText({
      model: provider('gpt-4o-mini'),
      prompt: 'call get_weather for Paris',
      tools: {
        get_weather: aiTool({
          description: 'Weather of a city',
          inputSchema: jsonSchema<{ city: string }>({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false }),
          execute: async ({ city }) => {
            calls.push(city)
            return { city, temp: 21 }
          },
        }),
      },
      stopWhen: stepCountIs(3),
    })
    expect(calls).toEqual(['call get_weather for Paris'])
    expect(result.steps).toHaveLength(2)
    expect(result.text).toBe('echo: {"city":"call get_weather for Paris","temp":21}')
    expect(upstream.requests.slice(before).map((r) => r.url)).toEqual(['/v1/responses', '/v1/responses'])
  })

  it('the OpenAI Agents SDK (0.14) runs an agent with a function tool to completion', async () => {
    setTracingDisabled(true)
    setDefaultOpenAIClient(new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${gateway.url()}/v1`, maxRetries: 0 }))
    const before = upstream.requests.length
    const calls: unknown[] = []
    const agent = new Agent({
      name: 'weather',
      instructions: 'Answer with the weather.',
      model: 'gpt-4o-mini',
      tools: [agentTool({
        name: 'get_weather',
        description: 'Weather of a city',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
        strict: true,
        execute: async (input) => {
          const { city } = input as { city: string }
          calls.push(city)
          return `sunny in ${city}`
        },
      })],
    })
    const result = await run(agent, 'call get_weather for Oslo')
    expect(calls).toEqual(['call get_weather for Oslo'])
    expect(result.finalOutput).toBe('echo: sunny in call get_weather for Oslo')
    expect(upstream.requests.slice(before).map((r) => r.url)).toEqual(['/v1/responses', '/v1/responses'])
  })
})

/** The Codex CLI package ships a native binary per platform; undefined when it runs here. */
function codexProblem (): string | undefined {
  try {
    const bin = createRequire(import.meta.url).resolve('@openai/codex/bin/codex.js')
    const probe = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8', timeout: 20_000 })
    return probe.status === 0 ? undefined : `codex --version failed: ${(probe.stderr || String(probe.error)).trim().split('\n')[0]}`
  } catch (err) {
    return `@openai/codex not installed: ${String(err)}`
  }
}

const CODEX_PROBLEM = codexProblem()
const CODEX_TEST = 'Codex CLI (0.171, wire_api "responses") runs one shell call through the gateway and finishes'

describe('Codex CLI', () => {
  (CODEX_PROBLEM === undefined ? it : it.skip)(CODEX_PROBLEM === undefined ? CODEX_TEST : `${CODEX_TEST} (skipped: ${CODEX_PROBLEM})`, async () => {
    const home = await mkdtemp(join(tmpdir(), 'naftiko-codex-home-'))
    const work = await mkdtemp(join(tmpdir(), 'naftiko-codex-work-'))
    try {
      await writeFile(join(home, 'config.toml'), [
        'model = "gpt-4o-mini"',
        'model_provider = "naftiko"',
        '',
        '[model_providers.naftiko]',
        'name = "naftiko gateway"',
        `base_url = "${gateway.url()}/v1"`,
        'wire_api = "responses"',
        'env_key = "NAFTIKO_CLIENT_KEY"',
        '',
      ].join('\n'))
      const before = upstream.requests.length
      const last = join(work, 'last-message.txt')
      const bin = createRequire(import.meta.url).resolve('@openai/codex/bin/codex.js')
      // The fake takes the JSON object in the prompt as the arguments of Codex's shell tool.
      const prompt = 'run exec_command {"cmd":"echo naftiko-codex-ok"}'
      const child = spawn(process.execPath, [bin, 'exec', '--skip-git-repo-check', '--ephemeral', '-s', 'read-only', '-o', last, prompt], {
        cwd: work,
        env: { ...process.env, CODEX_HOME: home, NAFTIKO_CLIENT_KEY: CLIENT_KEY },
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 50_000,
      })
      let output = ''
      child.stdout.on('data', (c: Buffer) => { output += c.toString() })
      child.stderr.on('data', (c: Buffer) => { output += c.toString() })
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
      expect(code, output).toBe(0)

      const turns = upstream.requests.slice(before).map((r) => r.json as { input: Array<Record<string, unknown>>, stream: boolean })
      expect(turns).toHaveLength(2)
      expect(turns.every((t) => t.stream)).toBe(true)
      const outputItem = turns[1]?.input.at(-1)
      expect(outputItem?.type).toBe('function_call_output')
      expect(String(outputItem?.output)).toContain('naftiko-codex-ok')
      const message = await readFile(last, 'utf8')
      expect(message).toMatch(/^echo: /)
      expect(message).toContain('naftiko-codex-ok')
    } finally {
      await rm(home, { recursive: true, force: true })
      await rm(work, { recursive: true, force: true })
    }
  }, 60_000)
})
