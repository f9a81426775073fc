/* eslint-disable no-template-curly-in-string -- the corpus writes `${input.x}` text that is no template; these strings hold it on purpose */
import { describe, expect, it } from 'vitest'
import { compileJsonTemplate, compileValue, resolveStaticText, type ExpressionScope } from '../../src/expressions/compile-value.js'
import type { CallContext, CallInputs } from '../../src/expressions/call-context.js'
import { JsonBody } from '../../src/expressions/call-context.js'
import {
  buildReferenceScope,
  classifyToken,
  documentTokens,
  inputReference,
  type BindDeclaration,
  type Reference,
} from '../../src/expressions/references.js'
import {
  normalizeName,
  parseTemplate,
  pathPlaceholders,
  routeKey,
  splitPath,
  templateTokens,
} from '../../src/expressions/template.js'

// One scope that holds every binds entry and expose namespace the forms below come from:
// `env` as the generator writes it (api-evangelist/*), `registry-env` as the tutorial writes it
// (naftiko-alpha2/.../tutorial/step-10-shipyard-rest-adapter.yml), and the expose namespaces
// `shipyard-api` (rest), `shipyard-tools` (mcp) and `hints-mcp` (mcp) of the official files.
const BINDS: BindDeclaration[] = [
  {
    namespace: 'env',
    keys: {
      BUILDKITE_API_TOKEN: 'BUILDKITE_API_TOKEN',
      BUILDKITE_ORG_SLUG: 'BUILDKITE_ORG_SLUG',
      MANDRILL_API_KEY: 'MANDRILL_API_KEY',
      SHOPIFY_STORE_NAME: 'SHOPIFY_STORE_NAME',
      AGENT_CONSENT_HASH: 'AGENT_CONSENT_HASH',
      TWILIO_API_KEY: 'TWILIO_API_KEY',
    },
  },
  {
    namespace: 'registry-env',
    keys: { REGISTRY_TOKEN: 'registry-bearer-token', REGISTRY_VERSION: 'registry-api-version', MCP_SERVER_TOKEN: 'mcp-server-token' },
  },
]
const EXPOSE_NAMESPACES = ['shipyard-api', 'shipyard-tools', 'hints-mcp']

/** What each bound variable resolves to (resolveBindings stores it under `VAR` and `namespace.VAR`). */
const BOUND: Record<string, string> = {
  BUILDKITE_API_TOKEN: 'bk-secret',
  BUILDKITE_ORG_SLUG: 'acme',
  MANDRILL_API_KEY: 'md-key',
  SHOPIFY_STORE_NAME: 'acme-store',
  AGENT_CONSENT_HASH: 'hash-1',
  TWILIO_API_KEY: 'tw-key',
  REGISTRY_TOKEN: 'reg-token',
  REGISTRY_VERSION: 'v2',
  MCP_SERVER_TOKEN: 'mcp-token',
}

function boundValues (): Map<string, string> {
  const values = new Map<string, string>()
  for (const b of BINDS) {
    for (const variable of Object.keys(b.keys)) {
      const value = BOUND[variable] as string
      if (!values.has(variable)) values.set(variable, value)
      values.set(`${b.namespace}.${variable}`, value)
    }
  }
  // an undeclared {{env.X}} is read from the environment once, under its whole token
  values.set('env.TWILIO_USER', 'twilio-user')
  return values
}

const REFERENCES = buildReferenceScope(BINDS, EXPOSE_NAMESPACES)
const SCOPE: ExpressionScope = { references: REFERENCES, values: boundValues() }

/** The caller's inputs by normalized name; `name` and `channel` are absent on purpose. */
const INPUTS: Record<string, unknown> = {
  orgslug: 'acme-org',
  perpage: 50,
  codebaseid: 'cb-1',
  xgithubapiversion: '2022-11-28',
  query: 'invoices',
  fromemail: 'from@example.com',
  toemail: 'to@example.com',
  subject: 'Hello',
  html: '<p>hi</p>',
  to: '+15550100',
  maxage: 3600,
  imonumber: 9321483,
  imo: 'IMO9321483',
  voyageid: 'V-1',
  recordid: 'rec-7',
  deviceid: 'dev-1',
  userid: 'u-1',
  id: 'id-1',
}
const BODY = { pipeline: { name: 'deploy', steps: [1, 2] } }

function callContext (inputs: Record<string, unknown>, body: unknown, args: Record<string, unknown> = {}): CallContext {
  const map = new Map(Object.entries(inputs))
  const callInputs: CallInputs = { get: (name) => map.get(name), body }
  return { inputs: callInputs, args: new Map(Object.entries(args)) }
}

