import { JSONPath } from 'jsonpath-plus'
import type { Step } from '../../capability/model.js'
import { classifyToken, type ReferenceScope } from '../../expressions/references.js'
import { templateTokens } from '../../expressions/template.js'

/**
 * The step a JSONPath over the step outputs starts from (`$.get-ship.x` -> `get-ship`), or
 * undefined for `$` alone or a path that is not JSONPath (`$this.ns.x`, a literal). Read with
 * jsonpath-plus's own parser, the one that evaluates the path.
 */
export function jsonPathStep (path: string): string | undefined {
  const p = path.trim()
  if (!p.startsWith('$') || p.startsWith('$this')) return undefined
  try {
    return JSONPath.toPathArray(p)[1]
  } catch {
    return undefined
  }
}

/** Whether a lookupValue is a JSONPath over the step outputs (else a template, input or literal). */
export function isStepPath (value: string): boolean {
  const v = value.trim()
  return v === '$' || v.startsWith('$.') || v.startsWith('$[')
}

/**
 * The names a step reads, as written: `{{step.x}}` anywhere in a call step's `with`; a lookup's
 * `index` and the step its `lookupValue` starts from. Classified by references.ts, the one list
 * of roots, with the orchestration's step names in scope.
 */
export function stepReads (step: Step, scope: ReferenceScope): string[] {
  const reads = new Set<string>()
  if (step.type === 'call') {
    for (const text of stringsOf(step.with)) {
      for (const token of templateTokens(text)) {
        const ref = classifyToken(token, scope)
        if (ref.kind === 'step') reads.add(ref.step)
      }
    }
  } else if (step.type === 'lookup') {
    reads.add(step.index)
    const from = isStepPath(step.lookupValue) ? jsonPathStep(step.lookupValue) : undefined
    if (from !== undefined) reads.add(from)
    for (const token of templateTokens(step.lookupValue)) {
      const ref = classifyToken(token, scope)
      if (ref.kind === 'step') reads.add(ref.step)
    }
  }
  return [...reads]
}

/**
 * For each step, the indexes of the earlier steps it waits for. A step reads only earlier steps
 * (the checker refuses anything else), so declaration order is already a valid order; a name that
 * is no earlier step is left out here.
 */
export function stepDependencies (steps: readonly Step[], scope: ReferenceScope): number[][] {
  const index = new Map<string, number>()
  return steps.map((step, i) => {
    const deps = stepReads(step, scope).flatMap((name) => {
      const j = index.get(name)
      return j === undefined ? [] : [j]
    })
    if (!index.has(step.name)) index.set(step.name, i)
    return [...new Set(deps)].sort((a, b) => a - b)
  })
}

/** Every string inside a `with` value (templates may sit at any depth). */
export function stringsOf (value: unknown): string[] {
  if (typeof value === 'string') return [value]
  if (Array.isArray(value)) return value.flatMap(stringsOf)
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(stringsOf)
  return []
}
