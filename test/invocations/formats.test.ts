import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import avro from 'avsc'
import protobuf from 'protobufjs'
import { describe, expect, it } from 'vitest'
import { readCapability } from '../../src/capability/read-capability.js'
import { NaftikoError } from '../../src/errors/naftiko-error.js'
import { toJson, type ConvertedFormat, type FormatOptions } from '../../src/invocations/formats/convert-format.js'
import { loadAvroDecoder } from '../../src/invocations/formats/avro-format.js'
import { loadProtobufDecoder } from '../../src/invocations/formats/protobuf-format.js'
import { SAMPLE_RECORDS, SAMPLE_SCHEMAS, sample, samplesExist, skipWithoutSamples } from '../helpers/format-samples.js'

const convert = (format: ConvertedFormat, body: string | Buffer, options?: FormatOptions): Promise<unknown> =>
  toJson(format, typeof body === 'string' ? Buffer.from(body) : body, options)

/** The error a body that does not parse gives: 502 upstream_invalid_response naming the format, never the body. */
async function expectInvalid (format: ConvertedFormat, body: string | Buffer, label: string, options?: FormatOptions): Promise<void> {
  const error = await convert(format, body, options).then(() => undefined, (err: unknown) => err)
  expect(error).toBeInstanceOf(NaftikoError)
  const e = error as NaftikoError
  expect(e.code).toBe('upstream_invalid_response')
  expect(e.status).toBe(502)
  expect(e.message).toContain(`not valid ${label}`)
  expect(e.message).toContain(`outputRawFormat: ${format}`)
  const text = Buffer.isBuffer(body) ? body.toString('latin1') : body
  if (text.trim().length > 3) expect(e.message).not.toContain(text.trim())
}

const USERS = [
  { id: '1', name: 'Alice Smith', email: 'alice@example.com' },
  { id: '2', name: 'Bob Johnson', email: 'bob@example.com' },
  { id: '3', name: 'Carol White', email: 'carol@example.com' },
]

skipWithoutSamples('output formats: the engine\'s sample answers')

