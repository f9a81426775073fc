import { hostOf } from './exposers/mount-exposers.js'
import { StartupError } from './errors/startup-error.js'
import { UsageError, type RuntimeOptions } from './options.js'
import { checkOverrides, createControl, readRunnable, startReadRuntime, type Runtime, type RuntimePlace } from './runtime.js'
import type { CapabilityModel } from './capability/model.js'
import type { ReadCapability } from './capability/read-capability.js'

export interface Runnable {
  readonly file: string
  readonly read: ReadCapability
  readonly model: CapabilityModel
}

/**
 * `naftiko run a.yaml b.yaml` (or a directory of capabilities): every capability in one process,
 * each with its own exposes, pools and log context. They are read and checked together first: a
 * namespace two of them declare, or a port two of their exposes would listen on, is an error naming
 * both files, and nothing starts. `--control-port` serves one control port for all of them (health,
 * metrics of every expose, status and dashboard listing every capability).
 */
export async function startRuntimes (files: readonly string[], options: RuntimeOptions, logDestination?: NodeJS.WritableStream, place: RuntimePlace = 'alone'): Promise<Runtime[]> {
  const loaded = await loadRunnables(files, options)
  // --control-port with several capabilities: the first serves it, every one records into it
  const shared = options.controlPort !== undefined && loaded.length > 1 ? await createControl() : undefined
  const runtimes: Runtime[] = []
  try {
    for (const [i, { read, model }] of loaded.entries()) {
      runtimes.push(await startReadRuntime(read, model, optionsOf(i, options), logDestination, { shared, place }))
    }
    if (shared !== undefined) shared.state.ready = true
    // a control expose with `management.reload`: POST /config/reload reloads every capability, as SIGHUP does
    for (const runtime of runtimes) if (runtime.control !== undefined) runtime.control.reload = async () => { await reloadRuntimes(runtimes, options) }
  } catch (err) {
    await Promise.allSettled(runtimes.map((r) => r.close()))
    throw err
  }
  return runtimes
}

/** Reads every capability of the process and checks them together; nothing is started. */
export async function loadRunnables (files: readonly string[], options: RuntimeOptions): Promise<Runnable[]> {
  const loaded: Runnable[] = []
  for (const file of files) loaded.push({ file, ...await readRunnable(file) })
  checkClashes(loaded, options)
  checkOverrides(loaded.map((l) => l.model), options)
  return loaded
}

/** The options of the `i`th capability: `--control-port` belongs to the first. */
export function optionsOf (i: number, options: RuntimeOptions): RuntimeOptions {
  return i === 0 ? options : { ...options, controlPort: undefined }
}

function checkClashes (loaded: ReadonlyArray<{ file: string, model: CapabilityModel }>, options: RuntimeOptions): void {
  const namespaces = new Map<string, string>()
  const ports = new Map<string, { file: string, namespace: string }>()
  const problems: string[] = []
  for (const { file, model } of loaded) {
    const declared = new Set([...model.exposes.map((e) => e.namespace), ...model.consumes.map((c) => c.namespace)])
    for (const namespace of declared) {
      const other = namespaces.get(namespace)
      if (other !== undefined) problems.push(`namespace "${namespace}" is declared by ${other} and by ${file}: --port, --base-uri and the logs would not tell them apart; rename one`)
      else namespaces.set(namespace, file)
    }
    for (const expose of model.exposes) {
      const port = options.ports.get(expose.namespace) ?? options.ports.get(expose.type) ?? expose.port ?? 0
      if (port === 0 || (expose.type === 'mcp' && expose.transport === 'stdio')) continue
      const key = `${hostOf(expose, options.host)}:${port}`
      const other = ports.get(key)
      if (other !== undefined && other.file !== file) problems.push(`${other.file} (expose "${other.namespace}") and ${file} (expose "${expose.namespace}") would both listen on ${key}; give one another port with --port NAME=PORT`)
      else ports.set(key, { file, namespace: expose.namespace })
    }
  }
  if (problems.length > 0) throw new StartupError('capabilities_clash', problems.join('\n'))
}

/**
 * Reloads the capabilities of the process from their files (`only`: the one that changed). They are
 * read and checked together first, as at startup: an invalid file, a clash or an unknown override
 * changes nothing anywhere, and is thrown. Then each runtime switches to its new build in turn.
 */
export async function reloadRuntimes (runtimes: readonly Runtime[], options: RuntimeOptions, only?: string): Promise<void> {
  let loaded: Runnable[]
  try {
    loaded = await loadRunnables(runtimes.map((r) => r.file), options)
  } catch (err) {
    // an override (--port, --base-uri) that names what the files no longer have
    if (err instanceof UsageError) throw new StartupError('reload_refused', err.message)
    throw err
  }
  for (const [i, runtime] of runtimes.entries()) {
    if (only === undefined || runtime.file === only) await runtime.reload(loaded[i])
  }
}
