import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from '@modelcontextprotocol/client'
import { Client as LegacyClient } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport as LegacyTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'

/** The calls the tests make, on either SDK generation. */
export interface McpTestClient {
  era: string
  listTools (): Promise<{ tools: Array<Record<string, unknown> & { name: string }> }>
  callTool (name: string, args: Record<string, unknown>, options?: { onprogress?: (p: { progress: number, message?: string }) => void, signal?: AbortSignal }): Promise<Record<string, unknown>>
  close (): Promise<void>
}

/** The SDK clients below: tools, and resources and prompts. */
export interface McpSdkClient extends McpTestClient {
  /** what the server said it serves (initialize or server/discover) */
  capabilities (): Record<string, unknown> | undefined
  listResources (): Promise<{ resources: Array<Record<string, unknown> & { uri: string }> }>
  listResourceTemplates (): Promise<{ resourceTemplates: Array<Record<string, unknown> & { uriTemplate: string }> }>
  readResource (uri: string): Promise<{ contents: Array<{ uri: string, mimeType?: string, text?: string, blob?: string }> }>
  listPrompts (): Promise<{ prompts: Array<Record<string, unknown> & { name: string }> }>
  getPrompt (name: string, args?: Record<string, string>): Promise<{ description?: string, messages: Array<{ role: string, content: { type: string, text?: string } }> }>
}

/** `@modelcontextprotocol/sdk` 1.x: the 2025-era initialize handshake; `headers` go on every request (inbound credentials). */
export async function connectLegacyClient (url: string, headers: Record<string, string> = {}): Promise<McpSdkClient> {
  const client = new LegacyClient({ name: 'naftiko-test-legacy', version: '1.0.0' })
  await client.connect(new LegacyTransport(new URL(url), { requestInit: { headers } }))
  return {
    era: '2025 (sdk 1.x)',
    listTools: async () => await client.listTools() as never,
    callTool: async (name, args, options) => await client.callTool({ name, arguments: args }, undefined, {
      onprogress: options?.onprogress,
      signal: options?.signal,
      resetTimeoutOnProgress: true,
    }) as never,
    capabilities: () => client.getServerCapabilities() as never,
    listResources: async () => await client.listResources() as never,
    listResourceTemplates: async () => await client.listResourceTemplates() as never,
    readResource: async (uri) => await client.readResource({ uri }) as never,
    listPrompts: async () => await client.listPrompts() as never,
    getPrompt: async (name, args) => await client.getPrompt({ name, ...(args === undefined ? {} : { arguments: args }) }) as never,
    close: () => client.close(),
  }
}

/** `@modelcontextprotocol/client` 2.x: 2026-07-28, stateless `server/discover`; `headers` go on every request. */
export async function connectModernClient (url: string, headers: Record<string, string> = {}): Promise<McpSdkClient> {
  // without a pinned version the 2.x client speaks the 2025 handshake by default
  const client = new ModernClient({ name: 'naftiko-test-modern', version: '2.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } })
  await client.connect(new ModernTransport(new URL(url), { requestInit: { headers } }))
  return {
    era: '2026-07-28 (client 2.x)',
    listTools: async () => await client.listTools() as never,
    callTool: async (name, args, options) => await client.callTool({ name, arguments: args }, {
      onprogress: options?.onprogress,
      signal: options?.signal,
      resetTimeoutOnProgress: true,
    } as never) as never,
    capabilities: () => client.getServerCapabilities() as never,
    listResources: async () => await client.listResources() as never,
    listResourceTemplates: async () => await client.listResourceTemplates() as never,
    readResource: async (uri) => await client.readResource({ uri }) as never,
    listPrompts: async () => await client.listPrompts() as never,
    getPrompt: async (name, args) => await client.getPrompt({ name, ...(args === undefined ? {} : { arguments: args }) }) as never,
    close: () => client.close(),
  }
}

export const CLIENTS = [
  ['2025-era sdk 1.x client', connectLegacyClient],
  ['2026-07-28 client 2.x', connectModernClient],
] as const
