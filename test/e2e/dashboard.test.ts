import { createServer, type Server } from 'node:http'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { request } from 'undici'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeServer, listenOnLoopback } from '../helpers/loopback.js'
import { startGateway, writeCapability, type Gateway } from '../helpers/gateway.js'

/**
 * The control port's dashboard: its feed counts what the gateway answered, by route and tool, with
 * latency percentiles and the recent errors; the page (in a real headless Chromium) shows all of it,
 * plots the rates, runs under its Content-Security-Policy and never shows the upstream key; the
 * control port's authentication covers both.
 */
const CHROMIUM = '/usr/bin/chromium'
const HAS_CHROMIUM = existsSync(CHROMIUM)
if (!HAS_CHROMIUM) console.warn(`dashboard.test.ts: ${CHROMIUM} is absent, the browser tests are skipped (apt-get install chromium)`)

const KEY = `sk-fleet-${randomBytes(12).toString('hex')}`
const CONTROL_TOKEN = `ctl-${randomBytes(12).toString('hex')}`
const VIEWPORT = { width: 1280, height: 900 }

let upstream: Server
let origin: string
const seen: string[] = []

beforeAll(async () => {
  upstream = createServer((req, res) => {
    seen.push(req.headers.authorization ?? '')
    const url = req.url ?? ''
    if (url.startsWith('/v1/broken')) {
      // an upstream that echoes the credential it was sent: the dashboard must not show it
      res.writeHead(503, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: { message: `down, you sent ${req.headers.authorization ?? ''}`, code: 'overloaded' } }))
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(url.startsWith('/v1/ships/') ? JSON.stringify({ imo: url.slice(10) }) : '{"ships":[]}')
  })
  origin = await listenOnLoopback(upstream)
})
afterAll(async () => { await closeServer(upstream) })

const capability = (control: string): string => `
naftiko: "1.0.0-alpha2"
info:
  label: Fleet Dashboard
  version: "2.4.0"
binds:
  - namespace: env
    keys:
      FLEET_KEY: FLEET_KEY
      CONTROL_TOKEN: CONTROL_TOKEN
capability:
  consumes:
    - type: http
      namespace: fleet
      baseUri: "http://127.0.0.1:1/v1"
      authentication: { type: bearer, token: '{{FLEET_KEY}}' }
      resources:
        - name: ships
          path: /ships
          operations:
            - { name: list, method: GET }
        - name: ship
          path: /ships/{imo}
          operations:
            - name: one
              method: GET
              inputParameters:
                - { name: imo, in: path }
        - name: broken
          path: /broken
          operations:
            - { name: broken, method: GET }
    - type: http
      namespace: gone
      baseUri: "http://127.0.0.1:1/v1"
      resources:
        - name: ships
          path: /ships
          operations:
            - { name: list, method: GET }
  exposes:
    - type: rest
      namespace: fleet-rest
      port: 0
      resources:
        - path: /ships
          operations:
            - { method: GET, call: fleet.list }
        - path: /ships/{imo}
          operations:
            - { method: GET, call: fleet.one }
        - path: /broken
          operations:
            - { method: GET, call: fleet.broken }
        - path: /gone
          operations:
            - { method: GET, call: gone.list }
    - type: mcp
      namespace: fleet-mcp
      port: 0
      tools:
        - { name: list-ships, description: List ships, call: fleet.list }
        - { name: break-ships, description: Always fails upstream, call: fleet.broken }
${control}
`

const get = async (url: string, headers: Record<string, string> = {}): Promise<{ status: number, headers: Record<string, unknown>, text: string }> => {
  const answer = await request(url, { headers })
  return { status: answer.statusCode, headers: answer.headers, text: await answer.body.text() }
}

const restCall = async (gateway: Gateway, path: string): Promise<number> => (await get(`${gateway.url('rest')}${path}`)).status