const CONTEXT = callContext(INPUTS, BODY)

/** The `{{...}}` references of a value, in document order (strings through classifyToken). */
function referencesOf (value: unknown): Reference[] {
  if (typeof value === 'string') return templateTokens(value).map((token) => classifyToken(token, REFERENCES))
  return documentTokens(value, [], REFERENCES).map((use) => use.reference)
}

interface Form {
  /** the observable effect, as the test name */
  effect: string
  /** the value as written in the file: a template, a `with` value, a parameter `value:`, a body */
  text: unknown
  /** classifyToken of each `{{...}}` in it */
  tokens: Reference[]
  /** inputReference of the whole value (a `with` value without braces) */
  input: string | undefined
  /** compileValue(text) evaluated against CONTEXT */
  value: unknown
}

const input = (name: string): Reference => ({ kind: 'input', name })
const variable = (key: string): Reference => ({ kind: 'variable', key })

// Where each form was seen in ../shared/corpus (one example file per form; OA = naftiko-alpha2/src):
//  {{env.X}} declared under binds `env`      api-evangelist/buildkite-com/builds.yaml (parameter value, in: path)
//  'Bearer {{env.X}}'                        api-evangelist/buildkite-com/builds.yaml (authentication value)
//  {{env.X}} inside a baseUri                api-evangelist/shopify-admin/store-management.yaml
//  {{env.X}} that no binds entry declares    api-evangelist/twilio/flex-plugins.yaml (basic auth username)
//  {{SCREAMING_VAR}} declared under `env`    api-evangelist/mailchimp/email-marketing.yaml (body data key)
//  {{SCREAMING_VAR}} from a file binding     OA/main/resources/tutorial/step-3-shipyard-auth.yml (header value)
//  {{ns.VAR}} with a file binding namespace  OA/main/resources/tutorial/step-10-shipyard-rest-adapter.yml binds
//                                            `registry-env`; the corpus writes it bare ({{MCP_SERVER_TOKEN}}),
//                                            the namespaced form is DESIGN 2.1 `binds`
//  '... {{env.X}}' after `${input.x}` text   api-evangelist/cloudflare/cloudflare-agent-onboarding.yaml (assert)
//  {{tools.x}}                               api-evangelist/mailchimp/email-marketing.yaml (body data)
//  {{tools.x}} holding a number              api-evangelist/telefonica/fraud-prevention.yaml (maxAge)
//  {{rest.x}}                                not written in the corpus (PROVENANCE counts only tools.x); DESIGN 2.1
//  bare {{imo_number}}                       OA/main/resources/tutorial/step-1-shipyard-mock.yml (output value)
//  bare {{imo}} in a step's with             OA/main/resources/tutorial/step-10-shipyard-rest-adapter.yml
//  bare {{device-id}}                        OA/main/resources/schemas/examples/script-step.yml
//  bare {{userId}} as a query value          OA/test/resources/http/http-header-query-capability.yaml
//  'Hello, {{name}}!'                        OA/test/resources/aggregates/aggregate-shared-mock.yaml
//  with rest.body                            api-evangelist/buildkite-com/pipelines.yaml
//  with rest.body.body, rest.query.per_page  api-evangelist/socket-dev/api-tokens-api-tokens.yaml
//  with rest.path.org_slug                   api-evangelist/socket-dev/org-settings-telemetry.yaml
//  with rest.codebaseId                      api-evangelist/acquia/cloud-openapi-full-codebases.yaml
//  with rest.X-GitHub-Api-Version            api-evangelist/github/issues-comment.yaml
//  with tools.body                           api-evangelist/buildkite-com/builds.yaml
//  with tools.query                          api-evangelist/mailchimp/email-marketing.yaml
//  with <restExposeNamespace>.x              OA/main/resources/tutorial/step-10-shipyard-rest-adapter.yml (shipyard-api.imo)
//  with <mcpExposeNamespace>.x               OA/test/resources/mcp/mcp-step-with-namespace-capability.yaml
//  with $this.<ns>.x                         OA/test/resources/mcp/mcp-hints-capability.yaml
//  with <aggregateNamespace>.x               OA/test/resources/aggregates/aggregate-step-with-namespace.yaml
//  with literal 'sms'                        api-evangelist/sinch/voice-and-verification.yaml
//  with literal 'test-db-id-123'             OA/test/resources/mcp/mcp-capability.yaml
//  SCREAMING text, ${input.x} text, 3600     api-evangelist/cloudflare/cloudflare-agent-onboarding.yaml
//  value 'Naftiko/1.0.0-alpha2'              OA/test/resources/formats/xml-capability.yaml
//  value '$.user.id'                         OA/test/resources/http/http-body-capability.yaml
//  value 'REGISTRY_VERSION' (no braces)      OA/main/resources/tutorial/shared/step11-registry-consumes.yml
//  value '2026-03-03'                        OA/test/resources/http/http-forward-value-capability.yaml
//  body data: nested object with an array    api-evangelist/mailchimp/email-marketing.yaml (send-message)
//  body data: form fields, one absent        api-evangelist/twilio/identity-and-fraud-prevention.yaml
//  body of ${...} text only                  api-evangelist/cloudflare/cloudflare-agent-onboarding.yaml
const FORMS: Form[] = [
  // templates naming bound variables and the environment
  {
    effect: '{{env.X}} declared under binds env is the bound variable, filled in as text',
    text: '{{env.BUILDKITE_ORG_SLUG}}',
    tokens: [variable('env.BUILDKITE_ORG_SLUG')],
    input: undefined,
    value: 'acme',
  },
  {
    effect: 'Bearer {{env.X}} keeps its literal prefix around the bound variable',
    text: 'Bearer {{env.BUILDKITE_API_TOKEN}}',
    tokens: [variable('env.BUILDKITE_API_TOKEN')],
    input: undefined,
    value: 'Bearer bk-secret',
  },
  {
    effect: 'a baseUri with {{env.X}} in its host fills the host and keeps the dots around it',
    text: 'https://{{env.SHOPIFY_STORE_NAME}}.myshopify.com/admin/api/2024-10',
    tokens: [variable('env.SHOPIFY_STORE_NAME')],
    input: undefined,
    value: 'https://acme-store.myshopify.com/admin/api/2024-10',
  },
  {
    effect: '{{env.X}} that no binds entry declares reads the environment variable X',
    text: '{{env.TWILIO_USER}}',
    tokens: [{ kind: 'environment', key: 'env.TWILIO_USER', name: 'TWILIO_USER' }],
    input: undefined,
    value: 'twilio-user',
  },
  {
    effect: 'bare {{SCREAMING_VAR}} declared under binds env is the bound variable',
    text: '{{MANDRILL_API_KEY}}',
    tokens: [variable('MANDRILL_API_KEY')],
    input: undefined,
    value: 'md-key',
  },
  {
    effect: 'bare {{SCREAMING_VAR}} declared by a file binding is the bound variable',
    text: '{{REGISTRY_VERSION}}',
    tokens: [variable('REGISTRY_VERSION')],
    input: undefined,
    value: 'v2',
  },
  {
    effect: '{{ns.VAR}} with a binding namespace is that binding\'s variable',
    text: '{{registry-env.MCP_SERVER_TOKEN}}',
    tokens: [variable('registry-env.MCP_SERVER_TOKEN')],
    input: undefined,
    value: 'mcp-token',
  },
  {
    effect: 'a {{env.X}} after ${input.x} text fills the variable and leaves the ${...} text as written',
    text: '${input.consent_hash} == {{env.AGENT_CONSENT_HASH}}',
    tokens: [variable('env.AGENT_CONSENT_HASH')],
    input: undefined,
    value: '${input.consent_hash} == hash-1',
  },
  // templates naming the caller's inputs
  {
    effect: '{{tools.x}} is the caller input x, by normalized name',
    text: '{{tools.to_email}}',
    tokens: [input('toemail')],
    input: undefined,
    value: 'to@example.com',
  },
  {
    effect: 'a template that is one {{tools.x}} token keeps a number a number',
    text: '{{tools.maxAge}}',
    tokens: [input('maxage')],
    input: undefined,
    value: 3600,
  },
  {
    effect: '{{rest.x}} is the caller input x',
    text: '{{rest.id}}',
    tokens: [input('id')],
    input: undefined,
    value: 'id-1',
  },
  {
    effect: 'bare lowercase {{imo_number}} is the caller input and keeps its number type',
    text: '{{imo_number}}',
    tokens: [input('imonumber')],
    input: undefined,
    value: 9321483,
  },
  {
    effect: 'bare {{imo}} in a with is the caller input imo',
    text: '{{imo}}',
    tokens: [input('imo')],
    input: undefined,
    value: 'IMO9321483',
  },
  {
    effect: 'bare {{device-id}} is the input deviceid: - is ignored',
    text: '{{device-id}}',
    tokens: [input('deviceid')],
    input: undefined,
    value: 'dev-1',
  },
  {
    effect: 'bare camelCase {{userId}} is the input userid: case is ignored',
    text: '{{userId}}',
    tokens: [input('userid')],
    input: undefined,
    value: 'u-1',
  },
  {
    effect: 'a template of text and an absent input is undefined, never a half-filled string',
    text: 'Hello, {{name}}!',
    tokens: [input('name')],
    input: undefined,
    value: undefined,
  },
  // with values: references without braces
  {
    effect: 'with rest.body is the whole JSON request body when no input is named body',
    text: 'rest.body',
    tokens: [],
    input: 'body',
    value: BODY,
  },
  {
    effect: 'with rest.body.body reads like rest.body: the body location is only a hint',
    text: 'rest.body.body',
    tokens: [],
    input: 'body',
    value: BODY,
  },
  {
    effect: 'with rest.path.org_slug is the input orgslug: the path location is only a hint',
    text: 'rest.path.org_slug',
    tokens: [],
    input: 'orgslug',
    value: 'acme-org',
  },
  {
    effect: 'with rest.query.per_page is the input perpage and keeps its number type',
    text: 'rest.query.per_page',
    tokens: [],
    input: 'perpage',
    value: 50,
  },
  {
    effect: 'with rest.codebaseId is the input codebaseid',
    text: 'rest.codebaseId',
    tokens: [],
    input: 'codebaseid',
    value: 'cb-1',
  },
  {
    effect: 'with rest.X-GitHub-Api-Version is the header input xgithubapiversion',
    text: 'rest.X-GitHub-Api-Version',
    tokens: [],
    input: 'xgithubapiversion',
    value: '2022-11-28',
  },
  {
    effect: 'with tools.body is the body argument of the call',
    text: 'tools.body',
    tokens: [],
    input: 'body',
    value: BODY,
  },
  {
    effect: 'with tools.query is the argument query',
    text: 'tools.query',
    tokens: [],
    input: 'query',
    value: 'invoices',
  },
  {
    effect: 'with <restExposeNamespace>.x is the caller input x',
    text: 'shipyard-api.imo',
    tokens: [],
    input: 'imo',
    value: 'IMO9321483',
  },
  {
    effect: 'with <mcpExposeNamespace>.x is the caller input x',
    text: 'shipyard-tools.voyageId',
    tokens: [],
    input: 'voyageid',
    value: 'V-1',
  },
  {
    effect: 'with $this.<ns>.x is the caller input x',
    text: '$this.hints-mcp.record-id',
    tokens: [],
    input: 'recordid',
    value: 'rec-7',
  },
  {
    effect: 'with <ns>.x where ns is no expose or aggregate namespace of the capability: a literal',
    text: 'shipyard.voyage-id',
    tokens: [],
    input: undefined,
    value: 'shipyard.voyage-id',
  },
  // literals: no braces and no input root, dots or not
  { effect: 'with sms is the literal text', text: 'sms', tokens: [], input: undefined, value: 'sms' },
  { effect: 'with test-db-id-123 is the literal text', text: 'test-db-id-123', tokens: [], input: undefined, value: 'test-db-id-123' },
  { effect: 'SCREAMING_SNAKE text without braces is literal text, not a variable', text: 'AGENT_TRUST_CACHE', tokens: [], input: undefined, value: 'AGENT_TRUST_CACHE' },
  { effect: 'value REGISTRY_VERSION without braces is the literal text', text: 'REGISTRY_VERSION', tokens: [], input: undefined, value: 'REGISTRY_VERSION' },
  { effect: 'a number literal stays the number', text: 3600, tokens: [], input: undefined, value: 3600 },
  { effect: 'a date literal stays text', text: '2026-03-03', tokens: [], input: undefined, value: '2026-03-03' },
  { effect: 'a user agent with dots is literal text, not a reference', text: 'Naftiko/1.0.0-alpha2', tokens: [], input: undefined, value: 'Naftiko/1.0.0-alpha2' },
  { effect: 'a JSONPath value $.user.id is literal text, not a reference', text: '$.user.id', tokens: [], input: undefined, value: '$.user.id' },
  { effect: '${input.x} text is literal: only {{...}} is a template', text: '${input.signature}', tokens: [], input: undefined, value: '${input.signature}' },
  {
    effect: 'a URL with ${input.x} and dots is literal text',
    text: 'https://${input.signature_agent}/.well-known/web-bot-keys/',
    tokens: [],
    input: undefined,
    value: 'https://${input.signature_agent}/.well-known/web-bot-keys/',
  },
  // body templates: objects and arrays compile recursively
  {
    effect: 'a body template object with a nested array fills variables and inputs at every depth',
    text: {
      key: '{{MANDRILL_API_KEY}}',
      message: { from_email: '{{tools.from_email}}', to: [{ email: '{{tools.to_email}}' }], subject: '{{tools.subject}}', html: '{{tools.html}}' },
    },
    tokens: [variable('MANDRILL_API_KEY'), input('fromemail'), input('toemail'), input('subject'), input('html')],
    input: undefined,
    value: { key: 'md-key', message: { from_email: 'from@example.com', to: [{ email: 'to@example.com' }], subject: 'Hello', html: '<p>hi</p>' } },
  },
  {
    effect: 'a body template field whose input is absent is left out of the object',
    text: { To: '{{tools.to}}', Channel: '{{tools.channel}}' },
    tokens: [input('to'), input('channel')],
    input: undefined,
    value: { To: '+15550100' },
  },
  {
    effect: 'a body of ${...} text only compiles to the same data',
    text: { event_type: 'agent.onboarded', agent_id: '${steps.verify_signature.agent_id}', ids: ['${input.token_id}', 'x.y'] },
    tokens: [],
    input: undefined,
    value: { event_type: 'agent.onboarded', agent_id: '${steps.verify_signature.agent_id}', ids: ['${input.token_id}', 'x.y'] },
  },
]

