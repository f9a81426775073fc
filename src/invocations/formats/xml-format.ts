import { XMLParser, XMLValidator } from 'fast-xml-parser'

const ATTRIBUTE = '@'
const TEXT = '#text'

// values stay text (an XML `007` is not the number 7; a mapping's `type` coerces); namespace
// prefixes and declarations are dropped, so `soap:Envelope` is read as `$.Envelope`
const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: ATTRIBUTE,
  textNodeName: TEXT,
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  // character references (`&#65;`) are decoded along with the five predefined entities
  htmlEntities: true,
})

/**
 * XML -> JSON: the root element is a key of the result (`<root><user>` is `$.root.user`, the engine's
 * formats file) and its children are keys beside it (`$.user`, the tutorial's `$.vessel` under
 * `<vessels>`); where a child has the root's name, the root wins. An
 * element repeated under one parent is an array, a leaf is its text, an empty element `""`.
 * Attributes are keys of their element like child elements; where an attribute and a child element
 * share a name, the attribute keeps an `@` prefix. An element with attributes and text has the text
 * under `#text`.
 */
export function xmlToJson (text: string): unknown {
  const valid = XMLValidator.validate(text)
  if (valid !== true) throw new Error(`line ${valid.err.line}: ${valid.err.msg}`)
  const parsed = parser.parse(text) as Record<string, unknown>
  // the validator accepts several root elements; a document has exactly one
  const roots = Object.keys(parsed)
  const name = roots[0] as string
  if (roots.length !== 1 || Array.isArray(parsed[name])) throw new Error('an XML document has exactly one root element')
  const root = unprefixAttributes(parsed[name])
  return root !== null && typeof root === 'object' ? { ...root, [name]: root } : { [name]: root }
}

function unprefixAttributes (value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unprefixAttributes)
  if (value === null || typeof value !== 'object') return value
  const node = value as Record<string, unknown>
  const entries: Array<[string, unknown]> = []
  for (const [key, child] of Object.entries(node)) {
    const plain = key.startsWith(ATTRIBUTE) ? key.slice(ATTRIBUTE.length) : key
    // an element name never starts with `@`, so the prefix is only kept where it tells the two apart
    entries.push([plain !== key && Object.hasOwn(node, plain) ? key : plain, unprefixAttributes(child)])
  }
  return Object.fromEntries(entries)
}
