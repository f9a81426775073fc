import { readFile } from 'node:fs/promises'
import { dirname, isAbsolute, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import type { Diagnostic, SourceMap } from '../capability/diagnostics.js'
import type { Binding, Capability } from '../capability/types.js'
import { buildBindScope, classifyToken } from './bind-scope.js'
import { templateTokens } from './template.js'

export interface ResolvedBindings {
  /** `VAR` and `namespace.VAR` -> value */
  readonly values: ReadonlyMap<string, string>
  /** Every resolved value, for redaction: none of them may appear in a log line or a response. */
  readonly secrets: readonly string[]
}

export class BindingError extends Error {
  constructor (readonly diagnostics: Diagnostic[]) {
    super(diagnostics.map((d) => `${d.file}:${d.line}:${d.col}: ${d.message}`).join('\n'))
    this.name = 'BindingError'
  }
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/

/**
 * Resolves `binds` (spec 3.19): no `location` = the process environment, `file://` = a JSON or YAML
 * file relative to the capability. A variable that the capability uses and that has no value stops
 * startup with its name and the position of the binding that declares it.
 */
export async function resolveBindings (cap: Capability, capabilityPath: string, source: SourceMap, env: NodeJS.ProcessEnv): Promise<ResolvedBindings> {
  const rootBinds = cap.binds ?? []
  const binds: Array<{ binding: Binding, path: Array<string | number> }> = [
    ...rootBinds.map((binding, i) => ({ binding, path: ['binds', i] })),
    ...(cap.capability?.binds ?? []).map((binding, i) => ({ binding, path: ['capability', 'binds', i] })),
  ]
  const used = usedVariables(cap, binds.map((b) => b.binding))
  const values = new Map<string, string>()
  const problems: Diagnostic[] = []
  const problem = (path: Array<string | number>, message: string): void => {
    const { line, col } = source.locate(path)
    problems.push({ severity: 'error', file: source.file, line, col, message })
  }

  for (const { binding, path } of binds) {
    let provider: Record<string, unknown>
    try {
      provider = await loadProvider(binding, capabilityPath, env)
    } catch (err) {
      problem([...path, 'location'], `binding "${binding.namespace}": ${(err as Error).message}`)
      continue
    }
    for (const [variable, sourceKey] of Object.entries(binding.keys ?? {})) {
      const raw = provider[sourceKey]
      const value = typeof raw === 'number' || typeof raw === 'boolean' ? String(raw) : raw
      const keyPath = [...path, 'keys', variable]
      if (typeof value !== 'string' || value === '') {
        if (!used.has(variable) && !used.has(`${binding.namespace}.${variable}`)) continue
        const where = binding.location === undefined ? `environment variable ${sourceKey}` : `key "${sourceKey}" in ${binding.location}`
        problem(keyPath, `${variable} is not set: the capability needs ${where}`)
        continue
      }
      if (CONTROL.test(value)) {
        problem(keyPath, `${variable} contains a control character (a stray newline?); refusing to send it in a request`)
        continue
      }
      if (!values.has(variable)) values.set(variable, value)
      values.set(`${binding.namespace}.${variable}`, value)
    }
  }
  if (problems.length > 0) throw new BindingError(problems)
  return { values, secrets: [...new Set(values.values())] }
}

async function loadProvider (binding: Binding, capabilityPath: string, env: NodeJS.ProcessEnv): Promise<Record<string, unknown>> {
  const location = binding.location
  if (location === undefined || location === '') return env as Record<string, unknown>
  if (!location.startsWith('file:')) throw new Error(`location scheme of ${location} is not supported (use file:// or the environment)`)
  const file = filePathOf(location, capabilityPath)
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new Error(`cannot read ${location} (${err.code ?? 'error'})`)
  })
  const data: unknown = parse(text)
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new Error(`${location} is not a JSON or YAML object`)
  return data as Record<string, unknown>
}

/** `file:///abs/x.json`, `file://./x.json` and `file://x.json` (the last two relative to the capability). */
function filePathOf (location: string, capabilityPath: string): string {
  // `file:///./shared/secrets.yaml` (the official tutorial) means a path relative to the capability
  if (location.startsWith('file:///./') || location.startsWith('file:///../')) return resolve(dirname(capabilityPath), location.slice('file:///'.length))
  if (location.startsWith('file:///')) return fileURLToPath(location)
  const rest = location.replace(/^file:(\/\/)?/, '')
  return isAbsolute(rest) ? rest : resolve(dirname(capabilityPath), rest)
}

/** Variables some `{{...}}` in the capability refers to. */
function usedVariables (cap: Capability, binds: Binding[]): Set<string> {
  const scope = buildBindScope(binds)
  const used = new Set<string>()
  const visit = (value: unknown): void => {
    if (typeof value === 'string') {
      for (const token of templateTokens(value)) if (classifyToken(token, scope) !== 'input') used.add(token)
    } else if (Array.isArray(value)) {
      for (const v of value) visit(v)
    } else if (value !== null && typeof value === 'object') {
      for (const v of Object.values(value)) visit(v)
    }
  }
  visit(cap.capability)
  return used
}
