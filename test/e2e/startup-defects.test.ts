import { createServer, type Server } from 'node:http'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { writeCapability } from '../helpers/gateway.js'
import { runCli, startCli, type RunningCli } from '../helpers/cli.js'

/**
 * Problems a capability carries are found before serving (DESIGN 2: `validate` checks what the
 * runtime needs, `run` reports with file:line:col and exits 1), and a credential template the
 * real generator files use resolves (DESIGN 2.1 `binds`). These run the built CLI (`npm run build`).
 */
const OFFICIAL_SCHEMA = new URL('../../../shared/naftiko/schemas/v1.0.0-alpha2/naftiko-schema.json', import.meta.url).pathname

const STACK_FRAME = /^\s+at /m

/** 1-based line of the first line of `yaml` that contains `needle`. */
function lineOf (yaml: string, needle: string): number {
  const index = yaml.split('\n').findIndex((line) => line.includes(needle))
  if (index === -1) throw new Error(`fixture has no line with ${needle}`)
  return index + 1
}

/** Lines of the diagnostics printed as `capability.yaml:LINE:COL: ...`. */
function diagnosticLines (stderr: string): Array<{ line: number, text: string }> {
  return [...stderr.matchAll(/capability\.yaml:(\d+):(\d+): (.*)/g)].map((m) => ({ line: Number(m[1]), text: m[0] }))
}

const running: RunningCli[] = []

afterEach(async () => {
  for (const cli of running.splice(0)) {
    cli.child.kill('SIGTERM')
    await cli.exited
  }
})

/**
 * `naftiko run` that is expected to refuse to start: resolves with its exit code and stderr, or
 * with `listening: true` (after stopping it) when it started serving instead.
 */
async function runExpectingRefusal (args: string[], env: Record<string, string>, exposes: number): Promise<{ listening: boolean, code: number | null, stderr: string }> {
  try {
    const cli = await startCli(args, env, exposes)
    running.push(cli)
    return { listening: true, code: null, stderr: cli.stderr() }
  } catch (err) {
    const message = (err as Error).message
    const match = /^naftiko exited with (\S+) before listening: ([\s\S]*)$/.exec(message)
    if (match === null) throw err
    return { listening: false, code: match[1] === 'null' ? null : Number(match[1]), stderr: match[2] ?? '' }
  }
}

describe('a template root the runtime has no input for', () => {
  const yaml = `naftiko: 1.0.0-alpha2
capability:
  consumes:
  - type: http
    namespace: search
    baseUri: https://search.example
    resources:
    - name: items
      path: /items
      operations:
      - name: find
        method: GET
        inputParameters:
        - name: q
          in: query
  exposes:
  - type: rest
    namespace: api
    port: 8080
    resources:
    - path: /items
      operations:
      - method: GET
        call: search.find
        with:
          q: '{{args.q}}'
`

  it('makes validate exit 1 with file:line:col naming args.q', async () => {
    const file = await writeCapability(yaml)
    const result = await runCli(['validate', file])
    expect(result.code, result.stdout + result.stderr).toBe(1)
    const line = lineOf(yaml, '{{args.q}}')
    expect(result.stderr).toMatch(new RegExp(`capability\\.yaml:${line}:\\d+: .*args\\.q`))
  })
})

describe('digest authentication on a rest expose', () => {
  const yaml = `naftiko: 1.0.0-alpha2
capability:
  consumes:
  - type: http
    namespace: search
    baseUri: https://search.example
    resources:
    - name: items
      path: /items
      operations:
      - name: find
        method: GET
  exposes:
  - type: rest
    namespace: api
    port: 8080
    authentication:
      type: digest
      username: u
      password: p
    resources:
    - path: /items
      operations:
      - method: GET
        call: search.find
`
  const first = lineOf(yaml, 'authentication:')
  const last = lineOf(yaml, 'password: p')
  const digestDiagnostics = (stderr: string): Array<{ line: number, text: string }> =>
    diagnosticLines(stderr).filter((d) => /digest/.test(d.text) && d.line >= first && d.line <= last)

  it('makes validate exit 1 with a file:line:col diagnostic in the authentication block mentioning digest', async () => {
    const file = await writeCapability(yaml)
    const result = await runCli(['validate', file])
    expect(result.code, result.stdout + result.stderr).toBe(1)
    expect(digestDiagnostics(result.stderr), result.stderr).not.toEqual([])
  })

  it('makes run exit 1 with that diagnostic and no stack trace', async () => {
    const file = await writeCapability(yaml)
    const result = await runExpectingRefusal(['run', file, '--port', 'rest=0'], {}, 1)
    expect(result.listening, 'naftiko run started serving a digest-protected expose').toBe(false)
    expect(result.code, result.stderr).toBe(1)
    expect(digestDiagnostics(result.stderr), result.stderr).not.toEqual([])
    expect(result.stderr).not.toMatch(STACK_FRAME)
  })
})

