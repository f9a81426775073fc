/**
 * The capability format as the runtime reads it (naftiko 1.0.0-alpha2, loaded leniently: unknown
 * fields are kept and ignored). Field names keep the spec's spelling.
 */
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS'
export type ParameterLocation = 'path' | 'query' | 'header' | 'cookie' | 'body' | 'environment'

export interface Capability {
  naftiko: string
  info?: { label?: string, title?: string, description?: string }
  binds?: Binding[]
  consumes?: unknown[]
  capability: {
    binds?: Binding[]
    consumes?: ConsumesHttp[]
    exposes?: Expose[]
    aggregates?: unknown[]
  }
}

export interface Binding {
  namespace: string
  description?: string
  location?: string
  keys: Record<string, string>
}

export interface Authentication {
  type: 'bearer' | 'apikey' | 'basic' | 'digest' | 'oauth2' | string
  token?: string
  key?: string
  value?: string
  placement?: string
  username?: string
  password?: string
  /** several fixed credential headers (seen in generator files with `type: apikey`) */
  headers?: Record<string, string>
}

export interface ConsumedInputParameter {
  name: string
  in: ParameterLocation | string
  value?: unknown
  required?: boolean
  type?: string
  description?: string
}

export interface ConsumedOutputParameter { name: string, type?: string, value: string }

export type RequestBodyTemplate =
  | string
  | { type: 'json', data: unknown }
  | { type: 'text' | 'xml' | 'sparql', data: string }
  | { type: 'formUrlEncoded', data: Record<string, unknown> | string }
  | { type: 'multipartForm', data: unknown[] }
  | { type: string, data?: unknown }

export interface ConsumedOperation {
  name: string
  method: HttpMethod | string
  /** overrides the resource path (generator files) */
  path?: string
  label?: string
  description?: string
  inputParameters?: ConsumedInputParameter[]
  outputRawFormat?: string
  outputParameters?: ConsumedOutputParameter[]
  body?: RequestBodyTemplate
}

export interface ConsumedResource {
  name: string
  path: string
  inputParameters?: ConsumedInputParameter[]
  operations: ConsumedOperation[]
}

export interface ConsumesHttp {
  type: 'http' | string
  namespace: string
  baseUri?: string
  description?: string
  headers?: Record<string, unknown>
  inputParameters?: ConsumedInputParameter[]
  authentication?: Authentication
  resources?: ConsumedResource[]
}

export interface MappedOutput {
  name?: string
  type?: string
  mapping?: string | { properties?: Record<string, MappedOutput>, items?: MappedOutput }
  value?: string
  const?: unknown
  properties?: Record<string, MappedOutput>
  items?: MappedOutput
}

export interface ExposedInputParameter {
  name: string
  in?: string
  type?: string
  description?: string
  required?: boolean
  pattern?: string
  value?: unknown
}

/** What a REST operation and an MCP tool have in common: how they reach a consumed operation. */
export interface Invocable {
  name?: string
  description?: string
  call?: string
  ref?: string
  with?: Record<string, unknown>
  steps?: unknown[]
  mappings?: unknown[]
  inputParameters?: ExposedInputParameter[]
  outputParameters?: MappedOutput[]
}

export interface ExposedOperation extends Invocable {
  method: HttpMethod | string
  /** overrides the resource path (generator files) */
  path?: string
}

export interface ExposedResource {
  path: string
  name?: string
  description?: string
  inputParameters?: ExposedInputParameter[]
  operations?: ExposedOperation[]
  forward?: { targetNamespace: string, trustedHeaders?: string[] }
}

export interface McpTool extends Invocable {
  name: string
  label?: string
  hints?: { readOnly?: boolean, destructive?: boolean, idempotent?: boolean, openWorld?: boolean }
}

export interface ExposeBase {
  type: string
  namespace?: string
  address?: string
  port?: number
  description?: string
  authentication?: Authentication
}

export interface ExposesRest extends ExposeBase { type: 'rest', resources?: ExposedResource[] }
export interface ExposesMcp extends ExposeBase {
  type: 'mcp'
  transport?: 'http' | 'stdio'
  tools?: McpTool[]
  resources?: unknown[]
  prompts?: unknown[]
}
export type Expose = ExposesRest | ExposesMcp | ExposeBase
