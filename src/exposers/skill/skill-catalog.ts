import { stringify } from 'yaml'
import type { CapabilityModel, Skill, SkillExpose, SkillTool } from '../../capability/model.js'

/** How a skill tool is invoked: the sibling expose and the operation or tool it names. */
export type ToolInvocation =
  | { readonly type: 'mcp', readonly namespace: string, readonly tool: string }
  | { readonly type: 'rest', readonly namespace: string, readonly operation: string, readonly method: string, readonly path: string }

export interface CatalogTool {
  readonly name: string
  readonly description: string | undefined
  readonly type: 'derived' | 'instruction'
  readonly invocation?: ToolInvocation
  /** the instruction file, relative to the skill's files */
  readonly instruction?: string
}

export interface CatalogSkill {
  readonly name: string
  readonly description: string
  readonly [field: string]: unknown
}

/** A skill's public description: its front matter and its tools, never the server's own paths. */
export function describeSkill (skill: Skill, model: CapabilityModel): CatalogSkill & { tools: CatalogTool[] } {
  return { name: skill.name, description: skill.description, ...skill.frontMatter, tools: skill.tools.map((t) => describeTool(t, model)) }
}

/** The catalog's list entry: the description with tool names only. */
export function summarizeSkill (skill: Skill): CatalogSkill & { tools: string[] } {
  return { name: skill.name, description: skill.description, ...skill.frontMatter, tools: skill.tools.map((t) => t.name) }
}

function describeTool (tool: SkillTool, model: CapabilityModel): CatalogTool {
  if (tool.from === undefined) return { name: tool.name, description: tool.description, type: 'instruction', instruction: tool.instruction }
  const { sourceNamespace, action } = tool.from
  const source = model.exposes.find((e) => e.namespace === sourceNamespace)
  if (source?.type === 'rest') {
    const operation = source.resources.flatMap((r) => r.operations).find((o) => o.name === action)
    if (operation !== undefined) return { name: tool.name, description: tool.description, type: 'derived', invocation: { type: 'rest', namespace: sourceNamespace, operation: action, method: operation.method, path: operation.path } }
  }
  return { name: tool.name, description: tool.description, type: 'derived', invocation: { type: 'mcp', namespace: sourceNamespace, tool: action } }
}

/**
 * A SKILL.md for a skill whose location has none (or that has no location): the Agent Skills front
 * matter, then the description and the tools, so that a downloaded skill is complete.
 */
export function skillMarkdown (skill: Skill, model: CapabilityModel): string {
  const front = stringify({ name: skill.name, description: skill.description, ...skill.frontMatter }).trimEnd()
  const lines = ['---', front, '---', '', `# ${skill.name}`, '', skill.description, '']
  if (skill.tools.length > 0) {
    lines.push('## Tools', '')
    for (const tool of skill.tools.map((t) => describeTool(t, model))) {
      const how = tool.invocation === undefined
        ? `instructions in \`${tool.instruction ?? ''}\``
        : tool.invocation.type === 'mcp'
          ? `MCP tool \`${tool.invocation.tool}\` of \`${tool.invocation.namespace}\``
          : `\`${tool.invocation.method} ${tool.invocation.path}\` on \`${tool.invocation.namespace}\``
      lines.push(`- **${tool.name}**: ${tool.description ?? ''} (${how})`)
    }
    lines.push('')
  }
  return lines.join('\n')
}

export function skillsOf (expose: SkillExpose): ReadonlyMap<string, Skill> {
  return new Map(expose.skills.map((s) => [s.name, s]))
}
