import { readFile } from 'node:fs/promises'
import avro from 'avsc'

/**
 * Loads an Avro schema (`.avsc`, JSON) and returns the decoder of one datum in Avro's binary
 * encoding (not an object container file): records are objects, a `["null", T]` union is the value
 * or null, other unions keep Avro's JSON wrapping (`{"string": "x"}`), enums are their symbols,
 * `bytes` and `fixed` are base64. Bytes left after the datum make the body invalid.
 */
export async function loadAvroDecoder (file: string): Promise<{ decode: (body: Buffer) => unknown, type: string }> {
  const schema = JSON.parse(await readFile(file, 'utf8')) as avro.Schema
  const type = avro.Type.forSchema(schema)
  return { type: type.name ?? type.typeName, decode: (body) => plain(type.fromBuffer(body)) }
}

/** JSON has no bytes: a Buffer becomes base64, as the protobuf JSON mapping writes them. */
function plain (value: unknown): unknown {
  if (Buffer.isBuffer(value)) return value.toString('base64')
  if (Array.isArray(value)) return value.map(plain)
  if (value === null || typeof value !== 'object') return value
  // fromEntries defines own properties: a map key `__proto__` stays a key
  return Object.fromEntries(Object.entries(value).map(([key, child]) => [key, plain(child)]))
}
