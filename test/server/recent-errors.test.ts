import { describe, expect, it } from 'vitest'
import { RecentErrors } from '../../src/server/recent-errors.js'
import { quantileOf } from '../../src/exposers/control/dashboard-data.js'

describe('the recent errors the metrics keep', () => {
  it('keeps the last entries only, oldest first, and counts every failure', () => {
    const recent = new RecentErrors(3)
    for (let i = 0; i < 5; i++) recent.answered('rest', `/r${i}`, 500 + i, 1, 1000 + i)
    expect(recent.list().map((e) => e.route)).toEqual(['/r2', '/r3', '/r4'])
    for (let i = 0; i < 5; i++) expect(recent.failures('rest', `/r${i}`)).toBe(1)
    expect(recent.failures('rest', '/none')).toBe(0)
  })

  it('makes an upstream error and the answer that carries it one entry; an answer of its own is another', () => {
    const recent = new RecentErrors()
    recent.upstreamError('rest', '/broken', 'status_503', 1000)
    recent.answered('rest', '/broken', 503, 5, 1004)
    recent.upstreamError('rest', '/gone', 'upstream_unreachable', 1010)
    recent.answered('rest', '/gone', 502, 3, 1012)
    // a 401 carries no upstream error; nor does an answer after a long-past one of the same route
    recent.answered('rest', '/broken', 401, 1, 1020)
    expect(recent.list()).toEqual([
      { at: 1000, expose: 'rest', route: '/broken', status: 503, kind: 'status_503' },
      { at: 1010, expose: 'rest', route: '/gone', status: 502, kind: 'upstream_unreachable' },
      { at: 1020, expose: 'rest', route: '/broken', status: 401, kind: undefined },
    ])
    expect(recent.failures('rest', '/broken')).toBe(2)
  })

  it('gives a tool error answered as a result the status its kind stands for', () => {
    const recent = new RecentErrors()
    recent.upstreamError('mcp', 'tools/call t', 'upstream_timeout', 1)
    recent.upstreamError('mcp', 'tools/call t', 'status_429', 2)
    recent.answered('mcp', 'tools/call t', 200, 1, 3)
    expect(recent.list().map((e) => e.status)).toEqual([504, 429])
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