describe('expressions: every form of the corpus', () => {
  it.each(FORMS.map((form) => [form.effect, form] as const))('%s', (_effect, { text, tokens, input: expectedInput, value }) => {
    expect(referencesOf(text)).toEqual(tokens)
    if (typeof text === 'string') expect(inputReference(text, REFERENCES)).toBe(expectedInput)
    expect(compileValue(text, SCOPE)(CONTEXT)).toStrictEqual(value)
  })
})

describe('expressions: compileValue', () => {
  it('a template that is one token keeps the exact value the input holds, object or number', () => {
    const body = { nested: [1, { deep: true }] }
    expect(compileValue('{{tools.payload}}', SCOPE)(callContext({ payload: body }, undefined))).toBe(body)
    expect(compileValue('{{count}}', SCOPE)(callContext({ count: 0 }, undefined))).toBe(0)
    expect(compileValue('{{flag}}', SCOPE)(callContext({ flag: false }, undefined))).toBe(false)
  })

  it('a multi-part template turns numbers and objects into text and is undefined when any input is absent', () => {
    const hello = compileValue('Hello, {{name}}!', SCOPE)
    expect(hello(callContext({ name: 'Ada' }, undefined))).toBe('Hello, Ada!')
    expect(hello(callContext({ name: 42 }, undefined))).toBe('Hello, 42!')
    expect(hello(callContext({ name: null }, undefined))).toBeUndefined()
    expect(hello(callContext({}, undefined))).toBeUndefined()
    const query = compileValue('{{tools.a}}-{{tools.b}}', SCOPE)
    expect(query(callContext({ a: { x: 1 }, b: 2 }, undefined))).toBe('{"x":1}-2')
    expect(query(callContext({ a: 'only-a' }, undefined))).toBeUndefined()
  })

  it('a bare {{name}} takes the with value computed for this call before the caller input of that name', () => {
    const imo = compileValue('{{imo_number}}', SCOPE)
    expect(imo(callContext({ imonumber: 1 }, undefined, { imonumber: 2 }))).toBe(2)
    expect(imo(callContext({ imonumber: 1 }, undefined))).toBe(1)
  })

  it('with rest.body prefers an input named body over the whole request body', () => {
    const body = compileValue('rest.body', SCOPE)
    expect(body(callContext({ body: { field: 1 } }, BODY))).toEqual({ field: 1 })
    expect(body(callContext({}, undefined))).toBeUndefined()
  })

  it('a JSON body input is handed on as its parsed value inside a multi-part template and an object', () => {
    const raw = new JsonBody(Buffer.from('{"a":1}'), { a: 1 })
    expect(compileValue('x={{tools.doc}}', SCOPE)(callContext({ doc: raw }, undefined))).toBe('x={"a":1}')
    expect(compileValue({ doc: '{{tools.doc}}' }, SCOPE)(callContext({ doc: raw }, undefined))).toEqual({ doc: { a: 1 } })
  })

  it('a JSON body kept as the pieces it arrived in: typed across pieces, sent as them, joined only when read', () => {
    const pieces = [Buffer.from('  \n'), Buffer.from(' '), Buffer.from('[1,'), Buffer.from('2]')]
    const body = new JsonBody(pieces)
    expect(body.length).toBe(9)
    expect(body.jsonType).toBe('array')
    expect(body.bytes).toBe(pieces)
    expect(body.value).toEqual([1, 2])
    expect(body.raw.toString()).toBe('  \n [1,2]')
    expect(new JsonBody([Buffer.from(' \t')]).jsonType).toBe('null')
    const broken = new JsonBody([Buffer.from('{"a":'), Buffer.from(',}')])
    expect(() => broken.value).toThrow(expect.objectContaining({ code: 'invalid_json' }) as Error)
  })

  it('a value with no template and no reference compiles to the very value written', () => {
    const data = { type: 'json', list: ['a', 'b'] }
    expect(compileValue(data, SCOPE)(CONTEXT)).toBe(data)
    const list = ['sms', 'callout']
    expect(compileValue(list, SCOPE)(CONTEXT)).toBe(list)
    expect(compileValue(null, SCOPE)(CONTEXT)).toBeNull()
    expect(compileValue(true, SCOPE)(CONTEXT)).toBe(true)
  })

  it('resolveStaticText fills bound variables of a base URI or credential without a call', () => {
    expect(resolveStaticText('https://{{env.SHOPIFY_STORE_NAME}}.myshopify.com', SCOPE)).toBe('https://acme-store.myshopify.com')
    expect(resolveStaticText('{{REGISTRY_TOKEN}}', SCOPE)).toBe('reg-token')
    expect(resolveStaticText(undefined, SCOPE)).toBe('')
    expect(resolveStaticText('Bearer {{tools.token}}', SCOPE)).toBe('')
  })
})