describe.skipIf(!samplesExist)('output formats: the engine\'s sample answers', () => {
  it('reads sample-users.xml with its root element as the one key and repeated elements as an array', async () => {
    // the root's children are reachable beside it too: the tutorial maps `$.vessel` under <vessels>
    expect(await convert('xml', sample('sample-users.xml'))).toEqual({ root: { user: USERS }, user: USERS })
    expect(await convert('xml', '<item><item>inner</item><x>1</x></item>')).toEqual({ item: { item: 'inner', x: '1' }, x: '1' })
  })

  it('reads sample-users.yaml as its document', async () => {
    expect(await convert('yaml', sample('sample-users.yaml'))).toEqual({ users: USERS })
  })

  it.each([['csv', 'sample-users.csv'], ['tsv', 'sample-users.tsv'], ['psv', 'sample-users.psv']] as const)('reads %s rows as objects keyed by the header row (%s)', async (format, file) => {
    expect(await convert(format, sample(file))).toEqual(USERS)
  })

  it.each([undefined, 'table.products', 'section.inventory'])('reads the products table of sample-products.html (selector %s)', async (selector) => {
    expect(await convert('html', sample('sample-products.html'), { selector })).toEqual({
      tables: [[
        { Name: 'Widget', Price: '$42', Stock: '150' },
        { Name: 'Gadget', Price: '$99', Stock: '30' },
      ]],
    })
  })

  it('reads sample-readme.md as front matter, tables and sections', async () => {
    expect(await convert('markdown', sample('sample-readme.md'))).toEqual({
      frontMatter: { title: 'Product Release Notes', version: '2.1.0' },
      tables: [[{ Feature: 'HTML support', Status: 'GA' }, { Feature: 'Markdown support', Status: 'Beta' }]],
      sections: [{ heading: 'Overview', level: 2, content: 'This release introduces table extraction for markdown.' }],
    })
  })

  it('decodes a RecordsList of test-records.proto (its first message)', async () => {
    const schema = await loadProtobufDecoder(SAMPLE_SCHEMAS.proto, undefined)
    expect(schema.type).toBe('test.records.RecordsList')
    const root = await protobuf.load(SAMPLE_SCHEMAS.proto)
    const type = root.lookupType('test.records.RecordsList')
    const body = Buffer.from(type.encode(type.fromObject({ records: SAMPLE_RECORDS })).finish())
    expect(await convert('protobuf', body, { schema })).toEqual({ records: SAMPLE_RECORDS })
  })

  it('decodes a message named after # in the schema reference', async () => {
    const schema = await loadProtobufDecoder(SAMPLE_SCHEMAS.proto, 'test.records.Record')
    const root = await protobuf.load(SAMPLE_SCHEMAS.proto)
    const type = root.lookupType('test.records.Record')
    const body = Buffer.from(type.encode(type.fromObject(SAMPLE_RECORDS[0] as object)).finish())
    expect(await convert('protobuf', body, { schema })).toEqual(SAMPLE_RECORDS[0])
  })

  it('decodes an Avro RecordsList datum of test-records.avsc, a null description as null', async () => {
    const schema = await loadAvroDecoder(SAMPLE_SCHEMAS.avsc)
    const type = avro.Type.forSchema(JSON.parse(sample('test-records.avsc').toString('utf8')) as avro.Schema)
    const records = [...SAMPLE_RECORDS, { id: 'r-3', title: 'Third', description: null }]
    expect(await convert('avro', type.toBuffer({ records }), { schema })).toEqual({ records })
  })

  it('answers invalid protobuf and Avro bodies with upstream_invalid_response naming the type', async () => {
    const proto = await loadProtobufDecoder(SAMPLE_SCHEMAS.proto, undefined)
    await expectInvalid('protobuf', Buffer.from('garbage bytes!'), 'protobuf (test.records.RecordsList)', { schema: proto })
    // a Record without its required fields
    await expectInvalid('protobuf', Buffer.from([0x0a, 0x00]), 'protobuf', { schema: proto })
    const avsc = await loadAvroDecoder(SAMPLE_SCHEMAS.avsc)
    await expectInvalid('avro', Buffer.from('garbage bytes!'), 'Avro (io.naftiko.test.RecordsList)', { schema: avsc })
    await expectInvalid('avro', Buffer.alloc(0), 'Avro', { schema: avsc })
    const type = avro.Type.forSchema(JSON.parse(sample('test-records.avsc').toString('utf8')) as avro.Schema)
    // bytes left after the datum
    await expectInvalid('avro', Buffer.concat([type.toBuffer({ records: [] }), Buffer.from([1, 2])]), 'Avro', { schema: avsc })
  })
})

describe('output formats: XML', () => {
  it('keeps attributes as keys of their element, text beside them under #text, namespace prefixes dropped', async () => {
    const xml = '<?xml version="1.0"?><a:feed xmlns:a="urn:a" xmlns="urn:b"><a:entry id="1" a:lang="en">Hello</a:entry><entry id="2"/><empty></empty></a:feed>'
    expect((await convert('xml', xml) as { feed: unknown }).feed).toEqual({ entry: [{ id: '1', lang: 'en', '#text': 'Hello' }, { id: '2' }], empty: '' })
  })

  it('keeps an @ prefix only where an attribute and a child element share a name', async () => {
    expect((await convert('xml', '<r><p id="4"><id>5</id><name>x</name></p></r>') as { r: unknown }).r).toEqual({ p: { '@id': '4', id: '5', name: 'x' } })
  })

  it('leaves values as text and decodes entities, character references and CDATA', async () => {
    expect((await convert('xml', '<r><n>007</n><t>&lt;a&gt; &amp; &#65;&#x42;</t><c><![CDATA[<b>raw</b>]]></c></r>') as { r: unknown }).r).toEqual({ n: '007', t: '<a> & AB', c: '<b>raw</b>' })
  })

  it('reads a body with a byte order mark, or in the charset its content type names', async () => {
    expect(await convert('xml', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('<r>x</r>')]))).toEqual({ r: 'x' })
    expect(await convert('xml', Buffer.from('<r>café</r>', 'latin1'), { contentType: 'application/xml; charset=ISO-8859-1' })).toEqual({ r: 'café' })
  })

  it.each([
    ['an unclosed element', '<root><user>'],
    ['text that is not XML', 'this is not xml'],
    ['an empty body', ''],
    ['two root elements', '<a/><a/>'],
    ['trailing text', '<a>1</a>trailing'],
    ['an external entity', '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'],
    ['bytes that are not UTF-8', Buffer.from([0x3c, 0x72, 0x3e, 0xff, 0xfe, 0x3c, 0x2f, 0x72, 0x3e])],
  ])('answers %s with upstream_invalid_response naming XML', async (_what, body) => {
    await expectInvalid('xml', body, 'XML')
  })
})

