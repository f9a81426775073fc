/**
 * Compatibility of the runtime with the shared corpus of real Naftiko capability files
 * (`../shared/corpus/`, see its PROVENANCE.md): every capability document loads (or is rejected for
 * the reason EXPECTED_REJECTIONS in test/helpers/corpus.ts gives), features a later issue executes are warnings that say "not yet
 * supported", and every REST route of an accepted file is mounted and reaches the right upstream path.
 */
import { readFileSync } from 'node:fs'
import { Agent, request as httpRequest } from 'node:http'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LineCounter, parseDocument } from 'yaml'
import { readCapability, type ReadCapability } from '../../src/capability/read-capability.js'
import {
  ALL_YAML, bindings, CAPABILITIES, consumedOperations, CORPUS, corpusExists, DATA, EXPECTED_REJECTIONS, expressionEvaluator,
  exposesOf, exposeUrl, isObject, type Json, list, modelConsumedPath, norm, PLACEHOLDER, skipWithoutCorpus,
  startCorpusGateway, str, type Target, TUTORIAL,
} from '../helpers/corpus.js'
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.js'
import type { Gateway } from '../helpers/gateway.js'

// ---------------------------------------------------------------------------------------------
// The corpus, classified
// ---------------------------------------------------------------------------------------------

/** YAML files of the corpus that are not capability documents, and what they are. */
const COMPANIONS: Record<string, string> = {
  'naftiko-alpha2/src/main/resources/tutorial/shared/legacy-consumes.yaml': 'shared consumes (root `consumes:`, imported by tutorial steps 5-11)',
  'naftiko-alpha2/src/main/resources/tutorial/shared/registry-consumes.yaml': 'shared consumes (root `consumes:`, imported by no step)',
  'naftiko-alpha2/src/main/resources/tutorial/shared/step5-registry-consumes.yaml': 'shared consumes (root `consumes:`, imported by tutorial step 5)',
  'naftiko-alpha2/src/main/resources/tutorial/shared/step6-registry-consumes.yaml': 'shared consumes (root `consumes:`, imported by tutorial step 6)',
  'naftiko-alpha2/src/main/resources/tutorial/shared/step7-registry-consumes.yml': 'shared consumes (root `consumes:`, imported by tutorial steps 7-10)',
  'naftiko-alpha2/src/main/resources/tutorial/shared/step11-registry-consumes.yml': 'shared consumes (root `consumes:`, imported by tutorial step 11)',
  'naftiko-alpha2/src/main/resources/tutorial/shared/secrets.yaml': 'secrets file: the `file://` provider of the tutorial binds',
  'naftiko-alpha2/src/test/resources/schemas/sample-users.yaml': 'format fixture: a sample YAML payload for formats/yaml-capability.yaml',
}

// ---------------------------------------------------------------------------------------------
// Reading the corpus
// ---------------------------------------------------------------------------------------------

type YamlPath = Array<string | number>

const reads = new Map<string, Promise<ReadCapability>>()
function read (rel: string): Promise<ReadCapability> {
  let pending = reads.get(rel)
  if (pending === undefined) {
    pending = readCapability(join(CORPUS, rel))
    reads.set(rel, pending)
  }
  return pending
}

// ---------------------------------------------------------------------------------------------
// Features a later issue executes
// ---------------------------------------------------------------------------------------------

type FeatureKind =
  | 'agent-skill or other expose type'

interface FeatureUse { kind: FeatureKind, warning: RegExp, path: YamlPath }

const notYet = (what: string): RegExp => new RegExp(`${what.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not yet supported`)