describe('expressions: compileJsonTemplate (a raw JSON body template)', () => {
  const voyage = compileJsonTemplate('{"shipImo": "{{shipImo}}", "note": "at {{port}} now", "crewIds": {{crewIds}}, "cargoIds": {{cargoIds}}, "count": {{count}}}', SCOPE)
  const parse = (inputs: Record<string, unknown>): unknown => JSON.parse(voyage(callContext(inputs, undefined)))

  it('fills every value as JSON where it stands: arrays and numbers bare, texts escaped into their string', () => {
    expect(parse({ shipimo: 'IMO 1', port: 'Oslo', crewids: ['C1', 'C2'], cargoids: ['K1'], count: 3 }))
      .toEqual({ shipImo: 'IMO 1', note: 'at Oslo now', crewIds: ['C1', 'C2'], cargoIds: ['K1'], count: 3 })
  })

  it('writes an absent value as null outside a string and as nothing inside one: the body stays JSON', () => {
    expect(parse({ shipimo: 'IMO 1', crewids: ['C1'] })).toEqual({ shipImo: 'IMO 1', note: 'at  now', crewIds: ['C1'], cargoIds: null, count: null })
  })

  it('lets no value break out of its place', () => {
    const hostile = 'x", "admin": true, "y": "'
    expect(parse({ shipimo: hostile, port: '"}', crewids: 'a"]', count: '1, "admin": true' }))
      .toEqual({ shipImo: hostile, note: 'at "} now', crewIds: 'a"]', cargoIds: null, count: '1, "admin": true' })
  })

  it('keeps a text that is a JSON number or literal bare (a query value "5" for {{count}}), quotes any other', () => {
    expect(parse({ count: '5' })).toMatchObject({ count: 5 })
    expect(parse({ count: 'true' })).toMatchObject({ count: true })
    expect(parse({ count: '05' })).toMatchObject({ count: '05' })
  })

  it('tells a quote inside a string from one that ends it', () => {
    const template = compileJsonTemplate('{"a": "say \\"{{word}}\\"", "b": {{n}}}', SCOPE)
    expect(JSON.parse(template(callContext({ word: 'hi', n: 1 }, undefined)))).toEqual({ a: 'say "hi"', b: 1 })
  })
})

