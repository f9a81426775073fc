import { stringify } from 'yaml'
import type { CapabilityModel, Skill, SkillExpose, SkillTool } from '../../capability/model.js'

/** How a skill tool is invoked (the official engine's `invocationRef`): the sibling expose, the
 * operation or tool it names, and for REST the route. */
export type ToolInvocation =
  | { readonly targetNamespace: string, readonly action: string, readonly mode: 'mcp' }
  | { readonly targetNamespace: string, readonly action: string, readonly mode: 'rest', readonly method: string, readonly path: string }

export interface CatalogTool {
  readonly name: string
  readonly description: string | undefined
  readonly type: 'derived' | 'instruction'
  readonly invocationRef?: ToolInvocation
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
    if (operation !== undefined) return { name: tool.name, description: tool.description, type: 'derived', invocationRef: { targetNamespace: sourceNamespace, action, mode: 'rest', method: operation.method, path: operation.path } }
  }
  return { name: tool.name, description: tool.description, type: 'derived', invocationRef: { targetNamespace: sourceNamespace, action, mode: 'mcp' } }
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
      const ref = tool.invocationRef
      const how = ref === undefined
        ? `instructions in \`${tool.instruction ?? ''}\``
        : ref.mode === 'mcp'
          ? `MCP tool \`${ref.action}\` of \`${ref.targetNamespace}\``
          : `\`${ref.method} ${ref.path}\` on \`${ref.targetNamespace}\``
      lines.push(`- **${tool.name}**: ${tool.description ?? ''} (${how})`)
    }
    lines.push('')
  }
  return lines.join('\n')
}

export function skillsOf (expose: SkillExpose): ReadonlyMap<string, Skill> {
  return new Map(expose.skills.map((s) => [s.name, s]))
}
