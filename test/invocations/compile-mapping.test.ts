import { describe, expect, it } from 'vitest'
import type { MappedOutput } from '../../src/capability/model.js'
import { compileJsonPath, compileOutputMapping } from '../../src/invocations/compile-mapping.js'

const map = (outputs: MappedOutput[] | undefined, root: unknown): unknown => compileOutputMapping(outputs).map(root)

const RESPONSE = {
  id: 'chatcmpl-1',
  data: { list: [1, 2, 3], nested: { deep: true } },
  choices: [
    { index: 0, message: { role: 'assistant', content: 'hello' }, finish_reason: 'stop' },
    { index: 1, message: { role: 'assistant', content: 'bye' }, finish_reason: 'length' },
  ],
  usage: { prompt_tokens: 3, completion_tokens: 2 },
}

describe('compileOutputMapping: identity', () => {
  it.each([
    ['no outputs', undefined],
    ['an empty list of outputs', []],
    ['{type: object, mapping: $.}', [{ type: 'object', mapping: '$.' }]],
    ['{type: object, mapping: $}', [{ type: 'object', mapping: '$' }]],
    ['{type: array, mapping: $.}', [{ type: 'array', mapping: '$.' }]],
    ['{type: object} without mapping', [{ type: 'object' }]],
    ['a root mapping with spaces around it', [{ type: 'object', mapping: ' $. ' }]],
  ] as Array<[string, MappedOutput[] | undefined]>)('%s is the identity and gives back the very same response', (_name, outputs) => {
    const mapping = compileOutputMapping(outputs)
    expect(mapping.identity).toBe(true)
    expect(mapping.map(RESPONSE)).toBe(RESPONSE)
  })

  it('a root mapping with properties is not the identity', () => {
    const mapping = compileOutputMapping([{ type: 'object', mapping: '$.', properties: { id: { type: 'string', mapping: '$.id' } } }])
    expect(mapping.identity).toBe(false)
    expect(mapping.map(RESPONSE)).toEqual({ id: 'chatcmpl-1' })
  })

  it('a root output with a value is not the identity: the value is answered', () => {
    const mapping = compileOutputMapping([{ type: 'string', mapping: '$.', value: 'fixed' }])
    expect(mapping.identity).toBe(false)
    expect(mapping.map(RESPONSE)).toBe('fixed')
  })
})

describe('compileOutputMapping: the JSON at a path', () => {
  it('mapping: $.data answers the object at that path unchanged', () => {
    const mapping = compileOutputMapping([{ type: 'object', mapping: '$.data' }])
    expect(mapping.identity).toBe(false)
    expect(mapping.map(RESPONSE)).toBe(RESPONSE.data)
  })

  it('mapping of an array type without items answers the array at that path unchanged', () => {
    expect(map([{ type: 'array', mapping: '$.choices' }], RESPONSE)).toBe(RESPONSE.choices)
  })

  it('a path that is not in the response answers undefined', () => {
    expect(map([{ type: 'object', mapping: '$.nothing.here' }], RESPONSE)).toBeUndefined()
  })
})

describe('compileOutputMapping: scalar coercion', () => {
  it.each([
    ['number', '42', 42],
    ['number', ' 4.5 ', 4.5],
    ['integer', '7', 7],
    ['number', 42, 42],
    ['number', 'forty-two', 'forty-two'],
    ['number', '', ''],
    ['number', 'Infinity', 'Infinity'],
    ['string', 7, '7'],
    ['string', false, 'false'],
    ['string', 'text', 'text'],
    ['string', null, null],
    ['boolean', 'true', true],
    ['boolean', 'false', false],
    ['boolean', true, true],
    ['boolean', 'yes', 'yes'],
    [undefined, '42', '42'],
    ['object', '42', '42'],
  ] as Array<[string | undefined, unknown, unknown]>)('type %s turns %j into %j', (type, input, expected) => {
    const outputs: MappedOutput[] = [{ ...(type === undefined ? {} : { type }), mapping: '$.v' }]
    expect(map(outputs, { v: input })).toEqual(expected)
  })

  it('a missing scalar stays undefined whatever its type', () => {
    expect(map([{ type: 'number', mapping: '$.v' }], {})).toBeUndefined()
    expect(map([{ type: 'string', mapping: '$.v' }], {})).toBeUndefined()
    expect(map([{ type: 'boolean', mapping: '$.v' }], {})).toBeUndefined()
  })
})