describe('expressions: references the checker refuses', () => {
  it.each([
    ['{{args.q}} names an unknown root args', 'args.q', { kind: 'unknown_root', root: 'args' }],
    ['{{input.x}} names an unknown root input', 'input.signature', { kind: 'unknown_root', root: 'input' }],
    ['{{steps.x.y}} names an unknown root steps', 'steps.verify.agent_id', { kind: 'unknown_root', root: 'steps' }],
    ['{{SCREAMING_VAR}} that no binds entry declares is unbound', 'MISSING_TOKEN', { kind: 'unbound', name: 'MISSING_TOKEN' }],
    ['{{ns.VAR}} in a binds namespace that does not declare VAR is unbound', 'registry-env.MISSING', { kind: 'unbound', name: 'MISSING' }],
    ['{{env.X.Y}} is no environment variable: unbound in the env namespace', 'env.A.B', { kind: 'unbound', name: 'A.B' }],
  ] as Array<[string, string, Reference]>)('%s', (_name, token, expected) => {
    expect(classifyToken(token, REFERENCES)).toEqual(expected)
    expect(() => compileValue(`{{${token}}}`, SCOPE)).toThrow(/cannot be compiled/)
  })

  it('{{env.X}} names the environment even with no binds entry at all', () => {
    const scope = buildReferenceScope([], [])
    expect(classifyToken('env.OPENAI_API_KEY', scope)).toEqual({ kind: 'environment', key: 'env.OPENAI_API_KEY', name: 'OPENAI_API_KEY' })
    expect(classifyToken('OPENAI_API_KEY', scope)).toEqual({ kind: 'unbound', name: 'OPENAI_API_KEY' })
    expect(classifyToken('other.X', scope)).toEqual({ kind: 'unknown_root', root: 'other' })
  })
})

