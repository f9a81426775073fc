import type { MappedOutput, McpExpose, McpTool } from '../../capability/model.js'
import type { CallInputs, UpstreamWatch } from '../../expressions/call-context.js'
import { normalizeName } from '../../expressions/template.js'
import type { TraceContext } from '../../expressions/trace-context.js'
import { compileInvocation, type Invocation, type InvocationContext } from '../../invocations/compile-invocation.js'
import { buildInputSchema, compileArgumentCheck, type ArgumentCheck, type JsonSchemaObject } from './mcp-tool-schema.js'

/** The wire definition of a tool, as `tools/list` returns it. */
export interface ToolDefinition {
  name: string
  title?: string
  description?: string
  inputSchema: JsonSchemaObject
  outputSchema?: Record<string, unknown>
  annotations?: Record<string, boolean>
}

/** Everything a tool needs on the request path, built once at startup. */
export interface PreparedTool {
  readonly definition: ToolDefinition
  /** `tools/call NAME`: the call's label in metrics (built once, not per call) */
  readonly route: string
  readonly checkArguments: ArgumentCheck
  readonly invocation: Invocation
}

const HINTS = { readOnly: 'readOnlyHint', destructive: 'destructiveHint', idempotent: 'idempotentHint', openWorld: 'openWorldHint' } as const

export function prepareTools (expose: McpExpose, context: InvocationContext): Map<string, PreparedTool> {
  const tools = new Map<string, PreparedTool>()
  for (const tool of expose.tools) {
    const invocation = compileInvocation(tool, context)
    const inputSchema = buildInputSchema(tool, invocation.operation?.definition, context.scope)
    const definition: ToolDefinition = { name: tool.name, inputSchema }
    if (tool.label !== undefined) definition.title = tool.label
    if (tool.description !== undefined) definition.description = tool.description
    const annotations = toolAnnotations(tool)
    if (annotations !== undefined) definition.annotations = annotations
    const outputSchema = outputSchemaOf(tool.outputParameters)
    if (outputSchema !== undefined) definition.outputSchema = outputSchema
    for (const name of Object.keys(inputSchema.properties)) DECLARED.set(name, normalizeName(name))
    tools.set(definition.name, { definition, route: `tools/call ${definition.name}`, checkArguments: compileArgumentCheck(inputSchema), invocation })
  }
  return tools
}

/** `hints` -> MCP annotations; only the hints the capability sets. */
function toolAnnotations (tool: McpTool): Record<string, boolean> | undefined {
  const out: Record<string, boolean> = {}
  for (const [hint, annotation] of Object.entries(HINTS)) {
    const value = tool.hints[hint as keyof typeof HINTS]
    if (typeof value === 'boolean') out[annotation] = value
  }
  return Object.keys(out).length > 0 ? out : undefined
}

/** An output schema only where the mapping declares an object shape (MCP requires an object root). */
function outputSchemaOf (outputs: readonly MappedOutput[]): Record<string, unknown> | undefined {
  if (outputs.length !== 1) return undefined
  const root = outputs[0] as MappedOutput
  const properties = root.properties ?? (typeof root.mapping === 'object' ? root.mapping?.properties : undefined)
  if (root.type !== 'object' || properties === undefined) return undefined
  // the root of an output schema is an object: 2025-era clients wrap anything else in {result}
  return { ...shapeSchema(root), type: 'object' }
}

function shapeSchema (node: MappedOutput): Record<string, unknown> {
  const properties = node.properties ?? (typeof node.mapping === 'object' ? node.mapping?.properties : undefined)
  const items = node.items ?? (typeof node.mapping === 'object' ? node.mapping?.items : undefined)
  if (properties !== undefined) {
    return { type: ['object', 'null'], properties: Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, shapeSchema(v)])) }
  }
  if (items !== undefined) return { type: 'array', items: shapeSchema(items) }
  // mapped values may be missing in a response: a scalar shape admits null
  switch (node.type) {
    case 'string': case 'number': case 'integer': case 'boolean': return { type: [node.type, 'null'] }
    default: return {}
  }
}

/** The declared arguments' names, normalized once at startup (bounded: only names capabilities declare). */
const DECLARED = new Map<string, string>()

/** Tool arguments as call inputs, looked up by normalized name. */
export class McpInputs implements CallInputs {
  private readonly byName = new Map<string, unknown>()
  readonly body: unknown

  constructor (args: Record<string, unknown>, readonly trace?: TraceContext, readonly watch?: UpstreamWatch) {
    for (const key of Object.keys(args)) {
      const name = DECLARED.get(key) ?? normalizeName(key)
      if (!this.byName.has(name)) this.byName.set(name, args[key])
    }
    this.body = args.body
  }

  get (name: string): unknown { return this.byName.get(name) }
}
