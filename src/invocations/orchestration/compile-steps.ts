import type { Invocable, Step, Target } from '../../capability/model.js'
import type { UpstreamSignal } from '../../consumers/send-upstream.js'
import { errorCodeOf } from '../../errors/envelope.js'
import { ERROR_CODES } from '../../errors/codes.js'
import { NaftikoError } from '../../errors/naftiko-error.js'
import type { CallInputs } from '../../expressions/call-context.js'
import { withSteps } from '../../expressions/references.js'
import { collectOutcome, compileInvocation, type Invocation, type InvocationContext } from '../compile-invocation.js'
import { jsonOutcome, type Outcome } from '../outcome.js'
import { compileLookup } from './lookup-step.js'
import { stepDependencies } from './step-graph.js'
import { compileStepMappings } from './step-mappings.js'

type StepsTarget = Extract<Target, { kind: 'steps' }>

/** What one step came to: its output, or the outcome that ends the orchestration. */
export type StepResult = { readonly ok: true, readonly value: unknown } | { readonly ok: false, readonly outcome: Outcome }

export interface CompiledStep {
  readonly name: string
  /** indexes of the earlier steps whose outputs it reads */
  readonly after: readonly number[]
  run (inputs: CallInputs, signal: UpstreamSignal): StepResult | Promise<StepResult>
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' }

/**
 * An orchestration (spec 3.13, 3.14), compiled once: every call step is the one call path
 * (compileInvocation: consumers, redactor, response limit), read whole with collectOutcome.
 *
 * Order: a step starts as soon as the steps it reads (`{{step.x}}` in its `with`, a lookup's index
 * and lookupValue) are done, so independent call steps run at once. The answer is the one a run in
 * declaration order gives: when step k fails, no step after k starts, the steps before k still run
 * (one of them may fail first, as it would in order), and the failure reported is the earliest
 * declared one. Steps already under way are awaited, never left with an unread body.
 */
export function compileSteps (item: Invocable, target: StepsTarget, context: InvocationContext): Invocation {
  const scope = { ...context.scope, references: withSteps(context.scope.references, target.steps.map((s) => s.name)) }
  const inner: InvocationContext = { ...context, scope }
  const after = stepDependencies(target.steps, scope.references)
  const steps = target.steps.map((step, i) => compileStep(step, after[i] ?? [], inner))
  const unsupported = target.steps.find((s) => s.type === 'unsupported')
  if (unsupported !== undefined) {
    const outcome: Outcome = { kind: 'error', error: new NaftikoError('feature_not_supported', `This operation uses a ${unsupported.type === 'unsupported' ? unsupported.stepType : ''} step ("${unsupported.name}"), which this runtime does not execute yet.`) }
    return { operation: undefined, invoke: async () => outcome }
  }
  // no mappings: the answer is the last step's output
  const last = target.steps[target.steps.length - 1]?.name ?? ''
  const answer = target.mappings.length > 0 ? compileStepMappings(target.mappings) : (outputs: Readonly<Record<string, unknown>>) => outputs[last] ?? null
  const { redactor } = context
  return {
    operation: undefined,
    async invoke (inputs, signal) {
      const outputs = Object.create(null) as Record<string, unknown>
      const stepInputs: CallInputs = { get: (name) => inputs.get(name), body: inputs.body, steps: outputs, trace: inputs.trace, watch: inputs.watch }
      const failure = await runSteps(steps, stepInputs, outputs, signal)
      if (failure !== undefined) return failure
      // every step's text passed the redactor; the answer is serialised and checked once more
      return jsonOutcome(200, { ...JSON_HEADERS }, answer(outputs), redactor)
    },
  }
}

/** Runs the steps in dependency order, concurrently where they are independent; returns the failure, if any. */
export function runSteps (steps: readonly CompiledStep[], inputs: CallInputs, outputs: Record<string, unknown>, signal: UpstreamSignal): Promise<Outcome | undefined> {
  const done: boolean[] = steps.map(() => false)
  const started: boolean[] = steps.map(() => false)
  const failures = new Map<number, Outcome>()
  // no step at or after the earliest failure starts
  let limit = steps.length
  let running = 0
  return new Promise((resolve) => {
    const settle = (i: number, result: StepResult): void => {
      running--
      if (result.ok) {
        outputs[(steps[i] as CompiledStep).name] = result.value
        done[i] = true
      } else {
        failures.set(i, result.outcome)
        limit = Math.min(limit, i)
      }
      pump()
    }
    const pump = (): void => {
      for (let i = 0; i < limit; i++) {
        const step = steps[i] as CompiledStep
        if (started[i] === true || !step.after.every((j) => done[j])) continue
        started[i] = true
        running++
        let result: StepResult | Promise<StepResult>
        try {
          result = step.run(inputs, signal)
        } catch (err) {
          result = { ok: false, outcome: { kind: 'error', error: err } }
        }
        if (result instanceof Promise) {
          result.then((r) => settle(i, r), (err: unknown) => settle(i, { ok: false, outcome: { kind: 'error', error: err } }))
        } else {
          // a lookup is done at once: what it unblocks is started by the settle below
          settle(i, result)
          return
        }
      }
      if (running > 0) return
      resolve(limit < steps.length ? failures.get(limit) : undefined)
    }
    pump()
  })
}

function compileStep (step: Step, after: readonly number[], context: InvocationContext): CompiledStep {
  switch (step.type) {
    case 'lookup': {
      const lookup = compileLookup(step, context.scope)
      return { name: step.name, after, run: (inputs) => ({ ok: true, value: lookup(inputs) }) }
    }
    case 'unsupported':
      return { name: step.name, after, run: () => ({ ok: false, outcome: { kind: 'error', error: new NaftikoError('feature_not_supported') } }) }
    case 'call': {
      // the step is a call like any other: its `with` reads the caller's inputs and earlier steps
      const call: Invocable = { target: { kind: 'call', call: step.call }, with: step.with, inputParameters: [], outputParameters: [], description: undefined, at: step.at }
      const invocation = compileInvocation(call, context)
      const label = `step "${step.name}" (${step.call})`
      return {
        name: step.name,
        after,
        async run (inputs, signal) {
          const outcome = await collectOutcome(await invocation.invoke(inputs, signal))
          switch (outcome.kind) {
            case 'json': return { ok: true, value: outcome.value }
            case 'text': return { ok: true, value: outcome.text }
            case 'upstream_error': return { ok: false, outcome: stepUpstreamError(label, outcome) }
            case 'error': return { ok: false, outcome: { kind: 'error', error: stepError(label, outcome.error) } }
            default: return { ok: false, outcome: { kind: 'error', error: new NaftikoError('internal_error') } }
          }
        },
      }
    }
  }
}

/**
 * A step's upstream answered non-2xx: the orchestration answers with that status, and the text
 * names the step. The upstream's own message (scrubbed, cut) is kept for the caller; its body is
 * not relayed, since the caller did not ask that upstream anything.
 */
function stepUpstreamError (label: string, outcome: Extract<Outcome, { kind: 'upstream_error' }>): Outcome {
  const message = `${label} failed: the upstream answered ${outcome.status}${outcome.message === '' ? '' : `: ${outcome.message}`}`
  const body = JSON.stringify({ error: { message: `The ${message}`, type: 'upstream_error', param: null, code: outcome.code ?? null } })
  const headers = { ...JSON_HEADERS, ...(outcome.retryAfter === undefined ? {} : { 'retry-after': outcome.retryAfter }) }
  return { ...outcome, headers, body, message }
}

/** The gateway's own failure in a step keeps its code; its message names the step. */
function stepError (label: string, err: unknown): NaftikoError {
  const code = errorCodeOf(err)
  const message = err instanceof NaftikoError ? err.message : ERROR_CODES[code].message
  return new NaftikoError(code, `The ${label} failed: ${message}`, { cause: err, param: err instanceof NaftikoError ? err.param : null })
}
