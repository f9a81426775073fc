import { describe, expect, it } from 'vitest'
import type { Step, StepMapping } from '../../src/capability/model.js'
import { buildReferenceScope, withSteps } from '../../src/expressions/references.js'
import { compileLookup } from '../../src/invocations/orchestration/lookup-step.js'
import { runSteps, type CompiledStep, type StepResult } from '../../src/invocations/orchestration/compile-steps.js'
import { stepDependencies } from '../../src/invocations/orchestration/step-graph.js'
import { collidingTargets, compileStepMappings } from '../../src/invocations/orchestration/step-mappings.js'
import type { CallInputs } from '../../src/expressions/call-context.js'

const base = buildReferenceScope([{ namespace: 'env', keys: { API_KEY: 'API_KEY' } }], ['api'])
const call = (name: string, withBlock: Record<string, unknown> = {}): Step => ({ type: 'call', name, call: 'up.op', with: withBlock, at: [] })
const lookup = (name: string, index: string, lookupValue: string, match = 'id', fields = ['name']): Step =>
  ({ type: 'lookup', name, index, match, lookupValue, outputParameters: fields, at: [] })
const deps = (steps: Step[]): number[][] => stepDependencies(steps, withSteps(base, steps.map((s) => s.name)))

describe('step dependencies', () => {
  it('leaves steps that read no other step independent', () => {
    expect(deps([call('a', { q: '{{x}}' }), call('b', { id: 'api.id' }), call('c', { k: '{{API_KEY}}' })])).toEqual([[], [], []])
  })

  it('makes a step wait for every step its with reads, at any depth and inside text', () => {
    const steps = [call('a'), call('b'), call('c', { q: 'id={{a.id}}', nested: { list: ['{{b.items[0]}}'] } })]
    expect(deps(steps)).toEqual([[], [], [0, 1]])
  })

  it('makes a lookup wait for its index and for the step its lookupValue starts from', () => {
    const steps = [call('ship'), call('crew'), lookup('resolve', 'crew', '$.ship.assignedCrew')]
    expect(deps(steps)).toEqual([[], [], [0, 1]])
  })

  it('ignores names that are no earlier step (the checker reports them)', () => {
    expect(deps([call('a', { q: '{{b.x}}' }), call('b')])).toEqual([[], []])
  })
})

const inputs = (steps: Record<string, unknown>, values: Record<string, unknown> = {}): CallInputs => ({ get: (n) => values[n], body: undefined, steps })

describe('lookup step', () => {
  const scope = { references: withSteps(base, ['crew', 'ship', 'resolve']), values: new Map<string, string>() }
  const crew = [{ crewId: 'C1', fullName: 'Ada', role: 'captain' }, { crewId: 'C2', fullName: 'Bo', role: 'cook' }, { crewId: 2, fullName: 'Two' }]

  it('answers the matching entry reduced to the listed fields for one value', () => {
    const run = compileLookup(lookup('resolve', 'crew', '$.ship.captain', 'crewId', ['fullName', 'role']) as never, scope)
    expect(run(inputs({ crew, ship: { captain: 'C1' } }))).toEqual({ fullName: 'Ada', role: 'captain' })
  })

  it('answers the matches in the order of the values for an array, leaving out values that match nothing', () => {
    const run = compileLookup(lookup('resolve', 'crew', '$.ship.assignedCrew', 'crewId', ['fullName']) as never, scope)
    expect(run(inputs({ crew, ship: { assignedCrew: ['C2', 'C9', 'C1'] } }))).toEqual([{ fullName: 'Bo' }, { fullName: 'Ada' }])
    expect(run(inputs({ crew, ship: { assignedCrew: ['C9'] } }))).toEqual([])
  })

  it('answers null for one value that matches nothing, and a missing field as null', () => {
    const run = compileLookup(lookup('resolve', 'crew', '$.ship.captain', 'crewId', ['fullName', 'role']) as never, scope)
    expect(run(inputs({ crew, ship: { captain: 'nobody' } }))).toBeNull()
    expect(run(inputs({ crew, ship: { captain: 2 } }))).toEqual({ fullName: 'Two', role: null })
  })

  it('compares values by their text and match names ignoring case, - and _', () => {
    const run = compileLookup(lookup('resolve', 'crew', '$.ship.code', 'crew-id', ['fullName']) as never, scope)
    expect(run(inputs({ crew, ship: { code: '2' } }))).toEqual({ fullName: 'Two' })
  })

  it('reads the value from a caller input when lookupValue is not a path over the steps', () => {
    const run = compileLookup(lookup('resolve', 'crew', '{{who}}', 'crewId', ['role']) as never, scope)
    expect(run(inputs({ crew }, { who: 'C2' }))).toEqual({ role: 'cook' })
  })

  it('takes a single object as a one-entry table', () => {
    const run = compileLookup(lookup('resolve', 'ship', '{{who}}', 'imo', ['name']) as never, scope)
    expect(run(inputs({ ship: { imo: 'I1', name: 'Aurora' } }, { who: 'I1' }))).toEqual({ name: 'Aurora' })
  })
})

