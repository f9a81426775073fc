import { parseAllDocuments } from 'yaml'

/**
 * YAML -> JSON (YAML 1.2 core schema: `yes` stays a string, no dates): one document is its value,
 * several (`---` separated) are an array of their values, an empty body is null. Duplicate keys
 * are an error; aliases are expanded up to the limit the capability loader uses.
 */
export function yamlToJson (text: string): unknown {
  // logLevel `error`: the library's warnings go to the console otherwise, not to the gateway's log
  const documents = parseAllDocuments(text, { uniqueKeys: true, logLevel: 'error' })
  // a stream without documents still carries the errors found in it
  const streamErrors = 'empty' in documents ? documents.errors : []
  const error = [...streamErrors, ...documents.flatMap((doc) => doc.errors)][0]
  if (error !== undefined) throw error
  const values = documents.map((doc) => doc.toJS({ maxAliasCount: 100 }) as unknown)
  if (values.length === 0) return null
  return values.length === 1 ? values[0] : values
}
