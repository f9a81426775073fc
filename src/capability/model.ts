/**
 * The normalized capability: the YAML turned once (normalize-capability.ts) into narrow, frozen
 * types that later stages narrow on `type` / `kind`. Field names keep the spec's spelling. Every
 * node keeps `at`, its path in the document, so any later report says `file:line:col`.
 */
import type { Path } from './diagnostics.js'

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS'
export type ParameterLocation = 'path' | 'query' | 'header' | 'cookie' | 'body' | 'environment'

export interface CapabilityModel {
  readonly naftiko: string
  /** the document's `info`: a label and a version, shown to MCP clients where the protocol has fields */
  readonly info: { readonly label: string | undefined, readonly version: string | undefined }
  readonly binds: readonly Bind[]
  readonly consumes: readonly ConsumedNamespace[]
  readonly exposes: readonly Expose[]
  readonly aggregates: readonly AggregateFunction[]
}

export interface Bind {
  readonly namespace: string
  /** undefined = the process environment */
  readonly location: string | undefined
  /** variable -> key in the provider */
  readonly keys: Readonly<Record<string, string>>
  readonly at: Path
}

// ---------------------------------------------------------------------------------------------
// consumes
// ---------------------------------------------------------------------------------------------

export interface ConsumedNamespace {
  readonly namespace: string
  /** undefined when empty or missing (operations answer 502 until --base-uri gives one) */
  readonly baseUri: string | undefined
  /** fixed request headers (generator files), values may be templates */
  readonly headers: Readonly<Record<string, unknown>>
  readonly authentication: UpstreamAuthentication | undefined
  readonly resources: readonly Named[]
  readonly operations: readonly ConsumedOperation[]
  readonly at: Path
}

/** A declaration other parts may refer to by name, and where it is. */
export interface Named {
  readonly name: string
  readonly at: Path
}

export interface ConsumedParameter {
  readonly name: string
  readonly in: ParameterLocation
  /** a literal or a template; undefined = the `with` value or caller input of the same name */
  readonly value: unknown
  readonly required: boolean
  readonly type: string | undefined
  readonly description: string | undefined
}

export interface ConsumedOperation {
  readonly namespace: string
  readonly name: string
  readonly method: HttpMethod
  /** the operation's own path, else its resource's */
  readonly path: string
  /** consumes-, resource- and operation-level parameters, merged (a later one with the same name
   * and location wins) */
  readonly parameters: readonly ConsumedParameter[]
  readonly body: RequestBody | undefined
  /** `json` unless the operation says otherwise */
  readonly outputRawFormat: string
  /** format-specific: a protobuf or Avro schema file, an HTML CSS selector, a Markdown heading prefix */
  readonly outputSchema: string | undefined
  readonly at: Path
}

export type RequestBody =
  /** `{type: json}` with no `data`: the caller's body */
  | { readonly type: 'caller' }
  /** a raw string: JSON text with templates filled in */
  | { readonly type: 'raw', readonly data: string }
  | { readonly type: 'json', readonly data: unknown }
  | { readonly type: 'text' | 'xml' | 'sparql', readonly data: unknown }
  | { readonly type: 'form', readonly data: unknown }
  | { readonly type: 'multipart', readonly data: unknown }

export type UpstreamAuthentication =
  | { readonly type: 'bearer', readonly token: string }
  | { readonly type: 'apikey', readonly key: string | undefined, readonly value: string | undefined, readonly placement: 'header' | 'query' | 'body' | 'cookie', readonly headers: Readonly<Record<string, string>> }
  | { readonly type: 'basic' | 'digest', readonly username: string, readonly password: string }
  | { readonly type: 'oauth2', readonly settings: Readonly<Record<string, unknown>> }

// ---------------------------------------------------------------------------------------------
// exposes
// ---------------------------------------------------------------------------------------------

export interface OAuthSettings {
  readonly type: 'oauth2'
  readonly authorizationServerUri: string
  readonly resource: string
  readonly scopes: readonly string[] | undefined
  readonly audience: string | undefined
}

export type InboundAuthentication =
  | { readonly type: 'bearer', readonly token: string }
  | { readonly type: 'apikey', readonly key: string, readonly value: string, readonly placement: 'header' | 'query' }
  | { readonly type: 'basic', readonly username: string, readonly password: string }
  | OAuthSettings

export interface ExposedInputParameter {
  readonly name: string
  readonly in: string | undefined
  readonly type: string | undefined
  readonly description: string | undefined
  readonly required: boolean | undefined
  /** a JSONPath into the request body (`$.x`) */
  readonly value: unknown
}

export interface MappedOutput {
  readonly name?: string
  readonly type?: string
  readonly mapping?: string | { readonly properties?: Readonly<Record<string, MappedOutput>>, readonly items?: MappedOutput }
  readonly value?: unknown
  readonly properties?: Readonly<Record<string, MappedOutput>>
  readonly items?: MappedOutput
}

/** How an exposed operation or tool produces its answer. */
export type Target =
  | { readonly kind: 'call', readonly call: string }
  | { readonly kind: 'steps', readonly steps: readonly unknown[] }
  | { readonly kind: 'ref', readonly ref: string }
  /** no call: the outputs' `value`s are the answer */
  | { readonly kind: 'mock' }
  | { readonly kind: 'none' }

/** What a REST operation, an MCP tool and an aggregate function have in common. */
export interface Invocable {
  readonly target: Target
  readonly with: Readonly<Record<string, unknown>>
  readonly inputParameters: readonly ExposedInputParameter[]
  readonly outputParameters: readonly MappedOutput[]
  readonly description: string | undefined
  readonly at: Path
}

export interface RestOperation extends Invocable {
  readonly method: HttpMethod
  /** the operation's own path, else its resource's */
  readonly path: string
}

export interface RestResource {
  readonly path: string
  readonly inputParameters: readonly ExposedInputParameter[]
  readonly operations: readonly RestOperation[]
  readonly forward: { readonly targetNamespace: string, readonly trustedHeaders: readonly string[] } | undefined
  readonly at: Path
}

interface ExposeCommon {
  readonly namespace: string
  readonly address: string | undefined
  readonly port: number | undefined
  readonly description: string | undefined
  readonly at: Path
}

export interface RestExpose extends ExposeCommon {
  readonly type: 'rest'
  readonly authentication: InboundAuthentication | undefined
  readonly resources: readonly RestResource[]
}

export interface McpTool extends Invocable {
  readonly name: string
  readonly label: string | undefined
  readonly hints: Readonly<Partial<Record<'readOnly' | 'destructive' | 'idempotent' | 'openWorld', boolean>>>
}

export interface McpExpose extends ExposeCommon {
  readonly type: 'mcp'
  readonly transport: 'http' | 'stdio'
  readonly authentication: InboundAuthentication | undefined
  readonly tools: readonly McpTool[]
  /** declared, not served yet: `name` is the resource's URI */
  readonly resources: readonly Named[]
  readonly prompts: readonly Named[]
}

/** Expose types the format defines and this runtime loads without serving yet. */
export interface PendingExpose extends ExposeCommon {
  readonly type: 'skill' | 'agent-skill' | 'control'
}

export type Expose = RestExpose | McpExpose | PendingExpose

export interface AggregateFunction extends Invocable {
  readonly namespace: string
  readonly name: string
}