describe('output formats: CSV, TSV, PSV', () => {
  it('reads quoted fields holding delimiters, newlines and doubled quotes', async () => {
    const csv = 'id,name,note\r\n1,"Smith, Alice","line one\nline two"\r\n2,Bob,"say ""hi"""\r\n'
    expect(await convert('csv', csv)).toEqual([
      { id: '1', name: 'Smith, Alice', note: 'line one\nline two' },
      { id: '2', name: 'Bob', note: 'say "hi"' },
    ])
  })

  it('splits TSV on tabs and PSV on pipes, quoting like CSV', async () => {
    expect(await convert('tsv', 'a\tb\n1,2\t"x\ty"\n')).toEqual([{ a: '1,2', b: 'x\ty' }])
    expect(await convert('psv', 'a|b\n1|"x|y"\n')).toEqual([{ a: '1', b: 'x|y' }])
  })

  it('strips a byte order mark, trims header names, skips blank lines and pads short rows', async () => {
    const csv = '\ufeffid, name ,email\n\n1,Alice\n2,Bob,bob@example.com,extra\n'
    expect(await convert('csv', csv)).toEqual([
      { id: '1', name: 'Alice', email: '' },
      { id: '2', name: 'Bob', email: 'bob@example.com' },
    ])
  })

  it('reads an empty body or a header alone as no rows', async () => {
    expect(await convert('csv', '')).toEqual([])
    expect(await convert('csv', 'id,name\n')).toEqual([])
  })

  it('keeps a quote inside an unquoted field as a character and a __proto__ column as a column', async () => {
    const rows = await convert('csv', '__proto__,size\nx,5" disk\n') as Array<Record<string, unknown>>
    expect(rows).toEqual([JSON.parse('{"__proto__":"x","size":"5\\" disk"}')])
    expect(Object.getPrototypeOf(rows[0])).toBe(Object.prototype)
  })

  it.each(['csv', 'tsv', 'psv'] as const)('answers an unclosed quoted field in %s with upstream_invalid_response', async (format) => {
    await expectInvalid(format, 'a\n"never closed\n', format.toUpperCase())
  })
})

describe('output formats: YAML', () => {
  it('reads YAML 1.2: yes stays a string, numbers are numbers, an empty body is null', async () => {
    expect(await convert('yaml', 'a: yes\nb: 12\nc: 2024-01-02\n')).toEqual({ a: 'yes', b: 12, c: '2024-01-02' })
    expect(await convert('yaml', '')).toBeNull()
  })

  it('reads several documents as an array and strips a byte order mark', async () => {
    expect(await convert('yaml', '\ufeffa: 1\n---\na: 2\n')).toEqual([{ a: 1 }, { a: 2 }])
  })

  it.each([
    ['an unclosed flow sequence', 'a: [1, 2\n'],
    ['a duplicate key', 'a: 1\na: 2\n'],
    ['a bad indentation', 'a:\n  b: 1\n c: 2\n'],
  ])('answers %s with upstream_invalid_response naming YAML', async (_what, body) => {
    await expectInvalid('yaml', body, 'YAML')
  })
})

