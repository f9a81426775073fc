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
  /** the namespace's own `inputParameters` (operations have them merged in; `forward` sends them) */
  readonly parameters: readonly ConsumedParameter[]
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
  | { readonly kind: 'steps', readonly steps: readonly Step[], readonly mappings: readonly StepMapping[] }
  /** `function` is the aggregate function the ref names (undefined: the checker refuses the file) */
  | { readonly kind: 'ref', readonly ref: string, readonly function: AggregateFunction | undefined }
  /** no call: the outputs' `value`s are the answer */
  | { readonly kind: 'mock' }
  | { readonly kind: 'none' }

/** One step of an orchestration (spec 3.13); its output is `$.name` in mappings, `{{name.x}}` in templates. */
export type Step =
  | { readonly type: 'call', readonly name: string, readonly call: string, readonly with: Readonly<Record<string, unknown>>, readonly at: Path }
  | {
    readonly type: 'lookup'
    readonly name: string
    /** the earlier step whose output is the table */
    readonly index: string
    readonly match: string
    readonly lookupValue: string
    readonly outputParameters: readonly string[]
    readonly at: Path
  }
  /** a step type the format defines and this runtime does not execute (`script`) */
  | { readonly type: 'unsupported', readonly name: string, readonly stepType: string, readonly at: Path }

/** `targetName` (dot notation builds nested objects) <- `value` (a JSONPath over the step outputs) */
export interface StepMapping {
  readonly targetName: string
  readonly value: string
  readonly at: Path
}

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
  /** what a skill's `from.action` names it by */
  readonly name: string | undefined
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
  readonly resources: readonly McpResource[]
  readonly prompts: readonly McpPrompt[]
}

interface McpResourceCommon {
  readonly name: string
  readonly label: string | undefined
  /** the URI clients read; `{param}` placeholders make a dynamic resource a resource template */
  readonly uri: string
  readonly mimeType: string | undefined
  readonly description: string | undefined
  readonly at: Path
}

/** `call` (or `steps`) + `with`: read through the same invocation path as a tool. */
export interface McpDynamicResource extends McpResourceCommon, Invocable {
  readonly kind: 'dynamic'
}

/** `location: file:///...`: a directory whose files are served, or one file (as written, resolved
 * against the capability's folder by the exposer). */
export interface McpStaticResource extends McpResourceCommon {
  readonly kind: 'static'
  readonly location: string
}

export type McpResource = McpDynamicResource | McpStaticResource

export interface McpPromptArgument {
  readonly name: string
  readonly label: string | undefined
  readonly description: string | undefined
  /** defaults to true (spec McpPromptArgument) */
  readonly required: boolean
}

export interface McpPromptMessage {
  readonly role: 'user' | 'assistant'
  /** `{{argument}}` placeholders are filled from the prompt's arguments */
  readonly content: string
}

export interface McpPrompt {
  readonly name: string
  readonly label: string | undefined
  readonly description: string | undefined
  readonly arguments: readonly McpPromptArgument[]
  /** inline messages, or a file (`location`, as written) whose text becomes one user message */
  readonly source: { readonly kind: 'template', readonly messages: readonly McpPromptMessage[] } | { readonly kind: 'file', readonly location: string }
  readonly at: Path
}

/** A tool a skill declares: derived from a sibling REST operation or MCP tool, or a file of instructions. */
export interface SkillTool {
  readonly name: string
  readonly description: string | undefined
  readonly from: { readonly sourceNamespace: string, readonly action: string } | undefined
  /** a file path relative to the skill's location */
  readonly instruction: string | undefined
  readonly at: Path
}

/** A skill with the Agent Skills front matter fields (kebab-case names kept as the spec writes them). */
export interface Skill {
  readonly name: string
  readonly description: string
  /** the optional front matter fields, as declared: license, compatibility, metadata, allowed-tools,
   * argument-hint, user-invocable, disable-model-invocation */
  readonly frontMatter: Readonly<Record<string, unknown>>
  /** a `file:///` directory with SKILL.md and supporting files, as written */
  readonly location: string | undefined
  readonly tools: readonly SkillTool[]
  readonly at: Path
}

/** A skill catalog: metadata only, it calls nothing. */
export interface SkillExpose extends ExposeCommon {
  readonly type: 'skill'
  readonly authentication: InboundAuthentication | undefined
  readonly skills: readonly Skill[]
}

/** The management plane: health, readiness, status and Prometheus metrics (`namespace` defaults to `control`). */
export interface ControlExpose extends ExposeCommon {
  readonly type: 'control'
  readonly authentication: InboundAuthentication | undefined
  /** `/health/live` and `/health/ready` (default on) */
  readonly health: boolean
  /** `/status` (default off, as the format says) */
  readonly info: boolean
  /** `POST /config/reload` (default off): the capability files read again, as SIGHUP does */
  readonly reload: boolean
  /** span export (`observability`); undefined when the expose has no such block */
  readonly observability?: Observability | undefined
  /** what it declares that this runtime does not serve yet (`management.validate`, `observability.traces.local`, ...) */
  readonly unsupported: readonly string[]
}

/** What this runtime uses of a control expose's `observability` block (docs/semantics.md, "Span export"). */
export interface Observability {
  /** `enabled: false` turns span export off, whatever the environment says */
  readonly enabled: boolean
  /** `traces.sampling`: the share of new traces sampled, 0 to 1 */
  readonly sampling: number | undefined
  /** `exporters.otlp.endpoint` as written (it may hold `{{bound}}` values) */
  readonly endpoint: string | undefined
  readonly at: Path
}

/** Expose types the format defines and this runtime loads without serving yet. */
export interface PendingExpose extends ExposeCommon {
  readonly type: 'agent-skill'
}

export type Expose = RestExpose | McpExpose | SkillExpose | ControlExpose | PendingExpose

export interface AggregateFunction extends Invocable {
  readonly namespace: string
  readonly name: string
  /** transport-neutral behaviour; MCP tools that ref the function derive their hints from it */
  readonly semantics: Readonly<Partial<Record<'safe' | 'idempotent' | 'cacheable', boolean>>>
}
