import { describe, expect, it } from 'vitest'
import { RecentErrors } from '../../src/server/recent-errors.js'
import { quantileOf } from '../../src/exposers/control/dashboard-data.js'

describe('the recent errors the metrics keep', () => {
  it('keeps the last entries only, oldest first, and counts every failure', () => {
    const recent = new RecentErrors(3)
    for (let i = 0; i < 5; i++) recent.add('rest', `/r${i}`, 500 + i, undefined, 1000 + i)
    expect(recent.list().map((e) => e.route)).toEqual(['/r2', '/r3', '/r4'])
    for (let i = 0; i < 5; i++) expect(recent.failures('rest', `/r${i}`)).toBe(1)
    expect(recent.failures('rest', '/none')).toBe(0)
  })

  it('keeps the upstream error a failed answer carries, and gives a tool error the status its kind stands for', () => {
    const recent = new RecentErrors()
    recent.add('rest', '/broken', 503, 'status_503', 1000)
    recent.add('rest', '/broken', 401, undefined, 1020)
    recent.add('mcp', 'tools/call t', undefined, 'upstream_timeout', 1030)
    recent.add('mcp', 'tools/call t', undefined, 'status_429', 1040)
    expect(recent.list()).toEqual([
      { at: 1000, expose: 'rest', route: '/broken', status: 503, kind: 'status_503' },
      { at: 1020, expose: 'rest', route: '/broken', status: 401, kind: undefined },
      { at: 1030, expose: 'mcp', route: 'tools/call t', status: 504, kind: 'upstream_timeout' },
      { at: 1040, expose: 'mcp', route: 'tools/call t', status: 429, kind: 'status_429' },
    ])
    expect(recent.failures('rest', '/broken')).toBe(2)
    expect(recent.failures('mcp', 'tools/call t')).toBe(2)
  })
})

describe('latency percentiles from histogram buckets', () => {
  it('interpolates within the bucket the rank falls in, as histogram_quantile does', () => {
    // 10 requests: 4 under 1 ms, 4 more under 5 ms, 2 more under 10 ms
    const buckets: Array<[number, number]> = [[0.001, 4], [0.005, 8], [0.01, 10], [Infinity, 10]]
    expect(quantileOf(buckets, 0.5)).toBe(2)
    expect(quantileOf(buckets, 0.95)).toBe(8.75)
    expect(quantileOf(buckets, 0.99)).toBe(9.75)
    expect(quantileOf([[0.001, 0], [Infinity, 0]], 0.5)).toBeUndefined()
    // past the last finite bound: that bound
    expect(quantileOf([[0.001, 0], [0.005, 0], [Infinity, 3]], 0.5)).toBe(5)
  })
})