describe('expressions: input roots', () => {
  it.each([
    ['rest.x', 'rest.userId', 'userid'],
    ['tools.x', 'tools.user_id', 'userid'],
    ['mcp.x', 'mcp.user-id', 'userid'],
    ['skill.x', 'skill.userId', 'userid'],
    ['an expose namespace', 'hints-mcp.userId', 'userid'],
    ['rest.header.x', 'rest.header.X-Request-Id', 'xrequestid'],
    ['rest.headers.x', 'rest.headers.X-Request-Id', 'xrequestid'],
    ['$this.<ns>.x whatever the namespace', '$this.any-ns.user_id', 'userid'],
    ['surrounding spaces', '  rest.userId  ', 'userid'],
  ])('%s names the caller input', (_name, expression, expected) => {
    expect(inputReference(expression, REFERENCES)).toBe(expected)
  })

  it.each([
    ['a root that is neither an adapter nor an expose', 'args.q'],
    ['a bind namespace', 'env.BUILDKITE_ORG_SLUG'],
    ['a root with nothing after the dot', 'rest.'],
    ['a leading dot', '.rest'],
    ['a name with a space', 'rest.user id'],
    ['$this.<ns> with no input name', '$this.hints-mcp'],
    ['$this.<ns>. with an empty input name', '$this.hints-mcp.'],
    ['a template, which is not a with reference', '{{rest.id}}'],
  ])('%s is no input reference', (_name, expression) => {
    expect(inputReference(expression, REFERENCES)).toBeUndefined()
  })

  it('the adapter roots and every expose namespace are the input roots', () => {
    expect([...REFERENCES.inputRoots].sort()).toEqual(['hints-mcp', 'mcp', 'rest', 'shipyard-api', 'shipyard-tools', 'skill', 'tools'])
    expect([...REFERENCES.bindNamespaces].sort()).toEqual(['env', 'registry-env'])
  })

  it('a variable two binds namespaces declare is reachable qualified, and ambiguous bare', () => {
    const scope = buildReferenceScope([
      { namespace: 'first', keys: { TOKEN: 'A' } },
      { namespace: 'second', keys: { TOKEN: 'B' } },
    ], [])
    expect(scope.declared.get('TOKEN')).toBe('TOKEN')
    expect(classifyToken('first.TOKEN', scope)).toEqual({ kind: 'variable', key: 'first.TOKEN' })
    expect(classifyToken('second.TOKEN', scope)).toEqual({ kind: 'variable', key: 'second.TOKEN' })
    expect(classifyToken('TOKEN', scope)).toEqual({ kind: 'ambiguous', name: 'TOKEN', namespaces: ['first', 'second'] })
  })

  it('spaces inside the braces are not part of the token', () => {
    expect(templateTokens('{{ tools.to }} and {{env.X }}')).toEqual(['tools.to', 'env.X'])
    expect(parseTemplate('a {{ b }} c')).toEqual(['a ', { token: 'b' }, ' c'])
    expect(compileValue('{{ tools.to }}', SCOPE)(CONTEXT)).toBe('+15550100')
  })
})

