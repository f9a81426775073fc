import { readFile } from 'node:fs/promises'
import { parse } from 'yaml'
import { compactStrings } from '../capability/one-byte-strings.js'
import type { Diagnostic, Path, SourceMap } from '../capability/diagnostics.js'
import type { Bind, CapabilityModel } from '../capability/model.js'
import { filePathOf } from '../capability/file-location.js'
import { referenceScopeOf } from '../capability/check-capability.js'
import { documentTokens } from '../expressions/references.js'
import { StartupError } from '../errors/startup-error.js'

export interface ResolvedBindings {
  /** `VAR`, `namespace.VAR` and `env.X` -> value */
  readonly values: ReadonlyMap<string, string>
  /** Every resolved value, for redaction: none of them may appear in a log line or a response. */
  readonly secrets: readonly string[]
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/

/**
 * Resolves `binds` (spec 3.19): no `location` = the process environment, `file://` = a JSON or YAML
 * file relative to the capability; and the undeclared `{{env.X}}` the lenient loader accepted, from
 * the environment. A variable the capability uses that has no value stops startup with its name and
 * the position of the binding (or the use) that needs it.
 */
export async function resolveBindings (model: CapabilityModel, document: Record<string, unknown>, capabilityPath: string, source: SourceMap, env: NodeJS.ProcessEnv): Promise<ResolvedBindings> {
  const uses = documentTokens(document.capability, ['capability'], referenceScopeOf(model))
  const used = new Set(uses.map((u) => u.reference.kind === 'variable' ? u.reference.key : ''))
  const values = new Map<string, string>()
  const problems: Diagnostic[] = []
  const problem = (path: Path, message: string): void => {
    const { line, col } = source.locate(path)
    problems.push({ severity: 'error', file: source.file, line, col, message })
  }
  const accept = (keys: string[], variable: string, value: string, at: Path): void => {
    if (CONTROL.test(value)) return problem(at, `${variable} contains a control character (a stray newline?); refusing to send it in a request`)
    for (const key of keys) if (!values.has(key)) values.set(key, value)
  }

  for (const bind of model.binds) {
    let provider: Record<string, unknown>
    try {
      provider = await loadProvider(bind, capabilityPath, env)
    } catch (err) {
      problem([...bind.at, 'location'], `binding "${bind.namespace}": ${(err as Error).message}`)
      continue
    }
    for (const [variable, sourceKey] of Object.entries(bind.keys)) {
      const raw = provider[sourceKey]
      const value = typeof raw === 'number' || typeof raw === 'boolean' ? String(raw) : raw
      const keyPath = [...bind.at, 'keys', variable]
      if (typeof value !== 'string' || value === '') {
        if (!used.has(variable) && !used.has(`${bind.namespace}.${variable}`)) continue
        const where = bind.location === undefined ? `environment variable ${sourceKey}` : `key "${sourceKey}" in ${bind.location}`
        problem(keyPath, `${variable} is not set: the capability needs ${where}`)
        continue
      }
      accept([variable, `${bind.namespace}.${variable}`], variable, value, keyPath)
    }
  }
  for (const use of uses) {
    const ref = use.reference
    if (ref.kind !== 'environment' || values.has(ref.key)) continue
    const value = env[ref.name]
    if (value === undefined || value === '') {
      problem(use.at, `${ref.name} is not set: {{${use.token}}} reads the environment variable ${ref.name}`)
      values.set(ref.key, '')
      continue
    }
    accept([ref.key], ref.name, value, use.at)
  }
  if (problems.length > 0) throw new StartupError('binding_unresolved', undefined, problems)
  return { values, secrets: [...new Set(values.values())].filter((v) => v !== '') }
}

async function loadProvider (bind: Bind, capabilityPath: string, env: NodeJS.ProcessEnv): Promise<Record<string, unknown>> {
  const location = bind.location
  if (location === undefined || location === '') return env as Record<string, unknown>
  if (!location.startsWith('file:')) throw new Error(`location scheme of ${location} is not supported (use file:// or the environment)`)
  const file = filePathOf(location, capabilityPath)
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new Error(`cannot read ${location} (${err.code ?? 'error'})`)
  })
  const data: unknown = compactStrings(parse(text))
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new Error(`${location} is not a JSON or YAML object`)
  return data as Record<string, unknown>
}
