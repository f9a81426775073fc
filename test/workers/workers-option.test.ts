import { availableParallelism } from 'node:os'
import { describe, expect, it } from 'vitest'
import { resolveOptions } from '../../src/options.js'

describe('--workers', () => {
  it('is 1 by default, a count, or auto: one per core the process may use; the flag wins over NAFTIKO_WORKERS', () => {
    expect(resolveOptions({}, {}).workers).toBe(1)
    expect(resolveOptions({ workers: '3' }, {}).workers).toBe(3)
    expect(resolveOptions({ workers: 'auto' }, {}).workers).toBe(availableParallelism())
    expect(resolveOptions({}, { NAFTIKO_WORKERS: 'auto' }).workers).toBe(availableParallelism())
    expect(resolveOptions({ workers: '2' }, { NAFTIKO_WORKERS: '4' }).workers).toBe(2)
  })

  it('refuses 0, a negative count, a word and more than 1024, naming the flag', () => {
    expect(() => resolveOptions({ workers: '0' }, {})).toThrow(/--workers must be between 1 and 1024, got 0/)
    expect(() => resolveOptions({ workers: '-2' }, {})).toThrow(/--workers expects a whole number or auto, got "-2"/)
    expect(() => resolveOptions({ workers: 'many' }, {})).toThrow(/--workers expects a whole number or auto/)
    expect(() => resolveOptions({}, { NAFTIKO_WORKERS: '2000' })).toThrow(/--workers must be between 1 and 1024, got 2000/)
  })
})
