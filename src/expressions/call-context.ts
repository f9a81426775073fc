/**
 * What a compiled request reads per call. `inputs` are the calling adapter's inputs (REST: path,
 * query, header, JSON body field; MCP: tool arguments), looked up by normalized name
 * (`normalizeName`). `args` are the values the exposed operation's `with` computed for the
 * consumed operation's parameters, also by normalized name.
 */
export interface CallInputs {
  get (normalizedName: string): unknown
  /** The whole request body (REST) or the `body` argument (MCP); `undefined` when there is none. */
  readonly body: unknown
}

export interface CallContext {
  readonly inputs: CallInputs
  readonly args: ReadonlyMap<string, unknown>
}

/**
 * A JSON request body kept as received: when it goes upstream unchanged, its bytes are forwarded
 * untouched (no re-serialisation); `value` is the parsed form for lookups.
 */
export class JsonBody {
  constructor (readonly raw: Buffer, readonly value: unknown) {}
}

/** The plain value of an input, whatever form it arrived in. */
export function plainValue (value: unknown): unknown {
  if (value instanceof JsonBody) return value.value
  return value
}