const toolCall = async (gateway: Gateway, name: string): Promise<{ isError?: boolean }> => {
  const answer = await request(gateway.url('mcp'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: {} } }),
  })
  expect(answer.statusCode).toBe(200)
  // JSON, or one server-sent event carrying it
  const text = await answer.body.text()
  const json = text.startsWith('{') ? text : text.split('\n').find((line) => line.startsWith('data: '))?.slice(6) ?? ''
  return (JSON.parse(json) as { result: { isError?: boolean } }).result
}

interface Row { expose: string, name: string, requests: number, errors: number, p50: number | null, p95: number | null, p99: number | null, statuses: Record<string, number> }
interface Feed { capability: { label: string, version: string, file: string }, exposes: Array<{ type: string, routes: string[] }>, rows: Row[], recentErrors: Array<{ expose: string, name: string, status: number, kind: string | null }> }

describe('the dashboard of a gateway with a control port', () => {
  let gateway: Gateway
  let control: string
  let file: string
  beforeAll(async () => {
    file = await writeCapability(capability(''))
    gateway = await startGateway(file, {
      flags: { port: ['fleet-rest=0', 'fleet-mcp=0'], 'base-uri': [`fleet=${origin}/v1`], 'control-port': '0' },
      env: { FLEET_KEY: KEY },
    })
    control = gateway.url('control')
    // what the page and the feed must count: successes and failures on REST and MCP
    for (let i = 0; i < 3; i++) expect(await restCall(gateway, '/ships')).toBe(200)
    for (const imo of ['IMO1', 'IMO2']) expect(await restCall(gateway, `/ships/${imo}`)).toBe(200)
    for (let i = 0; i < 2; i++) expect(await restCall(gateway, '/broken')).toBe(503)
    expect(await restCall(gateway, '/gone')).toBe(502)
    for (let i = 0; i < 2; i++) expect((await toolCall(gateway, 'list-ships')).isError).toBeUndefined()
    expect((await toolCall(gateway, 'break-ships')).isError).toBe(true)
    // the key did reach the upstream, so a leak would have something to show
    expect(seen).toContain(`Bearer ${KEY}`)
  })
  afterAll(async () => { await gateway.close() })

  const feed = async (): Promise<Feed> => {
    const answer = await get(`${control}/dashboard/data`)
    expect(answer.status).toBe(200)
    expect(answer.text).not.toContain(KEY)
    return JSON.parse(answer.text) as Feed
  }
  const rowOf = (data: Feed, expose: string, name: string): Row | undefined => data.rows.find((r) => r.expose === expose && r.name === name)

  it('feeds the capability, its routes and tools, the counts sent, percentiles and the recent errors', async () => {
    const data = await feed()
    expect(data.capability).toEqual({ label: 'Fleet Dashboard', version: '2.4.0', file })
    expect(data.exposes.find((e) => e.type === 'rest')?.routes).toEqual(['GET /ships', 'GET /ships/{imo}', 'GET /broken', 'GET /gone'])
    expect(data.exposes.find((e) => e.type === 'mcp')?.routes).toEqual(['list-ships', 'break-ships'])
    const counts = (expose: string, name: string): [number, number] | undefined => {
      const row = rowOf(data, expose, name)
      return row === undefined ? undefined : [row.requests, row.errors]
    }
    expect(counts('fleet-rest', 'GET /ships')).toEqual([3, 0])
    expect(counts('fleet-rest', 'GET /ships/{imo}')).toEqual([2, 0])
    expect(counts('fleet-rest', 'GET /broken')).toEqual([2, 2])
    expect(counts('fleet-rest', 'GET /gone')).toEqual([1, 1])
    expect(counts('fleet-mcp', 'list-ships')).toEqual([2, 0])
    // a tool error is a result (HTTP 200) and still an error of that tool
    expect(counts('fleet-mcp', 'break-ships')).toEqual([1, 1])
    expect(rowOf(data, 'fleet-rest', 'GET /broken')?.statuses).toEqual({ 503: 2 })
    const ships = rowOf(data, 'fleet-rest', 'GET /ships') as Row
    expect(ships.p50).toBeGreaterThan(0)
    expect(ships.p50).toBeLessThanOrEqual(ships.p95 as number)
    expect(ships.p95).toBeLessThanOrEqual(ships.p99 as number)
    // one entry per failed request, newest first, with its status and kind
    expect(data.recentErrors.map((e) => `${e.expose} ${e.name} ${e.status} ${e.kind ?? '-'}`)).toEqual([
      'fleet-mcp break-ships 503 status_503',
      'fleet-rest GET /gone 502 upstream_unreachable',
      'fleet-rest GET /broken 503 status_503',
      'fleet-rest GET /broken 503 status_503',
    ])
  })

  it('serves the page with a policy that allows its own inline style and script only; / leads to it', async () => {
    const page = await get(`${control}/dashboard`)
    expect(page.status).toBe(200)
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(page.headers['x-content-type-options']).toBe('nosniff')
    const csp = String(page.headers['content-security-policy'])
    expect(csp).toMatch(/default-src 'none'/)
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'(;|$)/)
    expect(csp).toMatch(/style-src 'sha256-[A-Za-z0-9+/=]+'(;|$)/)
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:/)
    expect(page.text).not.toMatch(/<script[^>]+src=|<link[^>]+stylesheet|https?:\/\/(?!www\.w3\.org\/2000\/svg)/)
    const root = await get(`${control}/`)
    expect(root.status).toBe(302)
    expect(root.headers.location).toBe('dashboard')
  })

  it('still answers unknown paths 404, and the dashboard GET only', async () => {
    for (const path of ['/dashboard/', '/dashboard/nope', '/dashboard/data/x', '/nope']) expect((await get(`${control}${path}`)).status, path).toBe(404)
    const post = await request(`${control}/dashboard/data`, { method: 'POST' })
    expect(post.statusCode).toBe(405)
    await post.body.dump()
  })

  describe.skipIf(!HAS_CHROMIUM)('in headless Chromium', () => {
    let browser: Browser
    let page: Page
    const problems: string[] = []
    beforeAll(async () => {
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
      page = await browser.newPage({ viewport: VIEWPORT })
      page.on('console', (message) => { if (message.type() === 'error' || message.type() === 'warning') problems.push(message.text()) })
      page.on('pageerror', (err) => problems.push(err.message))
      await page.goto(`${control}/`)
      await page.locator('#traffic tr[data-name="GET /ships"]').waitFor({ timeout: 10_000 }).catch((err: Error) => {
        throw new Error(`${err.message}; the page said: ${problems.join(' | ')}`)
      })
    }, 30_000)
    afterAll(async () => { await browser?.close() })

    const cell = (expose: string, name: string, col: string): Promise<string> =>
      page.locator(`#traffic tr[data-expose="${expose}"][data-name="${name}"] td[data-col="${col}"]`).innerText()

    it('shows the capability, its routes and tools, and the counts sent', async () => {
      expect(page.url()).toBe(`${control}/dashboard`)
      expect(await page.locator('h1').innerText()).toBe('Fleet Dashboard')
      expect(await page.locator('#cap-version').innerText()).toBe('version 2.4.0')
      expect(await page.locator('#cap-file').innerText()).toBe(file)
      const exposes = await page.locator('#exposes').innerText()
      for (const text of ['fleet-rest', 'fleet-mcp', gateway.url('rest'), 'GET /ships/{imo}', 'GET /gone', 'list-ships', 'break-ships', '/dashboard']) expect(exposes).toContain(text)
      expect([await cell('fleet-rest', 'GET /ships', 'requests'), await cell('fleet-rest', 'GET /ships', 'errors')]).toEqual(['3', '0'])
      expect([await cell('fleet-rest', 'GET /broken', 'requests'), await cell('fleet-rest', 'GET /broken', 'errors')]).toEqual(['2', '2'])
      expect(await cell('fleet-rest', 'GET /broken', 'error-rate')).toBe('100.0 %')
      expect([await cell('fleet-mcp', 'list-ships', 'requests'), await cell('fleet-mcp', 'break-ships', 'errors')]).toEqual(['2', '1'])
      expect(Number(await cell('fleet-rest', 'GET /ships', 'p99'))).toBeGreaterThan(0)
      expect(await page.locator('#total-requests').innerText()).toBe('11')
      expect(await page.locator('#total-errors').innerText()).toBe('4')
    })

    it('lists the recent errors with status, route or tool and kind', async () => {
      const rows = await page.locator('#errors tbody tr').allInnerTexts()
      expect(rows).toHaveLength(4)
      const tidy = rows.map((r) => r.split('\t').slice(1).join(' '))
      expect(tidy).toEqual([
        'fleet-mcp break-ships 503 status_503',
        'fleet-rest GET /gone 502 upstream_unreachable',
        'fleet-rest GET /broken 503 status_503',
        'fleet-rest GET /broken 503 status_503',
      ])
      expect(await page.locator('#no-errors').isHidden()).toBe(true)
    })

    /** the y of each point of a plotted path (160 is zero) */
    const ysOf = async (plot: string, series: string): Promise<number[]> => {
      const path = page.locator(`#${plot} path[data-series="${series}"]`)
      if (await path.count() === 0) return []
      const d = await path.getAttribute('d') ?? ''
      return [...d.matchAll(/[ML][\d.]+,([\d.]+)/g)].map((m) => Number(m[1]))
    }

    it('plots the request and error rates, which rise after more traffic', async () => {
      // the traffic came before the page opened: the total is a flat line at zero
      await expect.poll(async () => (await ysOf('plot-requests', 'all')).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2)
      expect(new Set(await ysOf('plot-requests', 'all'))).toEqual(new Set([160]))
      const before = await page.locator('#plot-requests path[data-series="all"]').getAttribute('d')
      for (let i = 0; i < 20; i++) await restCall(gateway, '/ships')
      for (let i = 0; i < 5; i++) await restCall(gateway, '/broken')
      await expect.poll(async () => Math.min(...await ysOf('plot-requests', 'fleet-rest GET /ships')), { timeout: 10_000 }).toBeLessThan(160)
      await expect.poll(async () => Math.min(...await ysOf('plot-errors', 'fleet-rest GET /broken')), { timeout: 10_000 }).toBeLessThan(160)
      expect(Math.min(...await ysOf('plot-requests', 'all'))).toBeLessThan(160)
      expect(await page.locator('#plot-requests path[data-series="all"]').getAttribute('d')).not.toBe(before)
      expect(await page.locator('#legend').innerText()).toContain('fleet-rest · GET /ships')
      await expect.poll(() => cell('fleet-rest', 'GET /ships', 'requests'), { timeout: 5000 }).toBe('23')
      // a request is counted once its answer is written, so the client may see the answer first: on a
      // loaded machine the refresh that shows all of /ships can come before the last /broken is counted
      await expect.poll(() => cell('fleet-rest', 'GET /broken', 'errors'), { timeout: 5000 }).toBe('7')
    })

    it('shows no secret, runs under its policy without a violation, and screenshots as a PNG of the viewport', async () => {
      expect(await page.locator('body').innerText()).not.toContain(KEY)
      expect(await page.content()).not.toContain(KEY)
      expect(problems).toEqual([])
      const dir = await mkdtemp(join(tmpdir(), 'naftiko-dashboard-'))
      const shot = join(dir, 'dashboard.png')
      await page.screenshot({ path: shot })
      const png = await readFile(shot)
      expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
      expect(png.subarray(12, 16).toString('latin1')).toBe('IHDR')
      expect({ width: png.readUInt32BE(16), height: png.readUInt32BE(20) }).toEqual(VIEWPORT)
      const blank = await browser.newPage({ viewport: VIEWPORT })
      const empty = await blank.screenshot()
      await blank.close()
      expect(png.length).toBeGreaterThan(5 * empty.length)
      console.log(`dashboard screenshot: ${shot} (${png.length} bytes; a blank page: ${empty.length})`)
    })
  })
})

