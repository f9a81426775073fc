import type { StepMapping } from '../../capability/model.js'
import { compileJsonPath } from '../compile-mapping.js'

/**
 * `mappings` build the answer of an orchestration: each `value` is a JSONPath over the step
 * outputs (`$.get-ship.vessel_name`; `$` is an object keyed by step name), each `targetName` a
 * place in the answer, dot notation building nested objects (`route.from`). A value that is
 * missing is null, so every mapped target is present. Targets never collide: the checker refuses
 * two mappings to one target, or one inside another (`route` and `route.from`).
 */
export function compileStepMappings (mappings: readonly StepMapping[]): (steps: Readonly<Record<string, unknown>>) => Record<string, unknown> {
  const compiled = mappings.map((m) => ({ path: m.targetName.split('.'), read: compileJsonPath(m.value) }))
  return (steps) => {
    // no prototype: a target named `__proto__` is a field like any other
    const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>
    for (const { path, read } of compiled) {
      let node = out
      for (let i = 0; i < path.length - 1; i++) {
        const key = path[i] as string
        const next = Object.hasOwn(node, key) ? node[key] : undefined
        if (next === null || typeof next !== 'object') node[key] = Object.create(null)
        node = node[key] as Record<string, unknown>
      }
      node[path[path.length - 1] as string] = read(steps) ?? null
    }
    return out
  }
}

/** Pairs of mappings whose targets are one place or one inside the other: [later, earlier]. */
export function collidingTargets (mappings: readonly StepMapping[]): Array<[StepMapping, StepMapping]> {
  const out: Array<[StepMapping, StepMapping]> = []
  mappings.forEach((m, i) => {
    for (const earlier of mappings.slice(0, i)) {
      const a = m.targetName
      const b = earlier.targetName
      if (a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`)) { out.push([m, earlier]); break }
    }
  })
  return out
}