const mapping = (targetName: string, value: string): StepMapping => ({ targetName, value, at: [] })

describe('step mappings', () => {
  it('builds nested objects from dot-notation targets, a missing value as null', () => {
    const map = compileStepMappings([mapping('id', '$.v.voyageId'), mapping('route.from', '$.v.from'), mapping('route.to', '$.v.to'), mapping('ship.name', '$.s.name'), mapping('crew', '$.c')])
    const out = map({ v: { voyageId: 'V1', from: 'Oslo' }, s: { name: 'Aurora' }, c: [{ name: 'Ada' }] })
    expect(JSON.parse(JSON.stringify(out))).toEqual({ id: 'V1', route: { from: 'Oslo', to: null }, ship: { name: 'Aurora' }, crew: [{ name: 'Ada' }] })
  })

  it('keeps a target named __proto__ as a plain field', () => {
    const out = compileStepMappings([mapping('__proto__.x', '$.a')])({ a: 1 })
    expect(JSON.stringify(out)).toBe('{"__proto__":{"x":1}}')
    expect(({} as Record<string, unknown>).x).toBeUndefined()
  })

  it('reports targets that are one place or one inside the other', () => {
    const pairs = collidingTargets([mapping('route', '$.a'), mapping('route.from', '$.b'), mapping('id', '$.c'), mapping('id', '$.d'), mapping('routes', '$.e')])
    expect(pairs.map(([later, first]) => [later.targetName, first.targetName])).toEqual([['route.from', 'route'], ['id', 'id']])
  })
})

describe('running steps', () => {
  const never = new AbortController().signal
  const timed = (name: string, ms: number, after: number[], log: string[], result: StepResult = { ok: true, value: name }): CompiledStep => ({
    name,
    after,
    run: async () => {
      log.push(`start ${name}`)
      await new Promise((resolve) => setTimeout(resolve, ms))
      log.push(`end ${name}`)
      return result
    },
  })
  const failed = (message: string): StepResult => ({ ok: false, outcome: { kind: 'error', error: new Error(message) } })

  it('starts independent steps together and a dependent one after what it reads', async () => {
    const log: string[] = []
    const outputs: Record<string, unknown> = {}
    const failure = await runSteps([timed('a', 30, [], log), timed('b', 10, [], log), timed('c', 1, [0], log)], inputs(outputs), outputs, never)
    expect(failure).toBeUndefined()
    expect(log).toEqual(['start a', 'start b', 'end b', 'end a', 'start c', 'end c'])
    expect(outputs).toEqual({ a: 'a', b: 'b', c: 'c' })
  })

  it('reports the earliest declared failure, as a run in order would, and starts nothing after it', async () => {
    const log: string[] = []
    const outputs: Record<string, unknown> = {}
    // b (index 1) fails fast; a (index 0) is slower and fails too: in order, a's failure comes first
    const failure = await runSteps([timed('a', 30, [], log, failed('a broke')), timed('b', 1, [], log, failed('b broke')), timed('c', 1, [], log)], inputs(outputs), outputs, never)
    expect(failure).toMatchObject({ kind: 'error', error: { message: 'a broke' } })
    expect(log).toEqual(['start a', 'start b', 'start c', 'end b', 'end c', 'end a'])
  })

  it('still runs the earlier steps a later failure did not block, and never the steps after it', async () => {
    const log: string[] = []
    const outputs: Record<string, unknown> = {}
    const steps = [timed('a', 20, [], log), timed('b', 1, [0], log), timed('c', 1, [], log, failed('c broke')), timed('d', 1, [2], log)]
    const failure = await runSteps(steps, inputs(outputs), outputs, never)
    expect(failure).toMatchObject({ error: { message: 'c broke' } })
    expect(log).toContain('end b')
    expect(log).not.toContain('start d')
  })

  it('runs a step that is done at once (a lookup) and what waits for it', async () => {
    const outputs: Record<string, unknown> = {}
    const sync: CompiledStep = { name: 'l', after: [], run: () => ({ ok: true, value: 1 }) }
    const next: CompiledStep = { name: 'n', after: [0], run: () => ({ ok: true, value: 2 }) }
    expect(await runSteps([sync, next], inputs(outputs), outputs, never)).toBeUndefined()
    expect(outputs).toEqual({ l: 1, n: 2 })
  })
})