describe('basic authentication from environment variables no binds entry declares', () => {
  // the shape of ../shared/corpus/api-evangelist/twilio/flex-insights.yaml: it binds one key and
  // takes the basic credentials from two others
  const yaml = `naftiko: 1.0.0-alpha2
binds:
- namespace: env
  keys:
    TWILIO_AUTH_TOKEN: TWILIO_AUTH_TOKEN
capability:
  consumes:
  - type: http
    namespace: flex-insights
    baseUri: https://flex-api.twilio.com/v1
    authentication:
      type: basic
      username: '{{env.TWILIO_USER}}'
      password: '{{env.TWILIO_PASS}}'
    resources:
    - name: questionnaires
      path: /Insights/QualityManagement/Questionnaires
      operations:
      - name: listquestionnaires
        method: GET
  exposes:
  - type: rest
    namespace: flex-insights-rest
    port: 8080
    resources:
    - path: /v1/questionnaires
      operations:
      - method: GET
        call: flex-insights.listquestionnaires
`
  const USER = 'ACparity-twilio-user'
  const PASS = 'twilio-pass-0123456789'

  it('is valid with a warning naming TWILIO_USER', async () => {
    const file = await writeCapability(yaml)
    const result = await runCli(['validate', file])
    expect(result.code, result.stdout + result.stderr).toBe(0)
    expect(result.stderr).toMatch(/capability\.yaml:\d+:\d+: warning: .*TWILIO_USER/)
  })

  it('is refused by validate --strict, naming TWILIO_USER', async (ctx) => {
    ctx.skip(!existsSync(OFFICIAL_SCHEMA), `the official alpha2 schema is absent at ${OFFICIAL_SCHEMA}`)
    const file = await writeCapability(yaml)
    const result = await runCli(['validate', '--strict', '--official-schema', OFFICIAL_SCHEMA, file])
    expect(result.code, result.stdout + result.stderr).toBe(1)
    expect(result.stderr).toMatch(/capability\.yaml:\d+:\d+: .*TWILIO_USER/)
    // the same file with the two variables bound passes strict: the refusal is about them
    const bound = await writeCapability(yaml.replace('    TWILIO_AUTH_TOKEN: TWILIO_AUTH_TOKEN\n', '    TWILIO_AUTH_TOKEN: TWILIO_AUTH_TOKEN\n    TWILIO_USER: TWILIO_USER\n    TWILIO_PASS: TWILIO_PASS\n'))
    const control = await runCli(['validate', '--strict', '--official-schema', OFFICIAL_SCHEMA, bound])
    expect(control.code, control.stdout + control.stderr).toBe(0)
  })

  it('runs and sends Authorization: Basic base64(user:pass) upstream when the variables are set', async () => {
    const seen: Array<string | undefined> = []
    const upstream: Server = createServer((req, res) => {
      seen.push(req.headers.authorization)
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{"questionnaires":[]}')
    })
    upstream.listen(0, '127.0.0.1')
    await once(upstream, 'listening')
    try {
      const address = upstream.address()
      const origin = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
      const file = await writeCapability(yaml)
      const cli = await startCli(['run', file, '--port', 'rest=0', '--base-uri', `flex-insights=${origin}`], { TWILIO_AUTH_TOKEN: 'twilio-token', TWILIO_USER: USER, TWILIO_PASS: PASS }, 1)
      running.push(cli)
      const response = await fetch(`${cli.urls.get('rest') ?? ''}/v1/questionnaires`)
      expect(response.status).toBe(200)
      expect(await response.json()).toEqual({ questionnaires: [] })
      expect(seen).toEqual([`Basic ${Buffer.from(`${USER}:${PASS}`).toString('base64')}`])
    } finally {
      upstream.closeAllConnections()
      upstream.close()
    }
  })

  it('refuses to run without TWILIO_USER, naming it', async () => {
    const file = await writeCapability(yaml)
    const result = await runExpectingRefusal(['run', file, '--port', 'rest=0', '--base-uri', 'flex-insights=http://127.0.0.1:9'], { TWILIO_AUTH_TOKEN: 'twilio-token', TWILIO_PASS: PASS }, 1)
    expect(result.listening, 'naftiko run started serving without TWILIO_USER').toBe(false)
    expect(result.code, result.stderr).toBe(1)
    expect(result.stderr).toMatch(/TWILIO_USER/)
  })
})

describe('files that cannot be read', () => {
  it.each([
    ['a missing file', (dir: string) => `${dir}/missing.yaml`, /missing\.yaml: no such file/],
    ['a directory without a capability', (dir: string) => dir, /no capability file in it|needs `capability:`/],
  ])('%s is one sentence and exit 1 for validate and run, never a stack', async (_name, target, message) => {
    const dir = (await writeCapability('naftiko: 1.0.0-alpha2\n')).replace(/\/[^/]+$/, '')
    for (const command of ['validate', 'run']) {
      const result = await runCli([command, target(dir)])
      expect(result.code).toBe(1)
      expect(result.stderr).toMatch(message)
      expect(result.stderr).not.toMatch(STACK_FRAME)
    }
  })
})
