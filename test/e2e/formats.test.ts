import { copyFile, readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { dirname, join } from 'node:path'
import avro from 'avsc'
import protobuf from 'protobufjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse, stringify } from 'yaml'
import { startGateway, writeCapability, type Gateway } from '../helpers/gateway.js'
import { connectModernClient, type McpTestClient } from '../helpers/mcp-clients.js'
import { FORMAT_RESOURCES, SAMPLE_RECORDS, SAMPLE_SCHEMAS, sample, samplesExist, skipWithoutSamples } from '../helpers/format-samples.js'

/**
 * The official engine's format feature files (formats/*.yaml), run over real sockets: each copy has
 * its base URI pointed at a node:http upstream that serves the engine's sample answer with its
 * content type, an MCP tool beside the REST route with the same call and mapping, and (protobuf,
 * Avro) the sample schema beside it as `outputSchema`. The upstream answers a malformed body of the
 * same format while `malformed` is set.
 */
const SECRET = 'sk-format-secret-0123456789'

interface Answer { readonly type: string, readonly body: () => Buffer, readonly malformed: Buffer }

const USERS = [
  { id: '1', name: 'Alice Smith', email: 'alice@example.com' },
  { id: '2', name: 'Bob Johnson', email: 'bob@example.com' },
  { id: '3', name: 'Carol White', email: 'carol@example.com' },
]

interface FeatureCase {
  readonly format: string
  readonly file: string
  readonly route: string
  readonly schema?: string
  readonly answer: Answer
  readonly expected: unknown
  /** what the malformed body's message names */
  readonly label: string
}

function encodedRecords (kind: 'proto' | 'avsc'): () => Buffer {
  return () => {
    if (kind === 'avsc') return avro.Type.forSchema(JSON.parse(sample('test-records.avsc').toString('utf8')) as avro.Schema).toBuffer({ records: SAMPLE_RECORDS })
    const type = protobuf.loadSync(SAMPLE_SCHEMAS.proto).lookupType('test.records.RecordsList')
    return Buffer.from(type.encode(type.fromObject({ records: SAMPLE_RECORDS })).finish())
  }
}

const CASES: FeatureCase[] = [
  { format: 'xml', file: 'xml-capability.yaml', route: '/xml/users', answer: { type: 'application/xml; charset=utf-8', body: () => sample('sample-users.xml'), malformed: Buffer.from('<root><user><id>1</id></root>') }, expected: USERS, label: 'XML' },
  { format: 'yaml', file: 'yaml-capability.yaml', route: '/yaml/users', answer: { type: 'application/yaml', body: () => sample('sample-users.yaml'), malformed: Buffer.from('users: [\n  - id: 1\n') }, expected: USERS, label: 'YAML' },
  { format: 'csv', file: 'csv-capability.yaml', route: '/csv/users', answer: { type: 'text/csv; charset=utf-8', body: () => sample('sample-users.csv'), malformed: Buffer.from('id,name\n1,"never closed\n') }, expected: USERS, label: 'CSV' },
  {
    format: 'html',
    file: 'html-capability.yaml',
    route: '/html/products',
    answer: { type: 'text/html; charset=utf-8', body: () => sample('sample-products.html'), malformed: Buffer.from([0x3c, 0x70, 0x3e, 0xff, 0xfe, 0xfd]) },
    expected: [{ name: 'Widget', price: '$42', stock: '150' }, { name: 'Gadget', price: '$99', stock: '30' }],
    label: 'HTML',
  },
  {
    format: 'markdown',
    file: 'markdown-capability.yaml',
    route: '/markdown/features',
    answer: { type: 'text/markdown; charset=utf-8', body: () => sample('sample-readme.md'), malformed: Buffer.from('---\ntitle: [unclosed\n---\n# x\n') },
    expected: [{ feature: 'HTML support', status: 'GA' }, { feature: 'Markdown support', status: 'Beta' }],
    label: 'Markdown',
  },
  { format: 'protobuf', file: 'proto-capability.yaml', route: '/proto/records', schema: 'test-records.proto', answer: { type: 'application/protobuf', body: encodedRecords('proto'), malformed: Buffer.from('not a protobuf message') }, expected: SAMPLE_RECORDS, label: 'protobuf (test.records.RecordsList)' },
  { format: 'avro', file: 'avro-capability.yaml', route: '/avro/records', schema: 'test-records.avsc', answer: { type: 'application/avro', body: encodedRecords('avsc'), malformed: Buffer.from([0x06, 0x02]) }, expected: SAMPLE_RECORDS, label: 'Avro (io.naftiko.test.RecordsList)' },
]

type Json = Record<string, unknown>

/** A copy of the feature file that runs here: an MCP tool beside the REST route, and a raw route without mapping. */
async function prepareCopy (c: FeatureCase): Promise<{ file: string, namespace: string }> {
  const doc = parse(await readFile(join(FORMAT_RESOURCES, 'formats', c.file), 'utf8')) as Json
  const capability = doc.capability as Json
  const rest = (capability.exposes as Json[])[0] as Json
  const resource = (rest.resources as Json[])[0] as Json
  const operation = (resource.operations as Json[])[0] as Json
  const consumes = (capability.consumes as Json[])[0] as Json
  const consumed = ((consumes.resources as Json[])[0] as Json).operations as Json[]
  if (c.schema !== undefined) (consumed[0] as Json).outputSchema = c.schema
  // the upstream echoes a bound secret, spelled with a character reference in the XML answer
  doc.binds = [{ namespace: 'env', keys: { UPSTREAM_KEY: 'UPSTREAM_KEY' } }]
  consumes.authentication = { type: 'bearer', token: '{{UPSTREAM_KEY}}' }
  ;(rest.resources as Json[]).push({ path: `${String(resource.path)}/raw`, name: 'raw', operations: [{ method: 'GET', call: operation.call }] })
  ;(capability.exposes as Json[]).push({
    type: 'mcp',
    namespace: `${String(rest.namespace)}-mcp`,
    port: 0,
    transport: 'http',
    tools: [{ name: 'get', description: `the ${c.format} feature's mapped answer`, call: operation.call, outputParameters: operation.outputParameters }],
  })
  const file = await writeCapability(stringify(doc))
  if (c.schema !== undefined) await copyFile(join(FORMAT_RESOURCES, 'schemas', c.schema), join(dirname(file), c.schema))
  return { file, namespace: String(consumes.namespace) }
}

skipWithoutSamples('formats e2e: the engine\'s feature files')

describe.skipIf(!samplesExist)('formats e2e: the engine\'s feature files', () => {
  let upstream: Server
  let origin: string
  let malformed = false
  const seen: Array<{ url: string, authorization: string | undefined }> = []

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      seen.push({ url: req.url ?? '', authorization: req.headers.authorization })
      const prefix = (req.url ?? '').split('/')[1] ?? ''
      const c = CASES.find((k) => k.format === prefix)
      if (c === undefined) { res.writeHead(404).end(); return }
      let body = malformed ? c.answer.malformed : c.answer.body()
      if (c.format === 'xml' && !malformed) body = Buffer.from(body.toString('utf8').replace('Alice Smith', `Alice ${SECRET.replace('s', '&#115;')}`))
      res.writeHead(200, { 'content-type': c.answer.type, 'content-length': body.length }).end(body)
    })
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
    origin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
  })

  afterAll(async () => {
    await new Promise<void>((resolve) => upstream.close(() => resolve()))
  })

  describe.each(CASES)('$file (outputRawFormat $format)', (c) => {
    let gateway: Gateway
    let mcp: McpTestClient

    beforeAll(async () => {
      const { file, namespace } = await prepareCopy(c)
      gateway = await startGateway(file, { flags: { host: '127.0.0.1', 'base-uri': [`${namespace}=${origin}/${c.format}`] }, env: { UPSTREAM_KEY: SECRET } })
      mcp = await connectModernClient(gateway.url('mcp'))
    })

    afterAll(async () => {
      await mcp?.close()
      await gateway?.close()
    })

    const expected = (): unknown => c.format !== 'xml'
      ? c.expected
      : USERS.map((u) => u.id === '1' ? { ...u, name: 'Alice [redacted]' } : u)

    it('answers the mapped value over REST, field by field', async () => {
      const response = await fetch(`${gateway.url('rest')}${c.route}`)
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toMatch(/^application\/json/)
      const text = await response.text()
      expect(text).not.toContain(SECRET)
      expect(JSON.parse(text)).toEqual(expected())
      expect(seen.at(-1)?.authorization).toBe(`Bearer ${SECRET}`)
    })

    it('answers the same value as the MCP tool result (an array wrapped as {result})', async () => {
      const result = await mcp.callTool('get', {}) as { isError?: boolean, structuredContent?: Json, content?: Array<{ text?: string }> }
      expect(result.isError ?? false).toBe(false)
      expect(result.structuredContent).toEqual({ result: expected() })
      // the text block keeps the bare array
      expect(JSON.parse(result.content?.[0]?.text ?? '')).toEqual(expected())
      expect(JSON.stringify(result)).not.toContain(SECRET)
    })

    it('answers a malformed body with 502 upstream_invalid_response naming the format, on REST and MCP', async () => {
      malformed = true
      try {
        const response = await fetch(`${gateway.url('rest')}${c.route}`)
        expect(response.status).toBe(502)
        const { error } = await response.json() as { error: { code: string, message: string, type: string } }
        expect(error.code).toBe('upstream_invalid_response')
        expect(error.type).toBe('server_error')
        expect(error.message).toContain(`not valid ${c.label}`)
        expect(error.message).not.toContain(c.answer.malformed.toString('utf8').slice(0, 12))
        const result = await mcp.callTool('get', {}) as { isError?: boolean, content?: Array<{ text?: string }> }
        expect(result.isError).toBe(true)
        expect(result.content?.[0]?.text).toContain('upstream_invalid_response')
        expect(result.content?.[0]?.text).toContain(`not valid ${c.label}`)
      } finally {
        malformed = false
      }
      // the gateway goes on answering
      expect((await fetch(`${gateway.url('rest')}${c.route}`)).status).toBe(200)
    })

    it('relays the answer as it comes where nothing maps it', async () => {
      const response = await fetch(`${gateway.url('rest')}${c.route}/raw`)
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toBe(c.answer.type)
      const body = Buffer.from(await response.arrayBuffer())
      if (c.format !== 'xml') expect(body.equals(c.answer.body())).toBe(true)
    })
  })
})
