import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { unzipSync } from 'fflate'
import { request } from 'undici'
import { parse } from 'yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readCapability } from '../../src/capability/read-capability.js'
import { rawGet } from '../helpers/raw-http.js'
import { startGateway, type Gateway } from '../helpers/gateway.js'

/**
 * A `type: skill` expose is a read-only catalog (docs/semantics.md, "Skills"): the skills, their
 * tools (derived from sibling operations and tools, or instruction files), their files, a zip.
 */
const capability = (skillsAuth: string): string => `
naftiko: "1.0.0-alpha2"
info:
  label: Orders
binds:
  - namespace: env
    keys:
      CATALOG_TOKEN: CATALOG_TOKEN
capability:
  exposes:
    - type: rest
      namespace: orders-rest
      port: 0
      resources:
        - path: /orders
          operations:
            - method: GET
              name: list-orders
              outputParameters:
                - name: count
                  type: number
                  value: 2
    - type: mcp
      namespace: orders-mcp
      port: 0
      tools:
        - name: count-orders
          description: Count orders
          outputParameters:
            - name: count
              type: number
              value: 2
    - type: skill
      namespace: orders-skills
      port: 0
      description: Order skills
${skillsAuth}
      skills:
        - name: order-management
          description: Tools for managing orders
          license: Apache-2.0
          allowed-tools: "list-orders count-orders"
          argument-hint: Use for order operations
          location: "file:///./skills/order-management"
          tools:
            - name: list-orders
              description: List all orders
              from:
                sourceNamespace: orders-rest
                action: list-orders
            - name: count-orders
              description: Count the orders
              from:
                sourceNamespace: orders-mcp
                action: count-orders
            - name: order-guide
              description: Guide for working with orders
              instruction: order-guide.md
        - name: onboarding-guide
          description: A purely descriptive skill with no tools
`

let dir: string

async function writeSkillFolder (): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'naftiko-skills-'))
  const skill = join(root, 'skills', 'order-management')
  await mkdir(join(skill, 'scripts'), { recursive: true })
  await writeFile(join(skill, 'order-guide.md'), '# Orders\n\nAlways list before you change.\n')
  await writeFile(join(skill, 'scripts', 'report.sh'), 'echo report\n')
  // outside the skill's folder, and a link that points there
  await writeFile(join(root, 'secret.txt'), 'not for clients')
  await symlink(join(root, 'secret.txt'), join(skill, 'leak.txt'))
  return root
}

async function start (auth = '', env: Record<string, string> = {}): Promise<Gateway> {
  const file = join(dir, `capability-${Math.random().toString(36).slice(2)}.yaml`)
  await writeFile(file, capability(auth))
  return startGateway(file, { flags: { port: ['orders-rest=0', 'orders-mcp=0', 'orders-skills=0'], 'allow-unauthenticated': true }, env })
}

beforeAll(async () => { dir = await writeSkillFolder() })

