import { isMock } from '../capability/check-capability.js'
import type { Invocable } from '../capability/types.js'
import { normalizeName } from '../bindings/template.js'
import type { CallContext, CallInputs } from '../consumers/call-context.js'
import type { Consumers, ConsumedOperationRuntime } from '../consumers/build-consumers.js'
import { compileOutputMapping, type OutputMapping } from '../consumers/compile-mapping.js'
import { compileValue, type ExpressionScope, type ValueExpression } from '../consumers/compile-value.js'

/** How an exposed operation or tool is served; compiled once at startup. */
export type Invocation =
  | { kind: 'call', operation: ConsumedOperationRuntime, args: (inputs: CallInputs) => CallContext, output: OutputMapping }
  | { kind: 'mock', render: (inputs: CallInputs) => Record<string, unknown> }
  | { kind: 'unsupported', feature: string }

const NO_ARGS: ReadonlyMap<string, unknown> = new Map()

export function compileInvocation (item: Invocable, consumers: Consumers, scope: ExpressionScope): Invocation {
  if (item.steps !== undefined) return { kind: 'unsupported', feature: 'orchestration steps' }
  if (item.ref !== undefined && item.call === undefined) return { kind: 'unsupported', feature: 'aggregate function ref' }
  if (isMock(item)) return { kind: 'mock', render: compileMock(item, scope) }
  const operation = item.call === undefined ? undefined : consumers.operation(item.call)
  if (operation === undefined) return { kind: 'unsupported', feature: `call ${String(item.call)}` }

  const withEntries: Array<[string, ValueExpression]> = Object.entries(item.with ?? {})
    .map(([key, value]) => [normalizeName(key), compileValue(value, scope)])
  const args = withEntries.length === 0
    ? (inputs: CallInputs): CallContext => ({ inputs, args: NO_ARGS })
    : (inputs: CallInputs): CallContext => {
        const values = new Map<string, unknown>()
        const ctx = { inputs, args: values }
        for (const [key, expr] of withEntries) {
          const v = expr(ctx)
          // an input that is absent is left out of the upstream call (DESIGN 2.1)
          if (v !== undefined) values.set(key, v)
        }
        return ctx
      }
  return { kind: 'call', operation, args, output: compileOutputMapping(item.outputParameters) }
}

/** Mock outputs: `{name, value}` pairs whose values may hold `{{input}}` templates. */
function compileMock (item: Invocable, scope: ExpressionScope): (inputs: CallInputs) => Record<string, unknown> {
  const fields = (item.outputParameters ?? []).map((o) => [o.name as string, compileValue(o.value, scope)] as const)
  return (inputs) => {
    const ctx = { inputs, args: NO_ARGS }
    const out: Record<string, unknown> = {}
    for (const [name, expr] of fields) out[name] = expr(ctx)
    return out
  }
}