describe('compileOutputMapping: properties', () => {
  it('properties without a mapping on their object read from the response root', () => {
    const outputs: MappedOutput[] = [{
      type: 'object',
      properties: {
        id: { type: 'string', mapping: '$.id' },
        content: { type: 'string', mapping: '$.choices[0].message.content' },
        tokens: { type: 'number', mapping: '$.usage.completion_tokens' },
      },
    }]
    expect(map(outputs, RESPONSE)).toEqual({ id: 'chatcmpl-1', content: 'hello', tokens: 2 })
  })

  it('nested properties without a mapping still read from the same root', () => {
    const outputs: MappedOutput[] = [{
      type: 'object',
      properties: {
        meta: {
          type: 'object',
          properties: {
            id: { type: 'string', mapping: '$.id' },
            usage: { type: 'object', properties: { prompt: { type: 'integer', mapping: '$.usage.prompt_tokens' } } },
          },
        },
        deep: { type: 'boolean', mapping: '$.data.nested.deep' },
      },
    }]
    expect(map(outputs, RESPONSE)).toEqual({ meta: { id: 'chatcmpl-1', usage: { prompt: 3 } }, deep: true })
  })

  it('properties of a mapped object read relative to that object', () => {
    const outputs: MappedOutput[] = [{
      type: 'object',
      mapping: '$.choices[1]',
      properties: {
        text: { type: 'string', mapping: '$.message.content' },
        why: { type: 'string', mapping: '$.finish_reason' },
        index: { type: 'string', mapping: '$.index' },
      },
    }]
    expect(map(outputs, RESPONSE)).toEqual({ text: 'bye', why: 'length', index: '1' })
  })

  it('a mapped property object nested in another reads relative to its own mapping', () => {
    const outputs: MappedOutput[] = [{
      type: 'object',
      mapping: '$.choices[0]',
      properties: {
        message: { type: 'object', mapping: '$.message', properties: { who: { type: 'string', mapping: '$.role' } } },
      },
    }]
    expect(map(outputs, RESPONSE)).toEqual({ message: { who: 'assistant' } })
  })

  it('a property whose path is missing is left out of the object', () => {
    const outputs: MappedOutput[] = [{
      type: 'object',
      properties: { id: { type: 'string', mapping: '$.id' }, gone: { type: 'string', mapping: '$.not.there' } },
    }]
    const out = map(outputs, RESPONSE)
    expect(out).toEqual({ id: 'chatcmpl-1' })
    expect(Object.keys(out as object)).toEqual(['id'])
  })

  it('a property that is null in the response stays null', () => {
    const outputs: MappedOutput[] = [{ type: 'object', properties: { v: { type: 'string', mapping: '$.v' } } }]
    expect(map(outputs, { v: null })).toEqual({ v: null })
  })

  it('a root object whose mapped base is missing or null answers an empty object (its schema says object)', () => {
    const outputs: MappedOutput[] = [{ type: 'object', mapping: '$.absent', properties: { a: { type: 'string', mapping: '$.a' } } }]
    expect(map(outputs, RESPONSE)).toEqual({})
    expect(map(outputs, { absent: null })).toEqual({})
  })

  it('a root object read from a null response answers an empty object', () => {
    const outputs: MappedOutput[] = [{ type: 'object', properties: { a: { type: 'string', mapping: '$.a' } } }]
    expect(map(outputs, null)).toEqual({})
  })

  it('a nested object whose mapped base is missing answers null', () => {
    const outputs: MappedOutput[] = [{ type: 'object', properties: { inner: { type: 'object', mapping: '$.absent', properties: { a: { type: 'string', mapping: '$.a' } } } } }]
    expect(map(outputs, RESPONSE)).toEqual({ inner: null })
  })

  it('a property with a value answers the value, not what its mapping points at', () => {
    const outputs: MappedOutput[] = [{
      type: 'object',
      properties: { id: { type: 'string', mapping: '$.id', value: 'constant' }, real: { type: 'string', mapping: '$.id' } },
    }]
    expect(map(outputs, RESPONSE)).toEqual({ id: 'constant', real: 'chatcmpl-1' })
  })
})