describe('skill catalog', () => {
  let gateway: Gateway
  let base: string
  beforeAll(async () => {
    gateway = await start()
    base = gateway.url('skill')
  })
  afterAll(async () => { await gateway.close() })

  const json = async (path: string): Promise<{ status: number, body: any }> => {
    const answer = await request(`${base.replace(/\/skills$/, '')}${path}`)
    return { status: answer.statusCode, body: await answer.body.json() }
  }

  it('lists the skills with their front matter and tool names', async () => {
    const { status, body } = await json('/skills')
    expect(status).toBe(200)
    expect(body.count).toBe(2)
    expect(body.skills[0]).toEqual({
      name: 'order-management',
      description: 'Tools for managing orders',
      license: 'Apache-2.0',
      'allowed-tools': 'list-orders count-orders',
      'argument-hint': 'Use for order operations',
      tools: ['list-orders', 'count-orders', 'order-guide'],
    })
    expect(body.skills[1]).toEqual({ name: 'onboarding-guide', description: 'A purely descriptive skill with no tools', tools: [] })
  })

  it('describes a skill\'s tools: how each derived one is invoked, where each instruction is', async () => {
    const { status, body } = await json('/skills/order-management')
    expect(status).toBe(200)
    expect(body.tools).toEqual([
      { name: 'list-orders', description: 'List all orders', type: 'derived', invocationRef: { targetNamespace: 'orders-rest', action: 'list-orders', mode: 'rest', method: 'GET', path: '/orders' } },
      { name: 'count-orders', description: 'Count the orders', type: 'derived', invocationRef: { targetNamespace: 'orders-mcp', action: 'count-orders', mode: 'mcp' } },
      { name: 'order-guide', description: 'Guide for working with orders', type: 'instruction', instruction: 'order-guide.md' },
    ])
    expect(JSON.stringify(body)).not.toContain(dir)
  })

  it('lists a skill\'s files (a written SKILL.md first when the folder has none), never a link that leads outside', async () => {
    const { body } = await json('/skills/order-management/contents')
    expect(body.files.map((f: { path: string }) => f.path)).toEqual(['SKILL.md', 'order-guide.md', 'scripts/report.sh'])
  })

  it('serves a file with its type, as bytes a browser will not run', async () => {
    const answer = await request(`${base}/order-management/contents/order-guide.md`)
    expect(answer.statusCode).toBe(200)
    expect(answer.headers['content-type']).toBe('text/markdown; charset=utf-8')
    expect(answer.headers['x-content-type-options']).toBe('nosniff')
    expect(await answer.body.text()).toBe('# Orders\n\nAlways list before you change.\n')
    const nested = await request(`${base}/order-management/contents/scripts/report.sh`)
    expect(await nested.body.text()).toBe('echo report\n')
  })

  it('never serves anything outside the skill\'s folder', async () => {
    // the same client reaches a file inside it
    expect((await rawGet(`${base}/order-management/contents/scripts/./report.sh`)).status).toBe(200)
    for (const path of ['/order-management/contents/leak.txt', '/order-management/contents/..%2F..%2Fsecret.txt', '/order-management/contents/%2e%2e/%2e%2e/%2e%2e/secret.txt', '/order-management/contents/../../../secret.txt', `/order-management/contents/${encodeURIComponent(join(dir, 'secret.txt'))}`]) {
      const answer = await rawGet(`${base}${path}`)
      expect(answer.status, path).toBe(404)
      expect(answer.text, path).not.toContain('not for clients')
    }
  })

  it('downloads a skill as a zip: a folder with its SKILL.md (Agent Skills front matter) and files', async () => {
    const answer = await request(`${base}/order-management/download`)
    expect(answer.statusCode).toBe(200)
    expect(answer.headers['content-type']).toBe('application/zip')
    expect(answer.headers['content-disposition']).toBe('attachment; filename="order-management.zip"')
    const files = unzipSync(new Uint8Array(await answer.body.arrayBuffer()))
    expect(Object.keys(files).sort()).toEqual(['order-management/SKILL.md', 'order-management/order-guide.md', 'order-management/scripts/report.sh'])
    const markdown = Buffer.from(files['order-management/SKILL.md'] as Uint8Array).toString()
    const front = parse(markdown.split('---\n')[1] as string) as Record<string, unknown>
    expect(front).toEqual({ name: 'order-management', description: 'Tools for managing orders', license: 'Apache-2.0', 'allowed-tools': 'list-orders count-orders', 'argument-hint': 'Use for order operations' })
    expect(markdown).toContain('- **list-orders**: List all orders (`GET /orders` on `orders-rest`)')
  })

  it('serves a descriptive skill with no folder: its SKILL.md only', async () => {
    const { body } = await json('/skills/onboarding-guide/contents')
    expect(body.files.map((f: { path: string }) => f.path)).toEqual(['SKILL.md'])
    const answer = await request(`${base}/onboarding-guide/contents/SKILL.md`)
    expect(await answer.body.text()).toContain('name: onboarding-guide')
  })

  it('answers an unknown skill 404 and another method 405, as error envelopes', async () => {
    const missing = await json('/skills/nope')
    expect(missing.status).toBe(404)
    expect(missing.body.error.code).toBe('not_found')
    const post = await request(`${base}/order-management`, { method: 'POST' })
    expect(post.statusCode).toBe(405)
    expect(post.headers.allow).toBe('GET, HEAD')
    expect(((await post.body.json()) as { error: { code: string } }).error.code).toBe('method_not_allowed')
  })
})