describe('the dashboard behind the control port\'s authentication', () => {
  let gateway: Gateway
  let control: string
  beforeAll(async () => {
    gateway = await startGateway(await writeCapability(capability(`    - type: control
      port: 0
      authentication:
        type: apikey
        key: token
        value: '{{CONTROL_TOKEN}}'
        placement: query
      management:
        info: true`)), {
      flags: { port: ['fleet-rest=0', 'fleet-mcp=0', 'control=0'], 'base-uri': [`fleet=${origin}/v1`] },
      env: { FLEET_KEY: KEY, CONTROL_TOKEN },
    })
    control = gateway.url('control')
    await restCall(gateway, '/ships')
  })
  afterAll(async () => { await gateway.close() })

  it('refuses the page, the feed and / without the credential or with a wrong one', async () => {
    for (const path of ['/', '/dashboard', '/dashboard/data', '/dashboard?token=wrong', '/dashboard/data?token=wrong']) {
      const answer = await get(`${control}${path}`)
      expect(answer.status, path).toBe(401)
      expect(answer.headers['www-authenticate'], path).toMatch(/^ApiKey /)
      expect(answer.text).not.toContain('Fleet Dashboard')
    }
  })

  it('serves them with it, keeps the query on the way from /, and still answers unknown paths 404', async () => {
    const q = `?token=${CONTROL_TOKEN}`
    expect((await get(`${control}/dashboard${q}`)).status).toBe(200)
    const data = await get(`${control}/dashboard/data${q}`)
    expect(data.status).toBe(200)
    expect((JSON.parse(data.text) as Feed).rows.find((r) => r.name === 'GET /ships')?.requests).toBe(1)
    expect((await get(`${control}/${q}`)).headers.location).toBe(`dashboard${q}`)
    expect((await get(`${control}/dashboard/nope${q}`)).status).toBe(404)
  })

  it.skipIf(!HAS_CHROMIUM)('renders in Chromium opened at /?token=...: the page passes its query to the feed', async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
    try {
      const page = await browser.newPage({ viewport: VIEWPORT })
      const problems: string[] = []
      page.on('console', (message) => { if (message.type() === 'error') problems.push(message.text()) })
      await page.goto(`${control}/?token=${CONTROL_TOKEN}`)
      await page.locator('#traffic tr[data-name="GET /ships"] td[data-col="requests"]').waitFor({ timeout: 10_000 }).catch((err: Error) => {
        throw new Error(`${err.message}; the page said: ${problems.join(' | ')}`)
      })
      expect(await page.locator('h1').innerText()).toBe('Fleet Dashboard')
      expect(await page.locator('#traffic tr[data-name="GET /ships"] td[data-col="requests"]').innerText()).toBe('1')
      expect(await page.locator('#status').innerText()).toMatch(/^updated /)
    } finally {
      await browser.close()
    }
  }, 30_000)
})

describe('a control expose without management.info', () => {
  it('has no dashboard: /, /dashboard and its feed are unknown paths', async () => {
    const gateway = await startGateway(await writeCapability(capability(`    - type: control
      port: 0`)), { flags: { port: ['fleet-rest=0', 'fleet-mcp=0', 'control=0'], 'base-uri': [`fleet=${origin}/v1`] }, env: { FLEET_KEY: KEY, CONTROL_TOKEN } })
    try {
      for (const path of ['/', '/dashboard', '/dashboard/data']) expect((await get(`${gateway.url('control')}${path}`)).status, path).toBe(404)
      expect((await get(`${gateway.url('control')}/metrics`)).status).toBe(200)
    } finally {
      await gateway.close()
    }
  })
})