describe('compileOutputMapping: items', () => {
  it('items map each element of the mapped array with $ the element', () => {
    const outputs: MappedOutput[] = [{
      type: 'array',
      mapping: '$.choices',
      items: { type: 'object', properties: { i: { type: 'string', mapping: '$.index' }, text: { type: 'string', mapping: '$.message.content' } } },
    }]
    expect(map(outputs, RESPONSE)).toEqual([{ i: '0', text: 'hello' }, { i: '1', text: 'bye' }])
  })

  it('scalar items with mapping $. take each element itself, coerced', () => {
    const outputs: MappedOutput[] = [{ type: 'array', mapping: '$.data.list', items: { type: 'string', mapping: '$.' } }]
    expect(map(outputs, RESPONSE)).toEqual(['1', '2', '3'])
  })

  it('scalar items with mapping $.name take that field of each element', () => {
    const outputs: MappedOutput[] = [{ type: 'array', mapping: '$.people', items: { type: 'string', mapping: '$.name' } }]
    expect(map(outputs, { people: [{ name: 'ada' }, { name: 'bob' }, {}] })).toEqual(['ada', 'bob', undefined])
  })

  it('items without a mapping on the array read the response root as the array', () => {
    const outputs: MappedOutput[] = [{ type: 'array', items: { type: 'number', mapping: '$.n' } }]
    expect(map(outputs, [{ n: '1' }, { n: 2 }])).toEqual([1, 2])
  })

  it('items over a missing or null array answer an empty array', () => {
    const outputs: MappedOutput[] = [{ type: 'array', mapping: '$.nope', items: { type: 'string', mapping: '$.' } }]
    expect(map(outputs, RESPONSE)).toEqual([])
    expect(map(outputs, { nope: null })).toEqual([])
  })

  it('items over a single non-array value map it as a one-element array', () => {
    const outputs: MappedOutput[] = [{ type: 'array', mapping: '$.one', items: { type: 'string', mapping: '$.name' } }]
    expect(map(outputs, { one: { name: 'solo' } })).toEqual(['solo'])
  })

  it('arrays nested in objects nested in arrays map all the way down', () => {
    const outputs: MappedOutput[] = [{
      type: 'object',
      properties: {
        groups: {
          type: 'array',
          mapping: '$.groups',
          items: {
            type: 'object',
            properties: {
              name: { type: 'string', mapping: '$.name' },
              members: { type: 'array', mapping: '$.members', items: { type: 'integer', mapping: '$.id' } },
            },
          },
        },
      },
    }]
    const root = { groups: [{ name: 'a', members: [{ id: '1' }, { id: '2' }] }, { name: 'b', members: [] }] }
    expect(map(outputs, root)).toEqual({ groups: [{ name: 'a', members: [1, 2] }, { name: 'b', members: [] }] })
  })
})

describe('compileOutputMapping: the older nested form', () => {
  it('mapping: {properties} builds the object from the response root', () => {
    const outputs: MappedOutput[] = [{
      type: 'object',
      mapping: { properties: { id: { type: 'string', mapping: '$.id' }, tokens: { type: 'string', mapping: '$.usage.prompt_tokens' } } },
    }]
    const mapping = compileOutputMapping(outputs)
    expect(mapping.identity).toBe(false)
    expect(mapping.map(RESPONSE)).toEqual({ id: 'chatcmpl-1', tokens: '3' })
  })

  it('mapping: {items} maps each element of the response root', () => {
    const outputs: MappedOutput[] = [{ type: 'array', mapping: { items: { type: 'string', mapping: '$.name' } } }]
    expect(map(outputs, [{ name: 'x' }, { name: 'y' }])).toEqual(['x', 'y'])
  })

  it('the nested form nests: a property given as mapping: {items} maps its array', () => {
    const outputs: MappedOutput[] = [{
      type: 'object',
      mapping: {
        properties: {
          reasons: { type: 'array', mapping: '$.choices', items: { type: 'string', mapping: '$.finish_reason' } },
          first: { type: 'object', mapping: { properties: { c: { type: 'string', mapping: '$.choices[0].message.content' } } } },
        },
      },
    }]
    expect(map(outputs, RESPONSE)).toEqual({ reasons: ['stop', 'length'], first: { c: 'hello' } })
  })

  it('top-level properties win over properties nested in mapping', () => {
    const outputs: MappedOutput[] = [{
      type: 'object',
      properties: { a: { type: 'string', mapping: '$.id' } },
      mapping: { properties: { b: { type: 'string', mapping: '$.id' } } },
    }]
    expect(map(outputs, RESPONSE)).toEqual({ a: 'chatcmpl-1' })
  })
})

