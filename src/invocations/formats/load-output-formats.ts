import { dirname, resolve } from 'node:path'
import type { DiagnosticList } from '../../capability/diagnostics.js'
import type { CapabilityModel, ConsumedOperation } from '../../capability/model.js'
import { isConvertedFormat, SCHEMA_FORMATS, toJson, type ConvertedFormat, type SchemaDecoder } from './convert-format.js'

/** Turns one consumed operation's 2xx answer into the JSON value its output mapping reads. */
export type FormatConverter = (body: Buffer, contentType: string | undefined) => Promise<unknown>

/** `namespace.operation` -> its converter, for every consumed operation whose answers are converted. */
export type OutputFormats = ReadonlyMap<string, FormatConverter>

/**
 * Prepares the converter of every consumed operation with a converted `outputRawFormat`, once at
 * load: a protobuf or Avro schema file is read and compiled here (relative to the capability file),
 * an HTML selector is checked. What cannot be prepared is an error at `outputSchema`. Unknown format
 * names and a missing `outputSchema` are the checker's to report (check-capability.ts).
 */
export async function loadOutputFormats (model: CapabilityModel, capabilityPath: string, out: DiagnosticList): Promise<OutputFormats> {
  const formats = new Map<string, FormatConverter>()
  for (const c of model.consumes) {
    for (const op of c.operations) {
      const format = op.outputRawFormat
      // without a schema a protobuf or Avro answer can only be relayed; the checker refuses a mapping over it
      if (!isConvertedFormat(format) || (SCHEMA_FORMATS.includes(format) && op.outputSchema === undefined)) continue
      try {
        formats.set(`${c.namespace}.${op.name}`, await prepareConverter(format, op, dirname(capabilityPath)))
      } catch (err) {
        out.error([...op.at, 'outputSchema'], `outputSchema "${op.outputSchema ?? ''}" for outputRawFormat ${format}: ${reasonOf(err)}`)
      }
    }
  }
  return formats
}

async function prepareConverter (format: ConvertedFormat, op: ConsumedOperation, base: string): Promise<FormatConverter> {
  const written = op.outputSchema
  if (format === 'protobuf' || format === 'avro') {
    const schema = await loadSchema(format, resolve(base, written ?? ''))
    return async (body) => await toJson(format, body, { schema })
  }
  if (format === 'html' && written !== undefined) (await import('./html-format.js')).checkHtmlSelector(written)
  const selector = format === 'html' || format === 'markdown' ? written : undefined
  return async (body, contentType) => await toJson(format, body, { selector, contentType })
}

/** `file.proto#package.Message` names the message; without `#`, the file's first message. */
async function loadSchema (format: 'protobuf' | 'avro', reference: string): Promise<SchemaDecoder> {
  const hash = reference.lastIndexOf('#')
  const file = hash === -1 ? reference : reference.slice(0, hash)
  if (format === 'avro') return await (await import('./avro-format.js')).loadAvroDecoder(file)
  return await (await import('./protobuf-format.js')).loadProtobufDecoder(file, hash === -1 ? undefined : reference.slice(hash + 1))
}

function reasonOf (err: unknown): string {
  const e = err as NodeJS.ErrnoException
  switch (e.code) {
    case 'ENOENT': return `no such file (${e.path ?? 'the path given'})`
    case 'EISDIR': return 'is a directory'
    case 'EACCES': case 'EPERM': return 'permission denied'
  }
  return e instanceof Error ? e.message.split('\n')[0] ?? 'cannot be read' : 'cannot be read'
}
