import type { CapabilityModel, ControlExpose } from '../capability/model.js'
import type { SourceMap } from '../capability/diagnostics.js'
import type { Redactor } from '../bindings/redact.js'
import { StartupError } from '../errors/startup-error.js'
import { resolveStaticText, type ExpressionScope } from '../expressions/compile-value.js'
import type { TraceContext } from '../expressions/trace-context.js'
import type { Logger } from './logger.js'

/**
 * Span export for one runtime (several runtimes in one process keep theirs apart). Absent when no
 * OTLP endpoint is configured: then the OpenTelemetry SDK is never loaded and requests do no
 * tracing work beyond passing a caller's trace context on.
 */
export interface Tracing {
  /** A SERVER span that started at `startTime` (ms since the epoch), child of the caller's span when it sent a valid trace context. */
  startRequest (name: string, attributes: SpanAttributes, parent: TraceContext | undefined, startTime: number): RequestSpan
  /** Exports the spans still pending, then stops. Never throws. */
  close (): Promise<void>
}

export type SpanAttributes = Record<string, string | number | boolean>

/** The span of one request to an expose. */
export interface RequestSpan {
  /** once the request says what it is (an MCP message's method and tool) */
  rename (name: string, attributes: SpanAttributes): void
  /** An upstream call of this request: a CLIENT span, child of this one; `url` = origin + path with its query. */
  startCall (method: string, origin: string, path: string): CallSpan
  /** the request failed (a gateway error, an MCP tool error): status ERROR with `error.type` */
  fail (errorType: string): void
  /** ends the span; a 5xx status marks it ERROR. Only the first call counts. */
  end (status: number | undefined): void
}

export interface CallSpan {
  /** `traceparent` naming this span (and the caller's `tracestate`), for the upstream request */
  readonly headers: Record<string, string>
  /** at the response headers (`status`) or the failure (`errorType`): 4xx, 5xx and failures mark it ERROR */
  end (status: number | undefined, errorType?: string): void
}

/** Where spans go and how they are sampled, from the environment and the capability. */
export interface TracingConfig {
  /** the OTLP/HTTP traces URL (`.../v1/traces`) */
  readonly endpoint: string
  /** sent with every export (`OTEL_EXPORTER_OTLP_HEADERS`): may hold a collector's key, never logged */
  readonly headers: Readonly<Record<string, string>>
  readonly serviceName: string
  /** the resource's `naftiko.capability`: the capability's label, else its file */
  readonly capability: string
  /** share of new traces sampled; a caller's sampled flag decides for the trace it continues */
  readonly sampling: number
  /** ms between two exports (`OTEL_BSP_SCHEDULE_DELAY`); the SDK's 5 s when undefined */
  readonly scheduleDelay: number | undefined
  /** ms an export, retries included, may take (`OTEL_EXPORTER_OTLP_TIMEOUT`): also the longest a stopping gateway waits for the collector */
  readonly exportTimeout: number
}

const TRACES_PATH = '/v1/traces'
/** half the specification's 10 s: a collector that does not answer holds a stopping gateway no longer than this */
const EXPORT_TIMEOUT_MS = 5000

/**
 * Span export settings, or undefined when spans are not exported. The environment wins over the
 * capability setting by setting (it belongs to the deployment, like `NAFTIKO_BASE_URI_*` over a
 * `baseUri`), except that either side can switch export off: `OTEL_SDK_DISABLED=true` or the
 * capability's `observability.enabled: false`.
 */
