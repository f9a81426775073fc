// The gateway under measurement: `node dist/cli.js run capabilities/chat-completions.yaml` in its
// own process, REST and MCP on free loopback ports, its upstream base URI set to the bench's.
import { cleanEnv, startNode } from './processes.mjs'

export const CAPABILITY = 'capabilities/chat-completions.yaml'
export const NAMESPACE = 'chat-completions-chat-completions'
export const API_KEY = 'sk-bench-0000000000000000'

/** Resolves the started process with `rest` (the chat completions URL) and `mcp` (the MCP URL). */
export async function startGateway (upstreamOrigin, { logLevel, nodeArgs = [], wrap = [], logFile, name = 'naftiko' } = {}) {
  const args = ['dist/cli.js', 'run', CAPABILITY, '--port', 'rest=0', '--port', 'mcp=0', '--base-uri', `${NAMESPACE}=${upstreamOrigin}/v1`]
  if (logLevel !== undefined) args.push('--log-level', logLevel)
  const g = await startNode(args, {
    name,
    nodeArgs,
    wrap,
    env: cleanEnv({ CHATGPT_API_KEY: API_KEY }),
    logFile,
    ready: (out) => {
      const rest = /rest \S+ listening on (\S+)/.exec(out)
      const mcp = /mcp \S+ listening on (\S+)/.exec(out)
      return rest !== null && mcp !== null ? { rest: `${rest[1]}/v1/chat/completions`, mcp: mcp[1] } : undefined
    },
  })
  return { ...g, rest: g.value.rest, mcp: g.value.mcp }
}