describe('compileOutputMapping: several outputs', () => {
  it('named outputs make an object keyed by name', () => {
    const outputs: MappedOutput[] = [
      { name: 'id', type: 'string', mapping: '$.id' },
      { name: 'tokens', type: 'number', mapping: '$.usage.prompt_tokens' },
      { name: 'list', type: 'array', mapping: '$.data.list' },
      { name: 'first', type: 'object', mapping: '$.choices[0]', properties: { text: { type: 'string', mapping: '$.message.content' } } },
    ]
    const mapping = compileOutputMapping(outputs)
    expect(mapping.identity).toBe(false)
    expect(mapping.map(RESPONSE)).toEqual({ id: 'chatcmpl-1', tokens: 3, list: [1, 2, 3], first: { text: 'hello' } })
  })

  it('a named output whose path is missing is present with an undefined value', () => {
    const out = map([{ name: 'id', mapping: '$.id' }, { name: 'gone', mapping: '$.gone' }], RESPONSE) as Record<string, unknown>
    expect(out).toEqual({ id: 'chatcmpl-1' })
    expect(JSON.parse(JSON.stringify(out))).toEqual({ id: 'chatcmpl-1' })
  })

  it('a named output with a value answers the value, whatever its mapping', () => {
    expect(map([
      { name: 'kind', type: 'string', mapping: '$.id', value: 'chat' },
      { name: 'id', type: 'string', mapping: '$.id' },
    ], RESPONSE)).toEqual({ kind: 'chat', id: 'chatcmpl-1' })
  })

  it('outputs that are not all named make an array in their order', () => {
    expect(map([{ mapping: '$.id' }, { name: 'n', type: 'string', mapping: '$.usage.prompt_tokens' }], RESPONSE)).toEqual(['chatcmpl-1', '3'])
  })

  it('one named output answers its own value, not an object around it', () => {
    expect(map([{ name: 'content', type: 'string', mapping: '$.choices[0].message.content' }], RESPONSE)).toBe('hello')
  })

  it('named outputs over a null response give an object of missing values', () => {
    expect(JSON.parse(JSON.stringify(map([{ name: 'a', mapping: '$.a' }, { name: 'b', type: 'object', properties: { c: { mapping: '$.c' } } }], null))))
      .toEqual({ b: null })
  })
})

