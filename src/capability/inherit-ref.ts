import type { AggregateFunction, Expose, Invocable, McpTool } from './model.js'

/**
 * `ref: namespace.function` on a REST operation or MCP tool (spec: "Inherited fields are merged;
 * explicit fields override"): the adapter keeps its own `description`, `inputParameters`,
 * `outputParameters` where it declares them, its `with` keys win over the function's, and an MCP
 * tool's hints are derived from the function's `semantics` where the tool sets none. The target
 * keeps the function itself, so the invocation compiles the function's call or steps.
 * A ref that names no function stays unresolved: the checker reports it.
 */
export function inheritRefs (exposes: Expose[], functions: readonly AggregateFunction[]): Expose[] {
  if (functions.length === 0) return exposes
  const byRef = new Map(functions.map((f) => [`${f.namespace}.${f.name}`, f]))
  return exposes.map((expose) => {
    switch (expose.type) {
      case 'rest':
        return { ...expose, resources: expose.resources.map((r) => ({ ...r, operations: r.operations.map((op) => inherit(op, byRef)) })) }
      case 'mcp':
        return { ...expose, tools: expose.tools.map((tool) => inheritTool(tool, byRef)) }
      default:
        return expose
    }
  })
}

function inherit<T extends Invocable> (item: T, byRef: ReadonlyMap<string, AggregateFunction>): T {
  const t = item.target
  const fn = t.kind === 'ref' ? byRef.get(t.ref) : undefined
  if (t.kind !== 'ref' || fn === undefined) return item
  return {
    ...item,
    target: { kind: 'ref', ref: t.ref, function: fn },
    // the function's own objects when the adapter adds nothing: its compiled invocation is reused
    with: Object.keys(item.with).length === 0 ? fn.with : { ...fn.with, ...item.with },
    inputParameters: item.inputParameters.length > 0 ? item.inputParameters : fn.inputParameters,
    outputParameters: item.outputParameters.length > 0 ? item.outputParameters : fn.outputParameters,
    description: item.description ?? fn.description,
  }
}

function inheritTool (tool: McpTool, byRef: ReadonlyMap<string, AggregateFunction>): McpTool {
  const merged = inherit(tool, byRef)
  if (merged.target.kind !== 'ref' || merged.target.function === undefined) return merged
  // safe -> readOnly (and not destructive), idempotent -> idempotent; an explicit hint wins
  const { safe, idempotent } = merged.target.function.semantics
  const derived: McpTool['hints'] = {
    ...(safe === true ? { readOnly: true, destructive: false } : safe === false ? { readOnly: false } : {}),
    ...(idempotent === undefined ? {} : { idempotent }),
  }
  return { ...merged, hints: { ...derived, ...tool.hints } }
}
