import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Client as ModernClient } from '@modelcontextprotocol/client'
import { StdioClientTransport as ModernStdio } from '@modelcontextprotocol/client/stdio'
import { Client as LegacyClient } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport as LegacyStdio } from '@modelcontextprotocol/sdk/client/stdio.js'
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.js'

const CLI = new URL('../../dist/cli.js', import.meta.url).pathname
const FIXTURE = new URL('../fixtures/capabilities/valid/chat-stdio.yaml', import.meta.url).pathname
const KEY = 'sk-stdio-upstream-key'

let upstream: FakeOpenAI
beforeAll(async () => { upstream = await startFakeOpenAI({ apiKey: KEY }) })
afterAll(async () => { await upstream?.close() })

const serverParams = (): { command: string, args: string[], env: Record<string, string>, stderr: 'pipe' } => ({
  command: process.execPath,
  args: [CLI, 'run', FIXTURE, '--base-uri', `openai=${upstream.url}`],
  env: { PATH: process.env.PATH ?? '', CHATGPT_API_KEY: KEY },
  stderr: 'pipe',
})

const args = { body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'over stdio' }] } }

describe('MCP over stdio (transport: stdio)', () => {
  it('lists and calls the tool with the 2025-era sdk 1.x client', async () => {
    const client = new LegacyClient({ name: 'stdio-legacy', version: '1.0.0' })
    await client.connect(new LegacyStdio(serverParams()))
    try {
      const { tools } = await client.listTools()
      expect(tools.map((t) => t.name)).toEqual(['create-chat-completion'])
      const result = await client.callTool({ name: 'create-chat-completion', arguments: args })
      expect((result.structuredContent as { choices: Array<{ message: { content: string } }> }).choices[0]?.message.content).toBe('echo: over stdio')
    } finally {
      await client.close()
    }
  })

  it('lists and calls the tool with the 2026-07-28 client 2.x', async () => {
    const client = new ModernClient({ name: 'stdio-modern', version: '2.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } })
    await client.connect(new ModernStdio(serverParams()))
    try {
      const { tools } = await client.listTools()
      expect(tools[0]?.inputSchema).toMatchObject({ type: 'object', properties: { body: { type: 'object' } } })
      const result = await client.callTool({ name: 'create-chat-completion', arguments: args })
      expect(result.isError).toBeFalsy()
      expect(JSON.stringify(result.structuredContent)).toContain('echo: over stdio')
    } finally {
      await client.close()
    }
  })
})