describe('expressions: normalizeName', () => {
  it.each([
    ['codebaseId', 'codebaseid'],
    ['codebaseid', 'codebaseid'],
    ['imo_number', 'imonumber'],
    ['job-gid', 'jobgid'],
    ['job_gid', 'jobgid'],
    ['X-GitHub-Api-Version', 'xgithubapiversion'],
    ['user__id--x', 'useridx'],
  ])('%s normalizes to %s', (name, expected) => {
    expect(normalizeName(name)).toBe(expected)
  })

  it('names that differ only in case, - and _ are equal', () => {
    expect(normalizeName('{job-id}')).toBe(normalizeName('{JOB_ID}'))
    expect(normalizeName('job.id')).not.toBe(normalizeName('job_id'))
  })
})

// Where each path form was seen in ../shared/corpus (OA = naftiko-alpha2/src):
//  {x} segments, several                  api-evangelist/buildkite-com/builds.yaml
//  {snake_case} and its {kebab-case} twin api-evangelist/asana/jobs-jobs.yaml
//  {x} before a literal suffix            api-evangelist/shopify-admin/store-management.yaml
//  {x} after a dot inside a segment       api-evangelist/box/box-files.yaml
//  only placeholders                      api-evangelist/airtable/database-management.yaml
//  {kebab-case} then a literal 0          api-evangelist/box/folders-users.yaml
//  {{x}} mustache                         api-evangelist/naftiko/cli-only-runnable-capability.yaml
//  {{snake_case}} mustache                OA/test/resources/nested-object-output-capability.yaml
//  {{kebab-case}} mustache                OA/test/resources/aggregates/aggregate-step-with-namespace.yaml
//  {{rest.x}} mustache with a root        not written in the corpus; DESIGN 2.1 / the brief's /x/{{rest.id}}
//  no placeholder                         capabilities/chat-completions.yaml
const PATHS: Array<[string, Array<[string, string]>, string]> = [
  ['/v2/organizations/{org}/pipelines/{pipeline}/builds/{number}', [['org', 'org'], ['pipeline', 'pipeline'], ['number', 'number']], '/v2/organizations/{}/pipelines/{}/builds/{}'],
  ['/jobs/{job_gid}', [['job_gid', 'job_gid']], '/jobs/{}'],
  ['/v1/jobs/{job-gid}', [['job-gid', 'job-gid']], '/v1/jobs/{}'],
  ['/products/{product_id}.json', [['product_id', 'product_id']], '/products/{}.json'],
  ['/files/{file_id}/thumbnail.{extension}', [['file_id', 'file_id'], ['extension', 'extension']], '/files/{}/thumbnail.{}'],
  ['/{baseId}/{tableIdOrName}', [['baseId', 'baseId'], ['tableIdOrName', 'tableIdOrName']], '/{}/{}'],
  ['/v1/users/{user-id}/folders/0', [['user-id', 'user-id']], '/v1/users/{}/folders/0'],
  ['/runs/{{run_id}}', [['run_id', 'run_id']], '/runs/{}'],
  ['/ships/{{imo_number}}', [['imo_number', 'imo_number']], '/ships/{}'],
  ['/voyages/{{voyage-id}}', [['voyage-id', 'voyage-id']], '/voyages/{}'],
  ['/x/{{rest.id}}', [['rest.id', 'id']], '/x/{}'],
  ['/chat/completions', [], '/chat/completions'],
]

