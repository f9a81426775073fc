import { describe, expect, it } from 'vitest'
import { restartPolicy } from '../../src/workers/restart-policy.js'

describe('restart policy of --workers', () => {
  it('waits 100 ms after a first exit and doubles the wait with every exit within the minute, up to 5 s', () => {
    const policy = restartPolicy(8)
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((i) => policy.exited(1000 + i))).toEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000])
  })

  it('gives up past max(5, 2 x workers) exits within the window, and forgets exits older than it', () => {
    const two = restartPolicy(2)
    expect(two.limit).toBe(5)
    for (let i = 0; i < 5; i++) expect(two.exited(i * 1000)).toBeDefined()
    expect(two.exited(5_000)).toBeUndefined()

    const spaced = restartPolicy(2, 60_000)
    for (let i = 0; i < 20; i++) expect(spaced.exited(i * 61_000)).toBe(100)
    expect(restartPolicy(16).limit).toBe(32)
  })
})