/** Where a capability uses a feature this runtime loads but does not execute, found from the YAML itself. */
function featureUses (rel: string): FeatureUse[] {
  const uses: FeatureUse[] = []
  const callers: Array<{ item: Json, path: YamlPath }> = []
  const invocable = (item: Json, path: YamlPath): void => {
    callers.push({ item, path })
  }
  exposesOf(rel).forEach((expose, e) => {
    const base: YamlPath = ['capability', 'exposes', e]
    const type = String(expose.type)
    if (type !== 'rest' && type !== 'mcp' && type !== 'skill' && type !== 'control') uses.push({ kind: 'agent-skill or other expose type', warning: notYet(`expose type "${type}"`), path: base })
    if (type === 'rest') {
      list(expose.resources).forEach((resource, r) => {
        list(resource.operations).forEach((op, o) => invocable(op, [...base, 'resources', r, 'operations', o]))
      })
    }
    if (type === 'mcp') {
      list(expose.tools).forEach((tool, t) => invocable(tool, [...base, 'tools', t]))
      // MCP resources are served; a dynamic one invokes like a tool
      list(expose.resources).forEach((resource, r) => { if (resource.location === undefined) invocable(resource, [...base, 'resources', r]) })
    }
  })
  return uses
}

/** First and last line of a node of the file, to tell which errors are about it. */
function lineSpan (rel: string, path: YamlPath): { from: number, to: number } {
  const lines = new LineCounter()
  const doc = parseDocument(readFileSync(join(CORPUS, rel), 'utf8'), { lineCounter: lines })
  const node = doc.getIn(path, true) as { range?: [number, number, number] } | undefined
  if (node?.range === undefined) return { from: 0, to: -1 }
  return { from: lines.linePos(node.range[0]).line, to: lines.linePos(Math.max(node.range[0], node.range[1] - 1)).line }
}

// ---------------------------------------------------------------------------------------------
// A model of the upstream request, to compare with what the echo upstream saw
// ---------------------------------------------------------------------------------------------

interface RouteCall {
  /** path and query to send to the gateway */
  gatewayPath: string
  /** upstream path the echo must see, base path `/echo/<namespace>` included */
  upstreamPath: string
}

/**
 * Builds a request for an exposed route and the upstream path the runtime should produce for it:
 * each placeholder of the consumed path takes a bound value, the consumed parameter's `value`, the
 * `with` entry of the same name, or the caller's input of that name (a path parameter of the route,
 * else a query parameter the test adds).
 */