describe('expressions: path placeholders', () => {
  it.each(PATHS)('%s has the placeholders and the route key the runtime routes by', (path, placeholders, key) => {
    expect(pathPlaceholders(path).map((p) => [p.token, p.name])).toEqual(placeholders)
    for (const p of pathPlaceholders(path)) expect(path.slice(p.index, p.index + p.length)).toMatch(/^\{\{?[^{}]+\}\}?$/)
    const parts = splitPath(path)
    expect(parts.filter((p) => typeof p !== 'string').map((p) => (p as { token: string }).token)).toEqual(placeholders.map(([token]) => token))
    expect(parts.map((p) => typeof p === 'string' ? p : path.slice(p.index, p.index + p.length)).join('')).toBe(path)
    expect(routeKey(path)).toBe(key)
  })

  it.each([
    ['/jobs/{job_id}', '/jobs/{{job_id}}'],
    ['/jobs/{job_id}', '/jobs/{job-id}'],
    ['/users/{id}', '/users/{{user_id}}'],
    ['/x/{id}', '/x/{{rest.id}}'],
    ['/x/{{ id }}', '/x/{id}'],
  ])('%s and %s are the same route', (a, b) => {
    expect(routeKey(a)).toBe(routeKey(b))
  })

  it.each([
    ['/jobs/{id}', '/jobs/{id}/cancel'],
    ['/jobs/{id}', '/jobs'],
    ['/products/{id}.json', '/products/{id}'],
  ])('%s and %s are different routes', (a, b) => {
    expect(routeKey(a)).not.toBe(routeKey(b))
  })

  it('splitPath keeps the literal text between placeholders in order', () => {
    const parts = splitPath('/orgs/{org_slug}/api-tokens/{{id}}.json')
    expect(parts.map((p) => typeof p === 'string' ? p : { token: p.token, name: p.name })).toEqual([
      '/orgs/', { token: 'org_slug', name: 'org_slug' }, '/api-tokens/', { token: 'id', name: 'id' }, '.json',
    ])
  })
})
