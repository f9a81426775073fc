import { once } from 'node:events'
import { existsSync, readFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli, startCli, type RunningCli } from '../helpers/cli.js'
import { connectModernClient } from '../helpers/mcp-clients.js'

/** The capabilities the package ships as examples: valid as they are, and serving what they say. */
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const EXAMPLES = ['capabilities/chat-completions.yaml', 'capabilities/openai.yaml', 'capabilities/public-holidays.yaml']
const HOLIDAYS = join(ROOT, 'capabilities/public-holidays.yaml')

describe('the example capabilities', () => {
  it.each(EXAMPLES)('%s passes naftiko validate with no warning', async (file) => {
    const result = await runCli(['validate', join(ROOT, file)])
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(new RegExp(`${file.replace('.', '\\.')}: valid$`, 'm'))
    expect(result.stderr).not.toMatch(/warning/i)
  })

  it('public-holidays.yaml names the shipped schema on its first line, by a path that exists', () => {
    const first = readFileSync(HOLIDAYS, 'utf8').split('\n')[0] ?? ''
    const m = /^# yaml-language-server: \$schema=(\S+)$/.exec(first)
    expect(m?.[1]).toBe('../schemas/capability.schema.json')
    expect(existsSync(join(dirname(HOLIDAYS), m?.[1] ?? ''))).toBe(true)
  })
})

describe('public-holidays.yaml against a local stand-in for Nager.Date', () => {
  const seen: string[] = []
  const HOLIDAY = { date: '2026-07-14', localName: 'Fête nationale', name: 'Bastille Day', countryCode: 'FR', fixed: true, global: true, counties: null, launchYear: null, types: ['Public'] }
  const upstream = http.createServer((req, res) => {
    seen.push(`${req.method ?? ''} ${req.url ?? ''}`)
    res.setHeader('content-type', 'application/json; charset=utf-8')
    res.end(JSON.stringify([HOLIDAY]))
  })
  let cli: RunningCli

  beforeAll(async () => {
    upstream.listen(0, '127.0.0.1')
    await once(upstream, 'listening')
    const base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/api/v3`
    cli = await startCli(['run', HOLIDAYS, '--port', 'rest=0', '--port', 'mcp=0', '--log-level', 'warn', '--base-uri', `nager-date=${base}`], {}, 2)
  })

  afterAll(async () => {
    if (cli !== undefined && cli.child.exitCode === null) {
      cli.child.kill('SIGTERM')
      await cli.exited
    }
    upstream.close()
  })

  it('answers GET /holidays/FR/2026 on REST with the mapped list, from GET /PublicHolidays/2026/FR upstream', async () => {
    const res = await fetch(`${cli.urls.get('rest') ?? ''}/holidays/FR/2026`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual([{ date: '2026-07-14', name: 'Bastille Day', localName: 'Fête nationale' }])
    expect(seen).toContain('GET /api/v3/PublicHolidays/2026/FR')
  })

  it('lists and calls the list-public-holidays MCP tool', async () => {
    const client = await connectModernClient(cli.urls.get('mcp') ?? '')
    try {
      const { tools } = await client.listTools()
      expect(tools.map((t) => t.name)).toEqual(['list-public-holidays'])
      expect(tools[0]?.inputSchema).toMatchObject({ required: ['year', 'countryCode'] })
      const result = await client.callTool('list-public-holidays', { year: '2026', countryCode: 'FR' })
      expect(result.isError).toBeFalsy()
      expect(result.structuredContent).toEqual({ result: [{ date: '2026-07-14', name: 'Bastille Day', localName: 'Fête nationale' }] })
    } finally {
      await client.close()
    }
  })
})
