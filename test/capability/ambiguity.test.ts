import { describe, expect, it } from 'vitest'
import { readCapability } from '../../src/capability/read-capability.js'
import type { Diagnostic } from '../../src/capability/diagnostics.js'
import { writeCapability } from '../helpers/gateway.js'
import { runCli, startCli } from '../helpers/cli.js'

/**
 * A reference (`call: ns.op`, a route, a tool name, a namespace) must name exactly one thing. The
 * checker refuses every declaration a reference could not tell apart from an earlier one, at the
 * second declaration and naming the first, instead of routing to whichever was declared last.
 */

interface Position { line: number, col: number }

/** Where `token` starts on the one line of `yaml` marked with the comment `# tag` (1-based). */
function marked (yaml: string, tag: string, token: string): Position {
  const lines = yaml.split('\n')
  const index = lines.findIndex((l) => l.endsWith(`# ${tag}`))
  if (index === -1) throw new Error(`no line marked # ${tag}`)
  const col = (lines[index] as string).indexOf(token)
  if (col === -1) throw new Error(`no ${token} on the line marked # ${tag}`)
  return { line: index + 1, col: col + 1 }
}

function escapeRegExp (text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

function errorsAt (diagnostics: Diagnostic[], at: Position): Diagnostic[] {
  return diagnostics.filter((d) => d.severity === 'error' && d.line === at.line && d.col === at.col)
}

const HEADER = `naftiko: 1.0.0-alpha2
info:
  label: Ambiguity
capability:
`

/** One consumed namespace `api` with two operations, and the REST expose that calls them. */
const API = `  consumes:
  - type: http
    namespace: api
    baseUri: https://api.example.com
    resources:
    - name: items
      path: /items
      operations:
      - name: list
        method: GET
    - name: users
      path: /users/{id}
      operations:
      - name: get-user
        method: GET
`

const REST = `  exposes:
  - type: rest
    namespace: api-rest
    port: 8080
    resources:
    - path: /items
      operations:
      - method: GET
        call: api.list
`

interface Case {
  /** what is declared twice, as the test name */
  name: string
  yaml: string
  /** the start of the message: `<what> is declared twice` */
  what: string
  /** the node each declaration is reported at, on the lines marked `# first` and `# second` */
  token: string
  /** what the message says after the positions */
  hint?: string
}

const CASES: Case[] = [
  {
    name: 'two consumed operations with one name in one namespace',
    yaml: `${HEADER}  consumes:
  - type: http
    namespace: api
    baseUri: https://api.example.com
    resources:
    - name: items
      path: /items
      operations:
      - name: list # first
        method: GET
    - name: archived-items
      path: /archive/items
      operations:
      - name: list # second
        method: GET
${REST}`,
    what: 'operation "list" of namespace "api"',
    token: 'name',
    hint: '; a call cannot tell them apart: rename one of them',
  },
  {
    name: 'two consumed operations with one name in one resource',
    yaml: `${HEADER}  consumes:
  - type: http
    namespace: api
    baseUri: https://api.example.com
    resources:
    - name: items
      path: /items
      operations:
      - name: list # first
        method: GET
      - name: list # second
        method: POST
${REST}`,
    what: 'operation "list" of namespace "api"',
    token: 'name',
    hint: '; a call cannot tell them apart: rename one of them',
  },
  {
    name: 'two consumed resources with one name in one namespace',
    yaml: `${HEADER}  consumes:
  - type: http
    namespace: api
    baseUri: https://api.example.com
    resources:
    - name: items # first
      path: /items
      operations:
      - name: list
        method: GET
    - name: items # second
      path: /v2/items
      operations:
      - name: list-v2
        method: GET
${REST}`,
    what: 'resource "items" of namespace "api"',
    token: 'name',
  },
  {
    name: 'two MCP tools with one name in one expose',
    yaml: `${HEADER}${API}  exposes:
  - type: mcp
    namespace: api-mcp
    port: 9090
    tools:
    - name: find-items # first
      description: List the items
      call: api.list
    - name: find-items # second
      description: Get a user
      call: api.get-user
`,
    what: 'tool "find-items"',
    token: 'find-items',
  },
  {
    name: 'two MCP prompts with one name in one expose',
    yaml: `${HEADER}${API}  exposes:
  - type: mcp
    namespace: api-mcp
    port: 9090
    tools:
    - name: find-items
      call: api.list
    prompts:
    - name: summarize # first
      description: Summarize the items
    - name: summarize # second
      description: Summarize the users
`,
    what: 'MCP prompt "summarize"',
    token: 'name',
  },
  {
    name: 'two MCP resources with one uri in one expose',
    yaml: `${HEADER}${API}  exposes:
  - type: mcp
    namespace: api-mcp
    port: 9090
    tools:
    - name: find-items
      call: api.list
    resources:
    - uri: data://items/catalog # first
      name: catalog
    - uri: data://items/catalog # second
      name: catalog-copy
`,
    what: 'MCP resource "data://items/catalog"',
    token: 'uri',
  },
  {
    name: 'an aggregate function declared twice in one namespace',
    yaml: `${HEADER}${API}  aggregates:
  - namespace: fleet
    functions:
    - name: lookup-items # first
      call: api.list
    - name: lookup-items # second
      call: api.list
${REST}`,
    what: 'aggregate function "fleet.lookup-items"',
    token: 'name',
  },
  {
    name: 'two exposes sharing a namespace',
    yaml: `${HEADER}${API}  exposes:
  - type: rest
    namespace: api-rest # first
    port: 8080
    resources:
    - path: /items
      operations:
      - method: GET
        call: api.list
  - type: mcp
    namespace: api-rest # second
    port: 9090
    tools:
    - name: find-items
      call: api.list
`,
    what: 'namespace "api-rest"',
    token: 'api-rest',
  },
  {
    name: 'two consumes sharing a namespace',
    yaml: `${HEADER}  consumes:
  - type: http
    namespace: api # first
    baseUri: https://api.example.com
    resources:
    - name: items
      path: /items
      operations:
      - name: list
        method: GET
  - type: http
    namespace: api # second
    baseUri: https://other.example.com
    resources:
    - name: users
      path: /users
      operations:
      - name: list-users
        method: GET
${REST}`,
    what: 'namespace "api"',
    token: 'api',
  },
  {
    name: 'two REST routes with one method and path in two resources',
    yaml: `${HEADER}${API}  exposes:
  - type: rest
    namespace: api-rest
    port: 8080
    resources:
    - path: /items
      operations:
      - method: GET # first
        call: api.list
    - path: /items
      operations:
      - method: GET # second
        call: api.get-user
`,
    what: 'route GET /items',
    token: 'GET',
  },
  {
    name: 'two REST routes with one method and path in one resource',
    yaml: `${HEADER}${API}  exposes:
  - type: rest
    namespace: api-rest
    port: 8080
    resources:
    - path: /items
      operations:
      - method: GET # first
        call: api.list
      - method: GET # second
        call: api.get-user
`,
    what: 'route GET /items',
    token: 'GET',
  },
  {
    name: 'two REST routes whose paths differ only in placeholder style, {id} and {{user_id}}',
    yaml: `${HEADER}${API}  exposes:
  - type: rest
    namespace: api-rest
    port: 8080
    resources:
    - path: /users/{id}
      operations:
      - method: GET # first
        call: api.get-user
    - path: /users/{{user_id}}
      operations:
      - method: GET # second
        call: api.get-user
        with:
          id: rest.user_id
`,
    what: 'route GET /users/{}',
    token: 'GET',
  },
]

describe('checkCapability: ambiguity', () => {
  it('the capability the cases vary on is valid', async () => {
    const read = await readCapability(await writeCapability(`${HEADER}${API}${REST}`))
    expect(read.diagnostics.filter((d) => d.severity === 'error')).toEqual([])
    expect(read.ok).toBe(true)
  })

  it.each(CASES.map((c) => [c.name, c] as const))('refuses %s at the second declaration, naming the first', async (_name, { yaml, what, token, hint }) => {
    const file = await writeCapability(yaml)
    const read = await readCapability(file)
    expect(read.ok).toBe(false)
    expect(read.model).toBeUndefined()
    const first = marked(yaml, 'first', token)
    const second = marked(yaml, 'second', token)
    const message = new RegExp(`^${escapeRegExp(`${what} is declared twice (first at line ${first.line}:${first.col})${hint ?? ''}`)}`)
    const found = errorsAt(read.diagnostics, second).filter((d) => message.test(d.message))
    expect(found, JSON.stringify(read.diagnostics, null, 2)).toHaveLength(1)
    expect(found[0]?.file).toBe(file)
    // the first declaration is not the one reported
    expect(errorsAt(read.diagnostics, first).filter((d) => d.message.includes('declared twice'))).toEqual([])
  })

  it('refuses the third declaration of a name too, naming the first, not the second', async () => {
    const yaml = `${HEADER}  consumes:
  - type: http
    namespace: api
    baseUri: https://api.example.com
    resources:
    - name: items
      path: /items
      operations:
      - name: list # first
        method: GET
      - name: list # second
        method: POST
      - name: list # third
        method: PUT
${REST}`
    const read = await readCapability(await writeCapability(yaml))
    expect(read.ok).toBe(false)
    const first = marked(yaml, 'first', 'name')
    for (const tag of ['second', 'third']) {
      const messages = errorsAt(read.diagnostics, marked(yaml, tag, 'name')).map((d) => d.message)
      expect(messages).toContain(`operation "list" of namespace "api" is declared twice (first at line ${first.line}:${first.col}); a call cannot tell them apart: rename one of them`)
    }
  })

  it.each(([
    {
      name: 'one operation name in two different consumed namespaces',
      yaml: `${HEADER}${API}  - type: http
    namespace: billing
    baseUri: https://billing.example.com
    resources:
    - name: items
      path: /items
      operations:
      - name: list
        method: GET
  exposes:
  - type: rest
    namespace: api-rest
    port: 8080
    resources:
    - path: /items
      operations:
      - method: GET
        call: api.list
    - path: /billing/items
      operations:
      - method: GET
        call: billing.list
`,
    },
    {
      name: 'one tool name in two different MCP exposes',
      yaml: `${HEADER}${API}  exposes:
  - type: mcp
    namespace: api-mcp
    port: 9090
    tools:
    - name: find-items
      call: api.list
  - type: mcp
    namespace: api-mcp-2
    port: 9091
    tools:
    - name: find-items
      call: api.list
`,
    },
    {
      name: 'one path with two different methods',
      yaml: `${HEADER}${API}  exposes:
  - type: rest
    namespace: api-rest
    port: 8080
    resources:
    - path: /items
      operations:
      - method: GET
        call: api.list
      - method: DELETE
        call: api.list
`,
    },
    {
      name: 'one resource name in two different consumed namespaces',
      yaml: `${HEADER}${API}  - type: http
    namespace: billing
    baseUri: https://billing.example.com
    resources:
    - name: users
      path: /users
      operations:
      - name: list-users
        method: GET
${REST}`,
    },
  ] as Array<{ name: string, yaml: string }>).map((c) => [c.name, c.yaml] as const))('accepts %s', async (_name, yaml) => {
    const read = await readCapability(await writeCapability(yaml))
    expect(read.diagnostics.filter((d) => d.severity === 'error')).toEqual([])
    expect(read.ok).toBe(true)
  })

  it('refuses a bare {{TOKEN}} that two binds entries declare, where only {{namespace.TOKEN}} tells them apart', async () => {
    const yaml = `naftiko: 1.0.0-alpha2
binds:
- namespace: primary
  keys:
    API_TOKEN: PRIMARY_TOKEN # first
- namespace: fallback
  keys:
    API_TOKEN: FALLBACK_TOKEN # second
capability:
${API.replace('    resources:\n', "    authentication:\n      type: bearer\n      token: '{{API_TOKEN}}' # use\n    resources:\n")}${REST}`
    const read = await readCapability(await writeCapability(yaml))
    const lines = [marked(yaml, 'second', 'API_TOKEN').line, marked(yaml, 'use', '{{').line]
    const found = read.diagnostics.filter((d) => d.severity === 'error' && lines.includes(d.line) && d.message.includes('API_TOKEN'))
    expect(found, JSON.stringify(read.diagnostics, null, 2)).not.toEqual([])
    expect(read.ok).toBe(false)
  })

  it('accepts one key in two binds entries when every use names its namespace', async () => {
    const yaml = `naftiko: 1.0.0-alpha2
binds:
- namespace: primary
  keys:
    API_TOKEN: PRIMARY_TOKEN
- namespace: fallback
  keys:
    API_TOKEN: FALLBACK_TOKEN
capability:
${API.replace('    resources:\n', "    authentication:\n      type: bearer\n      token: '{{primary.API_TOKEN}}'\n    resources:\n")}${REST}`
    const read = await readCapability(await writeCapability(yaml))
    expect(read.diagnostics.filter((d) => d.severity === 'error')).toEqual([])
    expect(read.ok).toBe(true)
  })

  it('refuses two with keys that name one parameter once case, - and _ are ignored', async () => {
    const yaml = `${HEADER}  consumes:
  - type: http
    namespace: api
    baseUri: https://api.example.com
    resources:
    - name: org
      path: /orgs/{org_slug}
      operations:
      - name: get-org
        method: GET
  exposes:
  - type: rest
    namespace: api-rest
    port: 8080
    resources:
    - path: /orgs
      operations:
      - method: GET
        call: api.get-org
        with:
          org_slug: rest.a # first
          orgSlug: rest.b # second
`
    const read = await readCapability(await writeCapability(yaml))
    const lines = [marked(yaml, 'first', 'org_slug').line, marked(yaml, 'second', 'orgSlug').line]
    const found = read.diagnostics.filter((d) => d.severity === 'error' && lines.includes(d.line))
    expect(found, JSON.stringify(read.diagnostics, null, 2)).not.toEqual([])
    expect(read.ok).toBe(false)
  })
})

// ---------------------------------------------------------------------------------------------
// The generator's Dropbox files: every RPC endpoint is a POST, and each operation is named `post`
// ---------------------------------------------------------------------------------------------

const DROPBOX_PATHS = [
  '/2/check/app', '/2/check/user', '/2/files/list_folder', '/2/files/get_metadata', '/2/files/delete_v2',
  '/2/files/copy_v2', '/2/files/move_v2', '/2/files/search_v2', '/2/files/create_folder_v2',
  '/2/users/get_current_account', '/2/users/get_space_usage', '/2/sharing/list_folders',
]

function dropboxCapability (operations: number): string {
  const resources = DROPBOX_PATHS.slice(0, operations).map((path) => `    - name: ${path.slice(3).replace(/[/_]/g, '-')}
      path: ${path}
      operations:
      - name: post
        method: POST
        inputParameters:
        - name: body
          in: body
`).join('')
  return `naftiko: 1.0.0-alpha2
info:
  label: Dropbox API (${operations} operations)
capability:
  consumes:
  - type: http
    namespace: dropbox
    baseUri: https://api.dropboxapi.com
    resources:
${resources}  exposes:
  - type: rest
    namespace: dropbox-rest
    port: 8080
    resources:
    - path: /v1/dropbox
      operations:
      - method: POST
        call: dropbox.post
        with:
          body: rest.body
`
}

/** The `file:line:col: message` line of every repeated `post`, each naming the first one. */
function expectedDropboxErrors (file: string, yaml: string): string[] {
  const positions: Position[] = []
  yaml.split('\n').forEach((line, i) => {
    if (/^\s*- name: post$/.test(line)) positions.push({ line: i + 1, col: line.indexOf('name') + 1 })
  })
  const [first, ...repeated] = positions as [Position, ...Position[]]
  return repeated.map((at) => `${file}:${at.line}:${at.col}: operation "post" of namespace "dropbox" is declared twice (first at line ${first.line}:${first.col}); a call cannot tell them apart: rename one of them`)
}

const DROPBOX_SIZES = [3, 4, 6, 8, 10, 12]

async function writeDropbox (operations: number): Promise<{ file: string, yaml: string, errors: string[] }> {
  const yaml = dropboxCapability(operations)
  const file = await writeCapability(yaml, `dropbox-${operations}.yaml`)
  return { file, yaml, errors: expectedDropboxErrors(file, yaml) }
}

describe('naftiko CLI: one operation name repeated in a consumed namespace', () => {
  it.each(DROPBOX_SIZES)('validate exits 1 on a Dropbox capability of %i operations all named post, reporting every repeat with file:line:col', async (operations) => {
    const { file, errors } = await writeDropbox(operations)
    expect(errors).toHaveLength(operations - 1)
    const result = await runCli(['validate', file])
    expect(result.code).toBe(1)
    const lines = result.stderr.split('\n')
    for (const error of errors) expect(lines).toContain(error)
    expect(lines.filter((l) => l.includes('declared twice'))).toHaveLength(operations - 1)
    expect(result.stdout).toContain(`${file}: ${operations - 1} error(s)`)
    expect(result.stderr).not.toMatch(/^\s+at /m)
  })

  it.each(DROPBOX_SIZES)('run exits 1 on a Dropbox capability of %i operations all named post, with the same report and without listening', async (operations) => {
    const { file, errors } = await writeDropbox(operations)
    const result = await runCli(['run', file, '--port', 'rest=0'])
    expect(result.code).toBe(1)
    const lines = result.stderr.split('\n')
    for (const error of errors) expect(lines).toContain(error)
    expect(result.stderr).not.toMatch(/^\s+at /m)
    expect(result.stdout).not.toMatch(/listening/)
    expect(result.stderr).not.toMatch(/listening/)
  })
})

describe('naftiko CLI: validate accepts exactly what run can mount', () => {
  it.each(([
    {
      name: 'two REST routes that differ only in a trailing slash, which the router ignores',
      resources: `    - path: /items
      operations:
      - method: GET
        call: api.list
    - path: /items/
      operations:
      - method: GET
        call: api.list
`,
    },
    {
      name: 'a forward resource and an operation on one path',
      resources: `    - path: /items
      forward:
        targetNamespace: api
    - path: /items
      operations:
      - method: GET
        call: api.list
`,
    },
  ] as Array<{ name: string, resources: string }>).map((c) => [c.name, c.resources] as const))('%s: run listens when validate accepts, else both exit 1 with file:line:col and no stack trace', async (_name, resources) => {
    const file = await writeCapability(`${HEADER}${API}  exposes:
  - type: rest
    namespace: api-rest
    port: 8080
    resources:
${resources}`)
    const validated = await runCli(['validate', file])
    if (validated.code === 0) {
      const running = await startCli(['run', file, '--port', 'rest=0'], {}, 1)
      expect(running.urls.get('rest')).toMatch(/^http:\/\/127\.0\.0\.1:\d+/)
      running.child.kill('SIGTERM')
      expect(await running.exited).toBe(0)
      return
    }
    expect(validated.code).toBe(1)
    expect(validated.stderr).toMatch(new RegExp(`^${escapeRegExp(file)}:\\d+:\\d+: (?!warning:)`, 'm'))
    const result = await runCli(['run', file, '--port', 'rest=0'])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(new RegExp(`^${escapeRegExp(file)}:\\d+:\\d+: (?!warning:)`, 'm'))
    expect(result.stderr).not.toMatch(/^\s+at /m)
    expect(result.stdout).not.toMatch(/listening/)
  })
})