export function resolveTracing (model: CapabilityModel, env: NodeJS.ProcessEnv, scope: ExpressionScope, source: SourceMap, capability: string): TracingConfig | undefined {
  const control = model.exposes.find((e): e is ControlExpose => e.type === 'control' && e.observability !== undefined)
  const declared = control?.observability
  if (/^true$/i.test(env.OTEL_SDK_DISABLED?.trim() ?? '') || declared?.enabled === false) return undefined
  const fromEnv = nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) ?? withTracesPath(nonEmpty(env.OTEL_EXPORTER_OTLP_ENDPOINT))
  const declaredEndpoint = declared?.endpoint === undefined ? undefined : resolveStaticText(declared.endpoint, scope)
  const endpoint = fromEnv ?? withTracesPath(nonEmpty(declaredEndpoint))
  if (endpoint === undefined) return undefined
  if (!isHttpUrl(endpoint)) {
    const message = 'the OTLP endpoint must be an http(s) URL (spans go over OTLP/HTTP with JSON)'
    if (fromEnv !== undefined) throw new StartupError('capability_invalid', `${message}; OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT holds something else`)
    const { line, col } = source.locate([...(declared as NonNullable<typeof declared>).at, 'exporters', 'otlp', 'endpoint'])
    throw new StartupError('capability_invalid', undefined, [{ severity: 'error', file: source.file, line, col, message }])
  }
  return {
    endpoint,
    headers: otlpHeaders(nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS) ?? nonEmpty(env.OTEL_EXPORTER_OTLP_HEADERS)),
    serviceName: nonEmpty(env.OTEL_SERVICE_NAME) ?? 'naftiko',
    capability,
    sampling: samplingOf(env) ?? declared?.sampling ?? 1,
    scheduleDelay: wholeNumber(env.OTEL_BSP_SCHEDULE_DELAY),
    exportTimeout: wholeNumber(env.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT) ?? wholeNumber(env.OTEL_EXPORTER_OTLP_TIMEOUT) ?? EXPORT_TIMEOUT_MS,
  }
}

/** Loads the OpenTelemetry SDK (about 100 ms, paid only where spans are exported) and starts this runtime's tracer. */
export async function startTracing (config: TracingConfig, redactor: Redactor, logger: Logger, version: string): Promise<Tracing> {
  const { startOtelTracing } = await import('./otel-tracing.js')
  return startOtelTracing(config, redactor, logger, version)
}

/** `OTEL_EXPORTER_OTLP_ENDPOINT` and the capability's endpoint are a base: the signal's path is added (the OTLP exporter specification). */
function withTracesPath (base: string | undefined): string | undefined {
  if (base === undefined) return undefined
  const trimmed = base.replace(/\/+$/, '')
  return trimmed.endsWith(TRACES_PATH) ? trimmed : trimmed + TRACES_PATH
}

/** `OTEL_TRACES_SAMPLER` (and `_ARG`) as a ratio for new traces; a caller's sampled flag always decides for its own trace. */
function samplingOf (env: NodeJS.ProcessEnv): number | undefined {
  const sampler = nonEmpty(env.OTEL_TRACES_SAMPLER)?.trim().toLowerCase()
  if (sampler === undefined) return undefined
  if (sampler === 'always_on' || sampler === 'parentbased_always_on') return 1
  if (sampler === 'always_off' || sampler === 'parentbased_always_off') return 0
  if (sampler === 'traceidratio' || sampler === 'parentbased_traceidratio') {
    const ratio = Number(env.OTEL_TRACES_SAMPLER_ARG ?? '1')
    return Number.isFinite(ratio) && ratio >= 0 && ratio <= 1 ? ratio : 1
  }
  return undefined
}

/** `key1=value1,key2=value2`, values percent-encoded (the OTLP exporter specification). */
function otlpHeaders (raw: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const pair of raw?.split(',') ?? []) {
    const eq = pair.indexOf('=')
    if (eq <= 0) continue
    const name = pair.slice(0, eq).trim().toLowerCase()
    try {
      headers[name] = decodeURIComponent(pair.slice(eq + 1).trim())
    } catch {
      headers[name] = pair.slice(eq + 1).trim()
    }
  }
  return headers
}

function isHttpUrl (raw: string): boolean {
  try {
    const url = new URL(raw)
    return url.protocol === 'http:' || url.protocol === 'https:'
  } catch {
    return false
  }
}

function wholeNumber (raw: string | undefined): number | undefined {
  return raw !== undefined && /^\d+$/.test(raw.trim()) ? Number(raw) : undefined
}

function nonEmpty (v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v.trim()
}
