import { JSONPath } from 'jsonpath-plus'
import type { MappedOutput } from '../capability/model.js'

/** Reads a JSON value out of a response; compiled once per output parameter. */
export type Extractor = (root: unknown) => unknown

export interface OutputMapping {
  /** True when the response goes back as it is: it can be relayed without being parsed. */
  readonly identity: boolean
  readonly map: Extractor
}

const IDENTITY: OutputMapping = { identity: true, map: (root) => root }

/**
 * Compiles an exposed operation's `outputParameters` (simple mode, spec 3.12.2 as the real files use
 * it): `{type: object|array, mapping: X}` without properties/items = the JSON at X unchanged;
 * `properties` build an object, read from the mapped value or, without `mapping`, from the same root;
 * `items` map each element of the mapped array, with `$` the element.
 */
export function compileOutputMapping (outputs: readonly MappedOutput[] | undefined): OutputMapping {
  if (outputs === undefined || outputs.length === 0) return IDENTITY
  if (outputs.length === 1) {
    const only = outputs[0] as MappedOutput
    if (isIdentityNode(only)) return IDENTITY
    const node = compileNode(only)
    // a shaped object stays an object when the response lacks what it maps (its schema says object)
    if (only.type === 'object' && (only.properties !== undefined || typeof only.mapping === 'object')) return { identity: false, map: (root) => node(root) ?? {} }
    return { identity: false, map: node }
  }
  const named = outputs.every((o) => typeof o.name === 'string')
  const nodes = outputs.map((o) => [o.name ?? '', compileNode(o)] as const)
  if (!named) return { identity: false, map: (root) => nodes.map(([, node]) => node(root)) }
  return {
    identity: false,
    map: (root) => {
      const out: Record<string, unknown> = {}
      for (const [name, node] of nodes) out[name] = node(root)
      return out
    },
  }
}

function isIdentityNode (node: MappedOutput): boolean {
  return node.value === undefined && node.properties === undefined && node.items === undefined &&
    (node.mapping === undefined || (typeof node.mapping === 'string' && isRootPath(node.mapping)))
}

function compileNode (node: MappedOutput): Extractor {
  if (node.value !== undefined) {
    const value = node.value
    return () => value
  }
  // the spec's older form nests properties/items inside `mapping`
  const nested = typeof node.mapping === 'object' && node.mapping !== null ? node.mapping : undefined
  const properties = node.properties ?? nested?.properties
  const items = node.items ?? nested?.items
  const select = typeof node.mapping === 'string' ? compileJsonPath(node.mapping) : undefined

  if (properties !== undefined) {
    const props = Object.entries(properties).map(([name, child]) => [name, compileNode(child)] as const)
    return (root) => {
      const base = select === undefined ? root : select(root)
      if (base === undefined || base === null) return null
      const out: Record<string, unknown> = {}
      for (const [name, child] of props) {
        const v = child(base)
        if (v !== undefined) out[name] = v
      }
      return out
    }
  }
  if (items !== undefined) {
    const item = compileNode(items)
    return (root) => {
      const list = select === undefined ? root : select(root)
      if (!Array.isArray(list)) return list === undefined || list === null ? [] : [item(list)]
      return list.map(item)
    }
  }
  const coerce = coercion(node.type)
  if (select === undefined) return coerce
  return (root) => coerce(select(root))
}

function coercion (type: string | undefined): Extractor {
  switch (type) {
    case 'string':
      return (v) => typeof v === 'number' || typeof v === 'boolean' ? String(v) : v
    case 'number':
    case 'integer':
      return (v) => typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : v
    case 'boolean':
      return (v) => v === 'true' ? true : v === 'false' ? false : v
    default:
      return (v) => v
  }
}

function isRootPath (path: string): boolean {
  const p = path.trim()
  return p === '$' || p === '$.' || p === ''
}

const SIMPLE_SEGMENT = /\.([^.[\]\s*?@()'",:]+)|\[(\d+)\]|\['([^']*)'\]|\["([^"]*)"\]/y

/**
 * `$.a.b[0]` style paths compile to a direct walk (they are most of the real mappings and the
 * walk costs a few property reads); anything else (wildcards, filters, recursive descent) goes to
 * jsonpath-plus and yields the array of matches.
 */
export function compileJsonPath (path: string): Extractor {
  const trimmed = path.trim()
  // `a.b` is read as `$.a.b`
  const p = trimmed.startsWith('$') || trimmed === '' ? trimmed : `$.${trimmed}`
  if (isRootPath(p)) return (root) => root
  const segments = simpleSegments(p)
  if (segments !== undefined) {
    return (root) => {
      let cur: unknown = root
      for (const seg of segments) {
        // own properties only: `$.constructor` is not a field of the response
        if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, seg)) return undefined
        cur = (cur as Record<string | number, unknown>)[seg]
      }
      return cur
    }
  }
  const expression = p
  return (root) => root === null || typeof root !== 'object'
    ? undefined
    // filters run in jsonpath-plus's sandboxed evaluator, never as code
    : JSONPath({ path: expression, json: root as object, wrap: true, eval: 'safe' })
}

function simpleSegments (path: string): Array<string | number> | undefined {
  if (!path.startsWith('$')) return undefined
  const segments: Array<string | number> = []
  SIMPLE_SEGMENT.lastIndex = 1
  while (SIMPLE_SEGMENT.lastIndex < path.length) {
    const m = SIMPLE_SEGMENT.exec(path)
    if (m === null) return undefined
    segments.push(m[1] ?? (m[2] !== undefined ? Number(m[2]) : (m[3] ?? m[4] as string)))
  }
  return segments
}
