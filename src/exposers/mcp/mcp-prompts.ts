import { readFile } from 'node:fs/promises'
import type * as ServerSdk from '@modelcontextprotocol/server'
import type { Redactor } from '../../bindings/redact.js'
import { filePathOf } from '../../capability/file-location.js'
import type { McpExpose, McpPrompt } from '../../capability/model.js'
import { parseTemplate } from '../../expressions/template.js'

/** The wire form `prompts/list` returns. */
export interface PromptDefinition {
  name: string
  title?: string
  description?: string
  arguments?: Array<{ name: string, title?: string, description?: string, required: boolean }>
}

export interface PromptResult {
  description?: string
  messages: Array<{ role: 'user' | 'assistant', content: { type: 'text', text: string } }>
}

/** Everything `prompts/*` needs, built once at startup (file prompts are read then). */
export interface PreparedPrompts {
  readonly list: { prompts: PromptDefinition[] }
  /** the rendered prompt, or the problem (unknown prompt, missing required argument) as text */
  get (name: string, args: Readonly<Record<string, unknown>> | undefined): PromptResult | string
}

/** A message as literal text and argument names, in order. */
type CompiledText = ReadonlyArray<string | { argument: string }>

interface CompiledPrompt {
  prompt: McpPrompt
  messages: Array<{ role: 'user' | 'assistant', text: CompiledText }>
  required: string[]
}

/**
 * Prompts render `{{argument}}` placeholders (the format's one template syntax, parsed by
 * expressions/template.ts) from the client's arguments. A value is inserted as literal text: a
 * `{{...}}` inside a value is never expanded. An optional argument that is not given renders as
 * an empty string. A file prompt's text, read when the gateway starts, is one `user` message.
 */
export async function preparePrompts (expose: McpExpose, capabilityPath: string, redactor: Redactor): Promise<PreparedPrompts> {
  const compiled = new Map<string, CompiledPrompt>()
  const prompts: PromptDefinition[] = []
  for (const prompt of expose.prompts) {
    const messages = prompt.source.kind === 'template'
      ? prompt.source.messages.map((m) => ({ role: m.role, text: compileText(m.content) }))
      : [{ role: 'user' as const, text: compileText(await readFile(filePathOf(prompt.source.location, capabilityPath), 'utf8')) }]
    compiled.set(prompt.name, { prompt, messages, required: prompt.arguments.filter((a) => a.required).map((a) => a.name) })
    const definition: PromptDefinition = { name: prompt.name }
    if (prompt.label !== undefined) definition.title = prompt.label
    if (prompt.description !== undefined) definition.description = prompt.description
    if (prompt.arguments.length > 0) {
      definition.arguments = prompt.arguments.map((a) => ({
        name: a.name,
        ...(a.label === undefined ? {} : { title: a.label }),
        ...(a.description === undefined ? {} : { description: a.description }),
        required: a.required,
      }))
    }
    prompts.push(definition)
  }
  return {
    list: { prompts },
    get (name, args = {}) {
      const entry = compiled.get(name)
      if (entry === undefined) return `Prompt ${name} not found.`
      for (const required of entry.required) {
        if (args[required] === undefined || args[required] === null) return `Missing required argument "${required}" for prompt "${name}".`
      }
      const result: PromptResult = {
        messages: entry.messages.map((m) => ({ role: m.role, content: { type: 'text', text: redactor.redact(render(m.text, args)) } })),
      }
      if (entry.prompt.description !== undefined) result.description = entry.prompt.description
      return result
    },
  }
}

/** Registers `prompts/list` and `prompts/get` on one SDK server; a refused get is InvalidParams. */
export function servePrompts (server: ServerSdk.Server, sdk: typeof ServerSdk, prompts: PreparedPrompts): void {
  const { ProtocolError, ProtocolErrorCode } = sdk
  server.setRequestHandler('prompts/list', () => prompts.list as never)
  server.setRequestHandler('prompts/get', (request) => {
    const result = prompts.get(request.params.name, request.params.arguments)
    if (typeof result === 'string') throw new ProtocolError(ProtocolErrorCode.InvalidParams, result)
    return result as never
  })
}

function compileText (text: string): CompiledText {
  return parseTemplate(text).map((part) => typeof part === 'string' ? part : { argument: part.token })
}

function render (text: CompiledText, args: Readonly<Record<string, unknown>>): string {
  let out = ''
  for (const part of text) {
    if (typeof part === 'string') { out += part; continue }
    const value = args[part.argument]
    out += value === undefined || value === null ? '' : String(value)
  }
  return out
}
