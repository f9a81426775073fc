import { dirname, isAbsolute, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The path a `location` names: `file:///abs/x`, and relative to the capability file `file:///./x`
 * (the official tutorial's form), `file://./x` and `file://x`.
 */
export function filePathOf (location: string, capabilityPath: string): string {
  if (location.startsWith('file:///./') || location.startsWith('file:///../')) return resolve(dirname(capabilityPath), location.slice('file:///'.length))
  if (location.startsWith('file:///')) return fileURLToPath(location)
  const rest = location.replace(/^file:(\/\/)?/, '')
  return isAbsolute(rest) ? rest : resolve(dirname(capabilityPath), rest)
}
