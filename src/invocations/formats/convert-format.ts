import { NaftikoError } from '../../errors/naftiko-error.js'

/** `outputRawFormat` values whose answers are converted to JSON before an output mapping reads them. */
export const CONVERTED_FORMATS = ['xml', 'yaml', 'csv', 'tsv', 'psv', 'html', 'markdown', 'protobuf', 'avro'] as const
export type ConvertedFormat = typeof CONVERTED_FORMATS[number]

/** Values the generator's files use for answers that are relayed as they come and never mapped. */
export const RELAYED_FORMATS: readonly string[] = ['text', 'binary']

/** Formats decoded with the schema file `outputSchema` names. */
export const SCHEMA_FORMATS: readonly string[] = ['protobuf', 'avro']

export function isConvertedFormat (format: string): format is ConvertedFormat {
  return (CONVERTED_FORMATS as readonly string[]).includes(format)
}

/** A binary format's decoder, loaded from its schema file at startup. */
export interface SchemaDecoder {
  /** the message or record type, for messages */
  readonly type: string
  decode (body: Buffer): unknown
}

export interface FormatOptions {
  /** html: the CSS selector that scopes table extraction; markdown: the heading prefix of the sections kept */
  readonly selector?: string | undefined
  /** protobuf, avro: the decoder built from `outputSchema` */
  readonly schema?: SchemaDecoder | undefined
  /** the answer's `content-type`, whose charset decodes a text format (UTF-8 when it names none) */
  readonly contentType?: string | undefined
}

type TextConverter = (text: string, selector: string | undefined) => unknown

/** Each converter's module (and its parser library) is loaded on first use only. */
const TEXT_CONVERTERS: Record<Exclude<ConvertedFormat, 'protobuf' | 'avro'>, () => Promise<TextConverter>> = {
  xml: async () => (await import('./xml-format.js')).xmlToJson,
  yaml: async () => (await import('./yaml-format.js')).yamlToJson,
  csv: async () => delimited(',', await import('./delimited-format.js')),
  tsv: async () => delimited('\t', await import('./delimited-format.js')),
  psv: async () => delimited('|', await import('./delimited-format.js')),
  html: async () => (await import('./html-format.js')).htmlToJson,
  markdown: async () => (await import('./markdown-format.js')).markdownToJson,
}

function delimited (delimiter: string, module: typeof import('./delimited-format.js')): TextConverter {
  return (text) => module.delimitedToJson(text, delimiter)
}

const LABELS: Record<ConvertedFormat, string> = {
  xml: 'XML', yaml: 'YAML', csv: 'CSV', tsv: 'TSV', psv: 'PSV', html: 'HTML', markdown: 'Markdown', protobuf: 'protobuf', avro: 'Avro',
}

/**
 * An upstream answer in `format` as the JSON value an output mapping reads. A body that is not
 * valid in its format is `upstream_invalid_response`, with a message that names the format and
 * never the body (the parser's error is kept as its `cause`, never sent).
 */
export async function toJson (format: ConvertedFormat, body: Buffer, options: FormatOptions = {}): Promise<unknown> {
  const schema = options.schema
  const what = schema === undefined ? LABELS[format] : `${LABELS[format]} (${schema.type})`
  try {
    if (format === 'protobuf' || format === 'avro') {
      if (schema === undefined) throw new Error(`${format} needs outputSchema`)
      return schema.decode(body)
    }
    const convert = await TEXT_CONVERTERS[format]()
    return convert(decodeText(body, options.contentType), options.selector)
  } catch (err) {
    throw new NaftikoError('upstream_invalid_response', `The upstream answered with a body that is not valid ${what} (outputRawFormat: ${format}).`, { cause: err })
  }
}

/**
 * The body's text in the charset its content type names (UTF-8 otherwise), a byte order mark
 * removed. Bytes that are not text in that charset make the body invalid rather than turning into
 * replacement characters in the mapped answer.
 */
function decodeText (body: Buffer, contentType: string | undefined): string {
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType ?? '')?.[1]
  let decoder: TextDecoder
  try {
    decoder = new TextDecoder(charset ?? 'utf-8', { fatal: true })
  } catch {
    // a charset name the platform does not know
    decoder = new TextDecoder('utf-8', { fatal: true })
  }
  return decoder.decode(body)
}
