import type { DiagnosticList } from '../../capability/diagnostics.js'
import type { Invocable, Target } from '../../capability/model.js'
import { classifyToken, withSteps, type ReferenceScope } from '../../expressions/references.js'
import { templateTokens } from '../../expressions/template.js'
import { isStepPath, jsonPathStep, stringsOf } from './step-graph.js'
import { collidingTargets } from './step-mappings.js'

type StepsTarget = Extract<Target, { kind: 'steps' }>

/**
 * What can be known of an orchestration before it runs: step names are unique and tell apart
 * from every other root; every call names a consumed operation; every step reads only earlier
 * steps (`{{step.x}}`, a lookup's index and lookupValue); every mapping reads a step; no two
 * mappings write one place.
 */
export function checkSteps (item: Invocable, target: StepsTarget, operations: { has (call: string): boolean }, scope: ReferenceScope, out: DiagnosticList): void {
  const inner = withSteps(scope, target.steps.map((s) => s.name))
  const earlier = new Map<string, number>()
  target.steps.forEach((step, i) => {
    const at = step.at
    const clash = rootClash(step.name, scope)
    if (clash !== undefined) out.error([...at, 'name'], `step name "${step.name}" is also ${clash}: {{${step.name}.x}} could not tell them apart; rename the step`)
    const first = earlier.get(step.name)
    if (first !== undefined) out.error([...at, 'name'], `step "${step.name}" is declared twice in this orchestration (first at line ${out.position(target.steps[first]?.at ?? at)})`)
    const known = (name: string): boolean => earlier.has(name)
    switch (step.type) {
      case 'call':
        if (!operations.has(step.call)) out.error([...at, 'call'], `step call "${step.call}" does not name a consumed operation (namespace.operation)`)
        for (const [key, value] of Object.entries(step.with)) {
          for (const text of stringsOf(value)) {
            for (const token of templateTokens(text)) {
              const ref = classifyToken(token, inner)
              if (ref.kind === 'step' && !known(ref.step)) out.error([...at, 'with', key], `{{${token}}} reads step "${ref.step}", which is not an earlier step of this orchestration`)
            }
          }
        }
        break
      case 'lookup': {
        const index = target.steps.find((s) => s.name === step.index)
        if (!known(step.index)) out.error([...at, 'index'], `lookup index "${step.index}" is not an earlier step of this orchestration`)
        else if (index?.type === 'lookup' || index?.type === 'unsupported') out.warning([...at, 'index'], `lookup index "${step.index}" is not a call step: its output is used as the table all the same`)
        if (step.outputParameters.length === 0) out.error([...at, 'outputParameters'], 'a lookup step names at least one field to extract in outputParameters')
        const from = isStepPath(step.lookupValue) ? jsonPathStep(step.lookupValue) : undefined
        if (isStepPath(step.lookupValue) && (from === undefined || !known(from))) {
          out.error([...at, 'lookupValue'], `lookupValue ${step.lookupValue} does not start from an earlier step of this orchestration ($.step-name...)`)
        }
        for (const token of templateTokens(step.lookupValue)) {
          const ref = classifyToken(token, inner)
          if (ref.kind === 'step' && !known(ref.step)) out.error([...at, 'lookupValue'], `{{${token}}} reads step "${ref.step}", which is not an earlier step of this orchestration`)
        }
        break
      }
      case 'unsupported':
        // refused rather than served half: a chain with a step that cannot run never answers
        out.error([...at, 'type'], `${step.stepType} steps are not supported by this runtime (it runs call and lookup steps); remove the step or run this capability on an engine with scripting`)
        break
    }
    if (first === undefined) earlier.set(step.name, i)
  })
  for (const m of target.mappings) {
    const from = jsonPathStep(m.value)
    if (from === undefined || !earlier.has(from)) out.error([...m.at, 'value'], `mapping value ${m.value} does not start from a step of this orchestration ($.step-name...)`)
  }
  for (const [later, first] of collidingTargets(target.mappings)) {
    out.error([...later.at, 'targetName'], `mapping target "${later.targetName}" overlaps "${first.targetName}" (line ${out.position(first.at)}): one place in the answer cannot take both`)
  }
  if (target.steps.length === 0) out.error([...item.at, 'steps'], 'an orchestration has at least one step')
}

/** What else a step name would name as a root of `{{root.x}}`, if anything. */
function rootClash (name: string, scope: ReferenceScope): string | undefined {
  if (scope.inputRoots.has(name)) return 'an input root (an adapter or an expose or aggregate namespace)'
  if (scope.bindNamespaces.has(name)) return 'a binds namespace'
  if (name === 'env') return 'the environment root'
  return undefined
}