describe('output formats: HTML', () => {
  const page = `<html><body>
    <table id="first"><tr><th>A</th><th>B</th></tr><tr><td>1</td><td>x  <br> y</td></tr><tr><td>2</td></tr></table>
    <div class="scope"><table><thead><tr><th>Name</th><th>Inner</th></tr></thead><tbody>
      <tr><th scope="row">row one</th><td><table><tr><th>N</th></tr><tr><td>nested</td></tr></table></td></tr>
    </tbody></table></div>
    <table><tr><td>no header</td></tr></table>
  </body></html>`

  it('reads every table with a header row, nested tables as tables of their own, headerless ones left out', async () => {
    expect(await convert('html', page)).toEqual({
      tables: [
        [{ A: '1', B: 'x y' }, { A: '2', B: '' }],
        [{ Name: 'row one', Inner: 'N nested' }],
        [{ N: 'nested' }],
      ],
    })
  })

  it('reads only the tables a CSS selector matches or contains', async () => {
    expect(await convert('html', page, { selector: '#first' })).toEqual({ tables: [[{ A: '1', B: 'x y' }, { A: '2', B: '' }]] })
    expect(await convert('html', page, { selector: 'div.scope > table' })).toEqual({ tables: [[{ Name: 'row one', Inner: 'N nested' }]] })
  })

  it('reads a page without a table, or an empty body, as no tables', async () => {
    expect(await convert('html', '<p>nothing here</p>')).toEqual({ tables: [] })
    expect(await convert('html', '')).toEqual({ tables: [] })
    expect(await convert('html', page, { selector: '.absent' })).toEqual({ tables: [] })
  })

  it('answers bytes that are not UTF-8 text with upstream_invalid_response naming HTML', async () => {
    await expectInvalid('html', Buffer.from([0x3c, 0x70, 0x3e, 0xc3, 0x28, 0xff]), 'HTML')
  })
})

describe('output formats: Markdown', () => {
  it('reads a document without front matter, each top-level table and each section', async () => {
    const md = '# Title\r\nIntro with `code`, <b>html</b> and a\r\nsoft break.\r\n\r\n## Results\r\n| k | v |\r\n|---|---|\r\n| a | 1 |\r\n| b |\r\n\r\n- one\r\n- two\r\n'
    expect(await convert('markdown', md)).toEqual({
      frontMatter: {},
      tables: [[{ k: 'a', v: '1' }, { k: 'b', v: '' }]],
      sections: [
        { heading: 'Title', level: 1, content: 'Intro with code, html and a soft break.' },
        { heading: 'Results', level: 2, content: 'one\ntwo' },
      ],
    })
  })

  it('keeps the sections a heading prefix selects, at the level a prefix written as a heading names', async () => {
    const md = '# Results overview\ntop\n## Results\nsecond\n## Other\nno\n'
    const headings = async (selector: string): Promise<unknown> => ((await convert('markdown', md, { selector })) as { sections: Array<{ heading: string }> }).sections.map((s) => s.heading)
    expect(await headings('Results')).toEqual(['Results overview', 'Results'])
    expect(await headings('## Results')).toEqual(['Results'])
  })

  it('reads an empty front matter, an empty body, and front matter that is not a mapping as {}', async () => {
    expect(await convert('markdown', '---\n---\ntext\n')).toEqual({ frontMatter: {}, tables: [], sections: [] })
    expect(await convert('markdown', '')).toEqual({ frontMatter: {}, tables: [], sections: [] })
    expect(((await convert('markdown', '---\n- a\n---\n')) as { frontMatter: unknown }).frontMatter).toEqual({})
  })

  it('answers front matter that is not YAML, or bytes that are not UTF-8, with upstream_invalid_response naming Markdown', async () => {
    await expectInvalid('markdown', '---\ntitle: [unclosed\n---\n# x\n', 'Markdown')
    await expectInvalid('markdown', Buffer.from([0x23, 0x20, 0xff, 0xfe]), 'Markdown')
  })
})

