import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { CHAT_CAPABILITY, startGateway } from '../helpers/gateway.js'

/**
 * Every listener asks the kernel for a wide listen queue (4,096 by default, `--listen-backlog`), so a
 * burst of connections waits to be accepted instead of being reset; the kernel caps it at
 * net.core.somaxconn. Read back with `ss`, which shows a listening socket's queue as Send-Q.
 */
const ss = ((): boolean => {
  try {
    execFileSync('ss', ['-V'])
    return true
  } catch {
    console.warn('listen backlog suite skipped: `ss` (iproute2) is not installed')
    return false
  }
})()
const somaxconn = ((): number => {
  try {
    return Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'))
  } catch {
    return 4096
  }
})()

function queueOf (url: string): number {
  const port = new URL(url).port
  const line = execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' }).trim().split('\n')[0] ?? ''
  return Number(line.split(/\s+/)[2])
}

describe.skipIf(!ss)('listen backlog', () => {
  it('is 4,096 (or the kernel\'s cap) on every listener by default, and what --listen-backlog says', async () => {
    const wide = await startGateway(CHAT_CAPABILITY, { flags: { 'control-port': '0' }, env: { CHATGPT_API_KEY: 'sk-backlog' } })
    try {
      expect(wide.runtime.addresses.map((a) => a.type)).toEqual(['rest', 'mcp', 'control'])
      for (const a of wide.runtime.addresses) expect(queueOf(a.url), a.type).toBe(Math.min(4096, somaxconn))
    } finally {
      await wide.close()
    }
    const set = await startGateway(CHAT_CAPABILITY, { flags: { 'listen-backlog': '777' }, env: { CHATGPT_API_KEY: 'sk-backlog' } })
    try {
      for (const a of set.runtime.addresses) expect(queueOf(a.url), a.type).toBe(Math.min(777, somaxconn))
    } finally {
      await set.close()
    }
  })
})
