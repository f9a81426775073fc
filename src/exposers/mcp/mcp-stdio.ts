import * as sdk from '@modelcontextprotocol/server'
import { serveStdio } from '@modelcontextprotocol/server/stdio'
import type { McpExpose } from '../../capability/model.js'
import { CallRegistry } from './call-registry.js'
import { serverFactory, type McpExposerOptions } from './mcp-exposer.js'
import type { PreparedTool } from './mcp-tools.js'

/** `transport: stdio`: the same tools on stdin/stdout; logs stay on stderr. */
export function startMcpStdioExposer (expose: McpExpose, tools: ReadonlyMap<string, PreparedTool>, options: McpExposerOptions): { close (): Promise<void> } {
  const log = options.logger.child({ expose: expose.namespace })
  return serveStdio(serverFactory(sdk, tools, { ...options, logger: log }, { calls: new CallRegistry(), connection: undefined }), {
    onerror: (err) => log.error({ err }, 'mcp stdio error'),
  })
}