describe('output formats: checked when the capability loads', () => {
  async function read (consumedOperation: string, outputParameters = '\n        outputParameters:\n        - type: object\n          mapping: $.a', files: Record<string, string> = {}): Promise<string[]> {
    const dir = await mkdtemp(join(tmpdir(), 'naftiko-formats-'))
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text)
    const file = join(dir, 'capability.yaml')
    await writeFile(file, `naftiko: 1.0.0-alpha2
capability:
  consumes:
  - type: http
    namespace: up
    baseUri: http://127.0.0.1:9
    resources:
    - name: r
      path: /r
      operations:
      - name: get
        method: GET
${consumedOperation.replace(/^/gm, '        ')}
  exposes:
  - type: rest
    namespace: api
    port: 0
    resources:
    - path: /r
      operations:
      - method: GET
        call: up.get${outputParameters}
`)
    const result = await readCapability(file)
    return result.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.line}: ${d.message}`)
  }

  it('accepts every converted format, and mappings over them', async () => {
    for (const format of ['xml', 'yaml', 'csv', 'tsv', 'psv', 'html', 'markdown']) expect(await read(`outputRawFormat: ${format}`)).toEqual([])
    expect(await read('outputRawFormat: html\noutputSchema: "table.products, div > table"')).toEqual([])
    expect(await read('outputRawFormat: avro\noutputSchema: ./r.avsc', undefined, { 'r.avsc': '{"type": "record", "name": "R", "fields": [{"name": "a", "type": "string"}]}' })).toEqual([])
    expect(await read('outputRawFormat: protobuf\noutputSchema: schemas/r.proto#R', undefined, {})).toEqual([expect.stringMatching(/^14: outputSchema "schemas\/r.proto#R" for outputRawFormat protobuf: no such file \(.*schemas\/r.proto\)$/)])
  })

  it('refuses an unknown format name, and a mapping over text or binary answers', async () => {
    expect(await read('outputRawFormat: xlsx')).toEqual([expect.stringMatching(/^13: outputRawFormat "xlsx" is not one of json, xml, yaml, csv, tsv, psv, html, markdown, protobuf, avro/)])
    expect(await read('outputRawFormat: binary')).toEqual([expect.stringMatching(/^24: an output mapping over outputRawFormat binary cannot be applied/)])
    // relayed as it comes: nothing to convert
    expect(await read('outputRawFormat: text', '')).toEqual([])
  })

  it('refuses protobuf or Avro mapped without outputSchema, and a schema that does not load', async () => {
    expect(await read('outputRawFormat: protobuf')).toEqual([expect.stringMatching(/^13: outputRawFormat protobuf needs outputSchema, the path of its \.proto schema file/)])
    expect(await read('outputRawFormat: avro', '')).toEqual([])
    expect(await read('outputRawFormat: protobuf\noutputSchema: bad.proto', undefined, { 'bad.proto': 'syntax = "proto3"; message {' })).toEqual([expect.stringMatching(/^14: outputSchema "bad.proto" for outputRawFormat protobuf: illegal/)])
    expect(await read('outputRawFormat: protobuf\noutputSchema: e.proto', undefined, { 'e.proto': 'syntax = "proto3";' })).toEqual([expect.stringMatching(/^14: .*declares no message type/)])
    expect(await read('outputRawFormat: avro\noutputSchema: bad.avsc', undefined, { 'bad.avsc': '{"type": "record", "fields": [{"name": "x", "type": "nope"}]}' })).toEqual([expect.stringMatching(/^14: outputSchema "bad.avsc" for outputRawFormat avro: /)])
  })

  it('refuses an HTML selector the parser cannot run', async () => {
    expect(await read('outputRawFormat: html\noutputSchema: "??"')).toEqual([expect.stringMatching(/^14: outputSchema "\?\?" for outputRawFormat html: /)])
  })
})