function modelCall (rel: string, exposeNamespace: string, routePath: string, op: Json, target: Target): RouteCall {
  const { values: bound } = bindings(rel)
  const routeValues = new Map<string, string>()
  let k = 0
  const gatewayRoute = routePath.replace(PLACEHOLDER, (_m, name: string) => {
    const value = `v${k++} ${name.slice(0, 8)}`
    routeValues.set(norm(name), value)
    return encodeURIComponent(value)
  })
  const query = new Map<string, string>()
  const input = (name: string): string => {
    const key = norm(name)
    const fromRoute = routeValues.get(key)
    if (fromRoute !== undefined) return fromRoute
    const value = query.get(name) ?? `q ${name}`
    query.set(name, value)
    return value
  }
  const built = modelConsumedPath(target, op, bound, expressionEvaluator(bound, exposeNamespace, input), input)
  const base = `/echo/${String(target.consumes.namespace)}`
  const upstreamPath = base + built
  const search = [...query].map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`).join('&')
  return { gatewayPath: gatewayRoute + (search === '' ? '' : `?${search}`), upstreamPath }
}

// ---------------------------------------------------------------------------------------------
// Talking to the gateway: raw paths, so that `..` and `%2F` reach it as written
// ---------------------------------------------------------------------------------------------

const agent = new Agent({ keepAlive: false })

interface Answer { status: number, body: Json, text: string }

function send (baseUrl: string, method: string, path: string, body?: unknown): Promise<Answer> {
  const url = new URL(baseUrl)
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: url.hostname,
      port: url.port,
      method,
      path,
      agent,
      headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(payload.length) },
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let parsed: unknown
        try { parsed = JSON.parse(text) } catch { parsed = undefined }
        resolve({ status: res.statusCode ?? 0, body: isObject(parsed) ? parsed : {}, text })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(payload)
  })
}

function errorCode (answer: Answer): unknown {
  return (answer.body.error as Json | undefined)?.code
}

const upstreamPathOf = (url: string): string => url.split('?')[0] ?? url
const upstreamQueryOf = (url: string): string => url.includes('?') ? url.slice(url.indexOf('?') + 1) : ''

let upstream: FakeOpenAI

/** The runtime on a corpus file against the echo; an unnamed expose gets `undefined=0`, as this suite always passed. */
function gatewayFor (rel: string, options: { baseUris?: boolean } = {}): Promise<Gateway> {
  return startCorpusGateway(rel, { upstream: upstream.origin, ...options })
}

const restUrl = (gateway: Gateway, namespace: string): string => exposeUrl(gateway, 'rest', namespace)

const WITH_BODY = new Set(['POST', 'PUT', 'PATCH'])

/** Calls every REST route of the file once; returns what went wrong, one line per route. */
async function checkEveryRoute (rel: string): Promise<{ routes: number, problems: string[] }> {
  const operations = consumedOperations(rel)
  const gateway = await gatewayFor(rel)
  const problems: string[] = []
  let routes = 0
  try {
    for (const expose of exposesOf(rel).filter((e) => e.type === 'rest')) {
      const base = restUrl(gateway, String(expose.namespace))
      for (const resource of list(expose.resources)) {
        const routePath = String(resource.path)
        const ops = list(resource.operations)
        if (resource.forward !== undefined && ops.length === 0) {
          routes++
          // the rest of the path after the resource's prefix goes to the target namespace's base URI
          const before = upstream.requests.length
          const answer = await send(base, 'GET', `${routePath.replace(PLACEHOLDER, 'x')}/deeper?q=1`)
          const seen = upstream.requests[before]
          const prefix = routePath.split(PLACEHOLDER)[0] ?? routePath
          const rest = `${routePath.replace(PLACEHOLDER, 'x')}/deeper`.slice(prefix.length).replace(/^\//, '')
          const expected = `/echo/${String((resource.forward as Json).targetNamespace)}/${rest}`
          if (answer.status !== 200 || seen === undefined) problems.push(`forward ${routePath}: ${answer.status} ${answer.text.slice(0, 200)}`)
          else if (seen.method !== 'GET' || upstreamPathOf(seen.url) !== expected || upstreamQueryOf(seen.url) !== 'q=1') problems.push(`forward ${routePath}: upstream saw ${seen.method} ${seen.url}, expected GET ${expected}?q=1`)
        }
        for (const op of ops) {
          routes++
          const method = String(op.method).toUpperCase()
          // an exposed operation's own `path` (generator files) replaces its resource's
          const opPath = typeof op.path === 'string' ? op.path : routePath
          const label = `${method} ${opPath}`
          const body = WITH_BODY.has(method) ? { probe: true } : undefined
          const target = typeof op.call === 'string' && op.steps === undefined ? operations.get(op.call) : undefined
          if (target === undefined) {
            // steps, ref, mock: the route exists and is served (steps and refs call the fake upstream)
            const answer = await send(base, method, opPath.replace(PLACEHOLDER, 'x'), body)
            if (op.steps === undefined && op.ref === undefined ? answer.status !== 200 : answer.status === 404 || answer.status === 501) {
              problems.push(`${label}: got ${answer.status} ${answer.text.slice(0, 200)}`)
            }
            continue
          }
          const call = modelCall(rel, String(expose.namespace), opPath, op, target)
          const before = upstream.requests.length
          const answer = await send(base, method, call.gatewayPath, body)
          const seen = upstream.requests[before]
          if (answer.status === 404) {
            problems.push(`${label}: the gateway has no such route (${answer.text.slice(0, 200)})`)
          } else if (seen !== undefined && answer.status === 502 && errorCode(answer) === 'upstream_invalid_response' && !['json', undefined].includes(str(target.operation.outputRawFormat))) {
            // the echo answers JSON where the operation declares another format: the conversion refuses it
            if (upstreamPathOf(seen.url) !== call.upstreamPath) problems.push(`${label}: upstream saw ${upstreamPathOf(seen.url)}, expected ${call.upstreamPath}`)
          } else if (answer.status !== 200 || seen === undefined) {
            problems.push(`${label} -> ${call.gatewayPath}: ${answer.status} ${answer.text.slice(0, 200)}`)
          } else {
            const expectedMethod = String(target.operation.method).toUpperCase()
            if (seen.method !== expectedMethod) problems.push(`${label}: upstream saw ${seen.method}, expected ${expectedMethod}`)
            if (upstreamPathOf(seen.url) !== call.upstreamPath) problems.push(`${label}: upstream saw ${upstreamPathOf(seen.url)}, expected ${call.upstreamPath}`)
          }
        }
      }
    }
  } finally {
    await gateway.close()
  }
  return { routes, problems }
}

/** Accepted files (and wrongly rejected ones, as known bugs) with at least one REST route. */
const ROUTED = CAPABILITIES.filter((rel) => EXPECTED_REJECTIONS[rel] === undefined &&
  exposesOf(rel).some((e) => e.type === 'rest' && list(e.resources).length > 0))

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

skipWithoutCorpus('corpus compatibility', 'corpus tests')

describe.skipIf(!corpusExists)('corpus compatibility', () => {
  beforeAll(async () => {
    upstream = await startFakeOpenAI()
  })
  afterAll(async () => {
    await upstream?.close()
    agent.destroy()
  })

  describe('classification', () => {
    it('names every YAML file of the corpus that is not a capability document in COMPANIONS', () => {
      const others = ALL_YAML.filter((rel) => !CAPABILITIES.includes(rel))
      expect(others).toEqual(Object.keys(COMPANIONS).sort())
      for (const rel of others) {
        const data = DATA.get(rel) ?? {}
        if (COMPANIONS[rel]?.startsWith('shared consumes') === true) {
          expect(data.capability, rel).toBeUndefined()
          expect(list(data.consumes).length, rel).toBeGreaterThan(0)
        } else {
          expect(data.naftiko, rel).toBeUndefined()
        }
      }
    })

    it('finds the 176 capability documents of the corpus', () => {
      expect(CAPABILITIES).toHaveLength(176)
    })

    it('lists only capability documents as rejections and known bugs', () => {
      for (const rel of Object.keys(EXPECTED_REJECTIONS)) expect(CAPABILITIES, rel).toContain(rel)
    })
  })

  describe('readCapability accepts every capability document', () => {
    for (const rel of CAPABILITIES) {
      const reason = EXPECTED_REJECTIONS[rel]
      if (reason !== undefined) {
        it(`rejects ${rel}, and only for ${reason.source}`, async () => {
          const result = await read(rel)
          const errors = result.diagnostics.filter((d) => d.severity === 'error')
          expect(result.ok).toBe(false)
          expect(errors.length).toBeGreaterThan(0)
          for (const error of errors) {
            expect(error.message, `${error.line}:${error.col}`).toMatch(reason)
            expect(error.line, error.message).toBeGreaterThan(1)
          }
        })
        continue
      }
      it(`loads ${rel} without errors`, async () => {
        const result = await read(rel)
        expect(result.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.line}:${d.col} ${d.message}`)).toEqual([])
        expect(result.ok).toBe(true)
      })
    }
  })

  describe('features a later issue executes are warnings that say "not yet supported"', () => {
    const byKind = new Map<FeatureKind, string[]>()
    for (const rel of CAPABILITIES) {
      const uses = featureUses(rel)
      const kinds = [...new Set(uses.map((u) => u.kind))]
      for (const kind of kinds) {
        byKind.set(kind, [...(byKind.get(kind) ?? []), rel])
        it(`${rel}: ${kind} is a "not yet supported" warning and no error`, async () => {
          const result = await read(rel)
          const warnings = result.diagnostics.filter((d) => d.severity === 'warning')
          const expectedReason = EXPECTED_REJECTIONS[rel]
          const errors = result.diagnostics.filter((d) => d.severity === 'error' && (expectedReason === undefined || !expectedReason.test(d.message)))
          for (const use of uses.filter((u) => u.kind === kind)) {
            const span = lineSpan(rel, use.path)
            const where = `${use.path.join('.')} (lines ${span.from}-${span.to})`
            expect(warnings.some((w) => use.warning.test(w.message) && w.line >= span.from && w.line <= span.to), `warning ${use.warning.source} at ${where}`).toBe(true)
            const about = errors.filter((d) => (d.line >= span.from && d.line <= span.to) || use.warning.test(d.message))
            expect(about.map((d) => `${d.line}: ${d.message}`), `errors about ${where}`).toEqual([])
          }
        })
      }
    }

    it('finds each such feature in the corpus', () => {
      const count = (kind: FeatureKind): number => byKind.get(kind)?.length ?? 0
      expect(count('agent-skill or other expose type')).toBeGreaterThanOrEqual(1)
    })
  })

  describe('every REST route of an accepted capability is mounted and reaches its upstream path', () => {
    it('has routes to check', () => {
      expect(ROUTED.length).toBeGreaterThan(100)
    })

    for (const rel of ROUTED) {
      it(`${rel}: every route answers and the echo sees the consumed method and path`, async () => {
        const { routes, problems } = await checkEveryRoute(rel)
        expect(routes).toBeGreaterThan(0)
        expect(problems).toEqual([])
      })
    }
  })

  describe('every skill expose of an accepted capability serves its catalog', () => {
    const withSkills = CAPABILITIES.filter((rel) => EXPECTED_REJECTIONS[rel] === undefined && exposesOf(rel).some((e) => e.type === 'skill'))
    it('has skill exposes to check', () => {
      expect(withSkills.length).toBeGreaterThanOrEqual(5)
    })
    for (const rel of withSkills) {
      it(`${rel}: /skills lists every skill and /skills/{name} describes each`, async () => {
        const gateway = await gatewayFor(rel)
        try {
          for (const expose of exposesOf(rel).filter((e) => e.type === 'skill')) {
            const base = gateway.runtime.addresses.find((a) => a.namespace === expose.namespace)?.url as string
            const names = list(expose.skills).map((s) => String(s.name))
            const catalog = await send(base, 'GET', '/skills')
            expect(catalog.status).toBe(200)
            expect((JSON.parse(catalog.text) as { skills: Array<{ name: string }> }).skills.map((s) => s.name)).toEqual(names)
            for (const name of names) {
              const detail = await send(base, 'GET', `/skills/${name}`)
              expect(detail.status, name).toBe(200)
              expect((JSON.parse(detail.text) as { name: string }).name).toBe(name)
            }
          }
        } finally {
          await gateway.close()
        }
      })
    }
  })

  describe('a consumes without a usable baseUri', () => {
    it('is no warning at run once --base-uri gives one', async () => {
      const gateway = await gatewayFor('api-evangelist/github/users-follow.yaml')
      try {
        expect(gateway.runtime.warnings.filter((d) => /baseUri/.test(d.message))).toEqual([])
        expect(gateway.runtime.upstreams.every((line) => !line.includes('not configured'))).toBe(true)
      } finally {
        await gateway.close()
      }
    })

    it.each([
      ['api-evangelist/github/users-follow.yaml', 'users-follow-rest', 'PUT', '/v1/user/following/octocat', /has no baseUri/],
      ['api-evangelist/datadog/datadog-mute.yaml', 'datadog-mute-rest', 'PATCH', '/v1/api/v2/posture-management/findings', /server variables/],
    ])('%s answers 502 upstream_not_configured without --base-uri', async (rel, namespace, method, path, warning) => {
      const result = await read(rel)
      expect(result.ok).toBe(true)
      expect(result.diagnostics.some((d) => d.severity === 'warning' && warning.test(d.message))).toBe(true)
      const before = upstream.requests.length
      const gateway = await gatewayFor(rel, { baseUris: false })
      try {
        // at run, the startup summary says it (with the flag or variable that gives one), not a warning
        expect(gateway.runtime.upstreams.some((line) => line.includes('not configured'))).toBe(true)
        expect(gateway.runtime.warnings.some((d) => warning.test(d.message))).toBe(false)
        const answer = await send(restUrl(gateway, namespace), method, path, { probe: true })
        expect(answer.status).toBe(502)
        expect(errorCode(answer)).toBe('upstream_not_configured')
        expect(upstream.requests.length).toBe(before)
      } finally {
        await gateway.close()
      }
    })
  })

  describe('path and query parameters reach the upstream encoded', () => {
    const AWKWARD = 'São Paulo & Rio/BR ☀ 100%=ok?#'

    async function withGateway<T> (rel: string, namespace: string, run: (base: string) => Promise<T>): Promise<T> {
      const gateway = await gatewayFor(rel)
      try {
        return await run(restUrl(gateway, namespace))
      } finally {
        await gateway.close()
      }
    }

    async function call (base: string, method: string, path: string): Promise<{ answer: Answer, url: string | undefined }> {
      const before = upstream.requests.length
      const answer = await send(base, method, path)
      return { answer, url: upstream.requests[before]?.url }
    }

    it('geocoding: query values with spaces, &, /, = and unicode arrive as sent, one parameter each', async () => {
      const rel = 'api-evangelist/openweathermap/geocoding.yaml'
      await withGateway(rel, 'openweathermap-geocoding-rest', async (base) => {
        const { answer, url } = await call(base, 'GET', `/v1/geocoding/direct?q=${encodeURIComponent(AWKWARD)}&limit=${encodeURIComponent('5&admin=true')}`)
        expect(answer.status).toBe(200)
        expect(upstreamPathOf(url ?? '')).toBe('/echo/openweathermap-geocoding/direct')
        const query = new URLSearchParams(upstreamQueryOf(url ?? ''))
        expect([...new Set(query.keys())].sort()).toEqual(['appid', 'limit', 'q'])
        expect(query.getAll('q')).toEqual([AWKWARD])
        expect(query.getAll('limit')).toEqual(['5&admin=true'])
        expect(query.getAll('appid')).toEqual(['dummy-openweather_api_key'])
        expect(url).toContain(`q=${encodeURIComponent(AWKWARD)}`)
        expect(answer.body.query).toMatchObject({ q: AWKWARD })
      })
    })

    it('geocoding: a caller\'s appid never travels next to the query credential appid', async () => {
      const rel = 'api-evangelist/openweathermap/geocoding.yaml'
      await withGateway(rel, 'openweathermap-geocoding-rest', async (base) => {
        const { answer, url } = await call(base, 'GET', '/v1/geocoding/direct?q=Paris&appid=caller-key')
        expect(answer.status).toBe(200)
        expect(new URLSearchParams(upstreamQueryOf(url ?? '')).getAll('appid')).toEqual(['dummy-openweather_api_key'])
      })
    })

    it('mailchimp campaign folders: a path value and query values reach /campaign-folders/{folder_id}', async () => {
      const rel = 'api-evangelist/mailchimp/marketing-campaign-folders.yaml'
      await withGateway(rel, 'marketing-campaign-folders-rest', async (base) => {
        const folder = 'f 1/ü&x'
        const { answer, url } = await call(base, 'GET', `/v1/campaign-folders/${encodeURIComponent(folder)}?fields=${encodeURIComponent('a,b c')}&exclude_fields=${encodeURIComponent(AWKWARD)}`)
        expect(answer.status).toBe(200)
        expect(upstreamPathOf(url ?? '')).toBe(`/echo/marketing-campaign-folders/campaign-folders/${encodeURIComponent(folder)}`)
        const query = new URLSearchParams(upstreamQueryOf(url ?? ''))
        expect(query.get('fields')).toBe('a,b c')
        expect(query.get('exclude_fields')).toBe(AWKWARD)
      })
    })

    it('mailchimp campaign folders: a path value cannot climb the upstream path', async () => {
      const rel = 'api-evangelist/mailchimp/marketing-campaign-folders.yaml'
      await withGateway(rel, 'marketing-campaign-folders-rest', async (base) => {
        for (const raw of ['..%2Fadmin', '..%2F..%2Fadmin', '%2E%2E%2Fadmin', '..%5Cadmin']) {
          const { answer, url } = await call(base, 'DELETE', `/v1/campaign-folders/${raw}`)
          if (answer.status === 400) continue
          expect(answer.status, raw).toBe(200)
          const path = upstreamPathOf(url ?? '')
          expect(path.startsWith('/echo/marketing-campaign-folders/campaign-folders/'), path).toBe(true)
          expect(path.slice('/echo/marketing-campaign-folders/campaign-folders/'.length), path).not.toMatch(/\/|^\.\.?$/)
          expect(new URL(path, 'http://upstream').pathname, path).toBe(path)
        }
        for (const raw of ['..', '%2E%2E', '.', '%2e']) {
          const { answer, url } = await call(base, 'DELETE', `/v1/campaign-folders/${raw}`)
          expect(url, raw).toBeUndefined()
          expect([400, 404], `${raw}: ${answer.text}`).toContain(answer.status)
        }
      })
    })

    it('cli-only runnable: a `{{run_id}}` path value is encoded into /v1/runs/{{run_id}} and `..` is refused with 400', async () => {
      const rel = 'api-evangelist/naftiko/cli-only-runnable-capability.yaml'
      await withGateway(rel, 'cli-only-runnable-capability-rest', async (base) => {
        const ok = await call(base, 'GET', `/runs/${encodeURIComponent('run 7/ü')}`)
        expect(ok.answer.status).toBe(200)
        expect(upstreamPathOf(ok.url ?? '')).toBe(`/echo/naftiko-control/v1/runs/${encodeURIComponent('run 7/ü')}`)
        const climb = await call(base, 'GET', '/runs/%2E%2E')
        expect(climb.answer.status).toBe(400)
        expect(errorCode(climb.answer)).toBe('invalid_request')
        expect(climb.url).toBeUndefined()
      })
    })

    it('market data: a path value of the route becomes an encoded query value upstream', async () => {
      const rel = 'api-evangelist/naftiko/developer-portal-public-market-data-mcp.yaml'
      await withGateway(rel, 'developer-portal-public-market-data-mcp-rest', async (base) => {
        const symbol = 'AT&T Inc/ü'
        const { answer, url } = await call(base, 'GET', `/quote/${encodeURIComponent(symbol)}?function=GLOBAL_QUOTE`)
        expect(answer.status).toBe(200)
        expect(upstreamPathOf(url ?? '')).toBe('/echo/alphavantage/query')
        const query = new URLSearchParams(upstreamQueryOf(url ?? ''))
        expect(query.getAll('symbol')).toEqual([symbol])
        expect(query.get('function')).toBe('GLOBAL_QUOTE')
        expect(url).toContain(`symbol=${encodeURIComponent(symbol)}`)
      })
    })

    it('acquia codebases: two path values and paging query values reach the nested upstream path', async () => {
      const rel = 'api-evangelist/acquia/cloud-openapi-full-codebases.yaml'
      await withGateway(rel, 'cloud-openapi-full-codebases-rest', async (base) => {
        const codebase = 'cb 1&2'
        const switchId = 'sw/3'
        const { answer, url } = await call(base, 'GET', `/v1/codebases/${encodeURIComponent(codebase)}/bulk-code-switch/${encodeURIComponent(switchId)}`)
        expect(answer.status).toBe(200)
        expect(upstreamPathOf(url ?? '')).toBe(`/echo/cloud-openapi-full-codebases/codebases/${encodeURIComponent(codebase)}/bulk-code-switch/${encodeURIComponent(switchId)}`)
        const paged = await call(base, 'GET', `/v1/codebases/c1/bulk-code-switch?offset=10&limit=${encodeURIComponent('5 & more')}`)
        expect(paged.answer.status).toBe(200)
        const query = new URLSearchParams(upstreamQueryOf(paged.url ?? ''))
        expect(query.get('offset')).toBe('10')
        expect(query.get('limit')).toBe('5 & more')
      })
    })
  })

  describe('binds read from a file next to the capability', () => {
    it('tutorial step 3 starts with its secrets from shared/secrets.yaml', async () => {
      const gateway = await gatewayFor(`${TUTORIAL}step-3-shipyard-auth.yml`)
      await gateway.close()
    })
  })
})