describe('compileJsonPath: definite paths yield the value', () => {
  const root = {
    a: { b: ['first', 'second'], 'with-dash': 1, $dollar: 2, _under: 3 },
    'weird key': { 'it.has': 'dots' },
    x: 'double quoted',
    list: [[10, 11], [20, 21]],
    zero: 0,
    empty: '',
    nil: null,
  }

  it.each([
    ['$', root],
    ['$.', root],
    ['$.a.b[0]', 'first'],
    ['$.a.b[1]', 'second'],
    ['$.a.b', ['first', 'second']],
    ['$.a.with-dash', 1],
    ['$.a.$dollar', 2],
    ['$.a._under', 3],
    ["$['weird key']", root['weird key']],
    ["$['weird key']['it.has']", 'dots'],
    ['$["x"]', 'double quoted'],
    ["$.a['b'][1]", 'second'],
    ['$.list[1][0]', 20],
    ['$.zero', 0],
    ['$.empty', ''],
    ['$.nil', null],
    ['  $.a.b[0]  ', 'first'],
  ] as Array<[string, unknown]>)('%s yields %j', (path, expected) => {
    expect(compileJsonPath(path)(root)).toEqual(expected)
  })

  it.each([
    '$.missing',
    '$.a.missing.deeper',
    '$.a.b[5]',
    '$.zero.below',
    '$.empty.below',
    '$.nil.below',
    '$.a.b[0].length.more',
  ])('%s yields undefined', (path) => {
    expect(compileJsonPath(path)(root)).toBeUndefined()
  })

  it('a definite path reads nothing from a null, undefined or scalar root', () => {
    for (const r of [null, undefined, 42, 'text', true]) expect(compileJsonPath('$.a.b')(r)).toBeUndefined()
  })

  it('the root path yields a scalar root as it is', () => {
    expect(compileJsonPath('$.')(42)).toBe(42)
    expect(compileJsonPath('$')(null)).toBeNull()
  })

  it('an index applies to an array root', () => {
    expect(compileJsonPath('$[1].id')([{ id: 'a' }, { id: 'b' }])).toBe('b')
  })

  it('a dotted key that is not ASCII (or starts with a digit) yields the value, not an array around it', () => {
    // `$.café` / `$.data.2024` fall outside SIMPLE_SEGMENT and go to jsonpath-plus with wrap: true
    expect(compileJsonPath('$.café')({ café: 'c' })).toBe('c')
    expect(compileJsonPath('$.data.2024')({ data: { 2024: 'y' } })).toBe('y')
  })

  it('a definite path does not read inherited properties of the parsed JSON', () => {
    // the walk uses `cur[seg]`, so `$.constructor` on `{}` yields Object (a function), `$.toString` a function
    expect(compileJsonPath('$.constructor')({})).toBeUndefined()
    expect(compileJsonPath('$.a.toString')({ a: {} })).toBeUndefined()
  })
})

describe('compileJsonPath: wildcard and filter paths yield the array of matches', () => {
  const root = {
    items: [{ id: 1, ok: true }, { id: 2, ok: false }, { id: 3, ok: true }],
    nested: { id: 4, deeper: { id: 5 } },
  }

  it('$.items[*].id yields every id', () => {
    expect(compileJsonPath('$.items[*].id')(root)).toEqual([1, 2, 3])
  })

  it('$..id yields every id at any depth', () => {
    expect(compileJsonPath('$..id')(root)).toEqual([1, 2, 3, 4, 5])
  })

  it('a wildcard path with a single match still yields an array', () => {
    expect(compileJsonPath('$.nested.deeper.*')(root)).toEqual([5])
  })

  it('a wildcard path with no match yields an empty array', () => {
    expect(compileJsonPath('$.none[*].id')(root)).toEqual([])
  })

  it('a wildcard path over a null or scalar root yields undefined', () => {
    expect(compileJsonPath('$.items[*].id')(null)).toBeUndefined()
    expect(compileJsonPath('$..id')('text')).toBeUndefined()
  })

  it('a slice yields the sliced elements', () => {
    expect(compileJsonPath('$.items[-1:].id')(root)).toEqual([3])
  })

  it('$.items[?(@.ok)] yields the matching elements', () => {
    expect(compileJsonPath('$.items[?(@.ok)]')(root)).toEqual([root.items[0], root.items[2]])
  })

  it('a comparison filter $.items[?(@.id > 1)].id yields the ids of the matches', () => {
    expect(compileJsonPath('$.items[?(@.id > 1)].id')(root)).toEqual([2, 3])
  })

  it('wildcard paths compose with items: each element of the matches is mapped', () => {
    const outputs: MappedOutput[] = [{ type: 'array', mapping: '$.items[*].id', items: { type: 'string', mapping: '$.' } }]
    expect(map(outputs, root)).toEqual(['1', '2', '3'])
  })

  it('a wildcard path as a property yields the array of matches in the object', () => {
    const outputs: MappedOutput[] = [{ type: 'object', properties: { ids: { type: 'array', mapping: '$..id' } } }]
    expect(map(outputs, root)).toEqual({ ids: [1, 2, 3, 4, 5] })
  })
})
