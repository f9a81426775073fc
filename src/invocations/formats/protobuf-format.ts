import protobuf from 'protobufjs'

/**
 * Loads a `.proto` file (its imports resolved beside it) and returns the decoder of one message
 * type: the one named after `#` in the schema reference (`records.proto#pkg.RecordsList`), else the
 * first message the file declares. Fields keep the names the file gives them; the value follows the
 * protobuf JSON mapping: 64-bit integers and enums as strings (enum names), bytes as base64, repeated
 * fields always present as arrays, unset fields left out.
 */
export async function loadProtobufDecoder (file: string, messageName: string | undefined): Promise<{ decode: (body: Buffer) => unknown, type: string }> {
  const root = await new protobuf.Root().load(file, { keepCase: true })
  const type = messageName === undefined ? firstMessage(root, root.files[0] ?? file) : root.lookupType(messageName)
  if (type === undefined) throw new Error('it declares no message type')
  return {
    type: type.fullName.replace(/^\./, ''),
    decode: (body) => type.toObject(type.decode(body), { longs: String, enums: String, bytes: String, arrays: true, json: true }),
  }
}

/** The first message type declared in `file` itself (not in one it imports), depth first. */
function firstMessage (namespace: protobuf.NamespaceBase, file: string): protobuf.Type | undefined {
  for (const nested of namespace.nestedArray) {
    if (nested instanceof protobuf.Type && nested.filename === file) return nested
    if (nested instanceof protobuf.Namespace || nested instanceof protobuf.Type) {
      const found = firstMessage(nested, file)
      if (found !== undefined) return found
    }
  }
  return undefined
}