describe('skill catalog with inbound authentication', () => {
  it('answers 401 with a challenge without the token, the catalog with it', async () => {
    const gateway = await start(`      authentication:
        type: bearer
        token: "{{CATALOG_TOKEN}}"`, { CATALOG_TOKEN: 'catalog-token-1234567890' })
    try {
      const refused = await request(`${gateway.url('skill')}`)
      expect(refused.statusCode).toBe(401)
      expect(refused.headers['www-authenticate']).toContain('Bearer')
      await refused.body.dump()
      const ok = await request(`${gateway.url('skill')}`, { headers: { authorization: 'Bearer catalog-token-1234567890' } })
      expect(ok.statusCode).toBe(200)
      await ok.body.dump()
    } finally {
      await gateway.close()
    }
  })
})

describe('skill declarations are checked at load', () => {
  it('names a tool whose source operation or tool does not exist, and an instruction without a location', async () => {
    const yaml = capability('')
      .replace('action: count-orders', 'action: count-all')
      .replace('          location: "file:///./skills/order-management"\n', '')
    const file = join(dir, 'broken.yaml')
    await writeFile(file, yaml)
    const result = await readCapability(file)
    const errors = result.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message)
    expect(errors).toContain('skill tool "count-orders": "orders-mcp" has no tool named "count-all" (it has count-orders)')
    expect(errors).toContain('skill tool "order-guide" has an instruction file but skill "order-management" has no location to read it from')
  })
})

const OFFICIAL = new URL('../../../shared/corpus/naftiko-alpha2/src/test/resources/skill-capability.yaml', import.meta.url).pathname

describe.skipIf(!existsSync(OFFICIAL))('the engine\'s skill feature file', () => {
  it('serves its catalog; the missing location is a warning and the skill is served without files', async () => {
    const gateway = await startGateway(OFFICIAL, { flags: { host: '127.0.0.1', port: ['orders-rest=0', 'orders-skills=0'], 'allow-unauthenticated': true } })
    try {
      const answer = await request(`${gateway.url('skill')}/order-management`)
      const body = await answer.body.json() as { tools: Array<{ name: string, type: string }>, 'allowed-tools': string }
      expect(body['allowed-tools']).toBe('list-orders')
      expect(body.tools.map((t) => [t.name, t.type])).toEqual([['list-orders', 'derived'], ['order-guide', 'instruction']])
      expect(gateway.logs.text).toContain('skill location is not a readable directory')
    } finally {
      await gateway.close()
    }
  })
})

describe('a skill file that holds a credential of the gateway', () => {
  it('is scrubbed when it is text and withheld when it is not, in the contents and the zip', async () => {
    const secret = 'sk-skill-secret-0123456789abcdef'
    const root = await mkdtemp(join(tmpdir(), 'naftiko-skill-secret-'))
    await mkdir(join(root, 'ops'))
    await writeFile(join(root, 'ops', 'notes.md'), `the key is ${secret}\n`)
    await writeFile(join(root, 'ops', 'image.png'), Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47]), Buffer.from(secret)]))
    await writeFile(join(root, 'ops', 'plain.txt'), 'nothing to hide\n')
    const file = join(root, 'capability.yaml')
    await writeFile(file, `
naftiko: "1.0.0-alpha2"
binds:
  - namespace: env
    keys:
      OPS_KEY: OPS_KEY
capability:
  consumes:
    - type: http
      namespace: ops-api
      baseUri: "http://127.0.0.1:1"
      authentication: { type: bearer, token: "{{OPS_KEY}}" }
      resources:
        - name: status
          path: /status
          operations:
            - { name: status, method: GET }
  exposes:
    - type: skill
      namespace: ops-skills
      port: 0
      skills:
        - name: ops
          description: Operations
          location: "file:///./ops"
`)
    const gateway = await startGateway(file, { flags: { port: ['ops-skills=0'] }, env: { OPS_KEY: secret } })
    try {
      const base = gateway.url('skill')
      const notes = await request(`${base}/ops/contents/notes.md`)
      expect(await notes.body.text()).toBe('the key is [redacted]\n')
      const image = await request(`${base}/ops/contents/image.png`)
      expect(image.statusCode).toBe(404)
      expect(await image.body.text()).not.toContain(secret)
      const zip = unzipSync(new Uint8Array(await (await request(`${base}/ops/download`)).body.arrayBuffer()))
      expect(Object.keys(zip).sort()).toEqual(['ops/SKILL.md', 'ops/notes.md', 'ops/plain.txt'])
      expect(Buffer.from(zip['ops/notes.md'] as Uint8Array).toString()).toBe('the key is [redacted]\n')
    } finally {
      await gateway.close()
    }
  })
})
