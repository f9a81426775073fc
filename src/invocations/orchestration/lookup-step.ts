import type { Step } from '../../capability/model.js'
import { plainValue } from '../../expressions/call-context.js'
import { compileValue, type ExpressionScope } from '../../expressions/compile-value.js'
import type { CallInputs } from '../../expressions/call-context.js'
import { normalizeName } from '../../expressions/template.js'
import { compileJsonPath } from '../compile-mapping.js'
import { isStepPath } from './step-graph.js'

type LookupStep = Extract<Step, { type: 'lookup' }>

/**
 * A lookup step (spec 3.13.3): the entries of the `index` step's output whose `match` field equals
 * the looked-up value, each reduced to the `outputParameters` fields (a missing one is null).
 * - The index is the step's output: an array of entries, or a single entry.
 * - `match` names a field; when no entry has it as written, it compares like every input name
 *   here, ignoring case, `-` and `_` (the tutorial matches `imo-number` against `imo_number`).
 * - Values compare by their text (`42` matches `"42"`), as in the official engine.
 * - A single looked-up value gives the first matching entry, or null when none matches; an array
 *   of values gives the array of the entries that match, in the order of the values (values that
 *   match nothing are left out, so no match at all is `[]`).
 * `lookupValue` is a JSONPath over the step outputs (`$.get-ship.assignedCrew`), or a template or
 * input reference (`$this.ns.x`, `{{x}}`).
 */
export function compileLookup (step: LookupStep, scope: ExpressionScope): (inputs: CallInputs) => unknown {
  const readValue = isStepPath(step.lookupValue)
    ? ((read) => (inputs: CallInputs) => read(inputs.steps))(compileJsonPath(step.lookupValue))
    : ((expr) => (inputs: CallInputs) => plainValue(expr({ inputs, args: NO_ARGS })))(compileValue(step.lookupValue, scope))
  const index = step.index
  const fields = step.outputParameters
  const match = step.match
  const loose = normalizeName(match)
  return (inputs) => {
    const table = inputs.steps?.[index]
    const entries = Array.isArray(table) ? table : table !== null && typeof table === 'object' ? [table] : []
    const keyed = new Map<string, Record<string, unknown>>()
    for (const entry of entries) {
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) continue
      const key = keyOf(entry as Record<string, unknown>, match, loose)
      // the first entry with a key wins, as a scan in order would find it
      if (key !== undefined && !keyed.has(key)) keyed.set(key, entry as Record<string, unknown>)
    }
    const find = (value: unknown): Record<string, unknown> | undefined => {
      const key = text(value)
      const entry = key === undefined ? undefined : keyed.get(key)
      return entry === undefined ? undefined : pick(entry, fields)
    }
    const wanted = readValue(inputs)
    if (Array.isArray(wanted)) return wanted.flatMap((v) => find(v) ?? [])
    return find(wanted) ?? null
  }
}

const NO_ARGS: ReadonlyMap<string, unknown> = new Map()

function keyOf (entry: Record<string, unknown>, match: string, loose: string): string | undefined {
  if (Object.hasOwn(entry, match)) return text(entry[match])
  for (const k of Object.keys(entry)) if (normalizeName(k) === loose) return text(entry[k])
  return undefined
}

function text (value: unknown): string | undefined {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : undefined
}

function pick (entry: Record<string, unknown>, fields: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const f of fields) out[f] = Object.hasOwn(entry, f) ? entry[f] : null
  return out
}
