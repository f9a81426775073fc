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

/** `@modelcontextprotocol/sdk` 1.x: the 2025-era initialize handshake; `headers` go on every request (inbound credentials). */
export async function connectLegacyClient (url: string, headers: Record<string, string> = {}): Promise<McpTestClient> {
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
    close: () => client.close(),
  }
}

/** `@modelcontextprotocol/client` 2.x: 2026-07-28, stateless `server/discover`; `headers` go on every request. */
export async function connectModernClient (url: string, headers: Record<string, string> = {}): Promise<McpTestClient> {
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
    close: () => client.close(),
  }
}

export const CLIENTS = [
  ['2025-era sdk 1.x client', connectLegacyClient],
  ['2026-07-28 client 2.x', connectModernClient],
] as const
