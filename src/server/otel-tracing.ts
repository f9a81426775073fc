import { createTraceState, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type Tracer } from '@opentelemetry/api'
import { ExportResultCode } from '@opentelemetry/core'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, type SpanExporter } from '@opentelemetry/sdk-trace-base'
import type { Redactor } from '../bindings/redact.js'
import type { TraceContext } from '../expressions/trace-context.js'
import type { Logger } from './logger.js'
import type { CallSpan, RequestSpan, SpanAttributes, Tracing, TracingConfig } from './tracing.js'

/**
 * This runtime's tracer: its own provider (no global one is registered, so runtimes sharing a process
 * and any OpenTelemetry setup of an embedding program stay apart), a batch processor, and the OTLP/HTTP
 * exporter, which sends JSON. Loaded only through `startTracing`.
 */
export function startOtelTracing (config: TracingConfig, redactor: Redactor, logger: Logger, version: string): Tracing {
  const exporter = reportingFailures(new OTLPTraceExporter({ url: config.endpoint, headers: { ...config.headers }, timeoutMillis: config.exportTimeout }), logger)
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': config.serviceName, 'service.version': version, 'naftiko.capability': config.capability }),
    // a caller's sampled flag decides for the trace it continues; the ratio, for traces the gateway starts
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sampling) }),
    spanProcessors: [new BatchSpanProcessor(exporter, config.scheduleDelay === undefined ? {} : { scheduledDelayMillis: config.scheduleDelay })],
  })
  const tracer = provider.getTracer('naftiko', version)
  return {
    startRequest (name, attributes, parent, startTime) {
      const span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes, startTime }, parentContext(parent))
      return new OtelRequestSpan(tracer, span, parent?.tracestate, redactor)
    },
    async close () {
      // the exporter gives up after its timeout (retries included); this bound is the safety net
      const bound = config.exportTimeout + 1000
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), bound).unref() })
      try {
        if (await Promise.race([provider.shutdown(), late]) === 'late') logger.warn({ ms: bound }, 'the last spans were not exported in time at shutdown')
      } catch (err) {
        logger.warn({ reason: (err as Error | undefined)?.name }, 'spans could not be exported at shutdown')
      } finally {
        clearTimeout(timer)
      }
    },
  }
}

/** The caller's span as the remote parent of the gateway's. */
function parentContext (parent: TraceContext | undefined): Context {
  if (parent === undefined) return ROOT_CONTEXT
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: parent.traceId,
    spanId: parent.parentId,
    traceFlags: Number.parseInt(parent.flags, 16) & 1,
    isRemote: true,
    ...(parent.tracestate === undefined ? {} : { traceState: createTraceState(parent.tracestate) }),
  })
}

class OtelRequestSpan implements RequestSpan {
  private failed = false
  private ended = false

  constructor (private readonly tracer: Tracer, private readonly span: Span, private readonly tracestate: string | undefined, private readonly redactor: Redactor) {}

  rename (name: string, attributes: SpanAttributes): void {
    this.span.updateName(name)
    this.span.setAttributes(attributes)
  }

  startCall (method: string, origin: string, path: string): CallSpan {
    const url = new URL(origin)
    const span = this.tracer.startSpan(method, {
      kind: SpanKind.CLIENT,
      attributes: {
        'http.request.method': method,
        'url.full': this.redactor.redact(origin + withoutQueryValues(path)),
        'server.address': url.hostname,
        'server.port': url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port),
      },
    }, trace.setSpan(ROOT_CONTEXT, this.span))
    const context = span.spanContext()
    const headers: Record<string, string> = { traceparent: `00-${context.traceId}-${context.spanId}-0${context.traceFlags & 1}` }
    if (this.tracestate !== undefined) headers.tracestate = this.tracestate
    return {
      headers,
      end (status, errorType) {
        if (status !== undefined) span.setAttribute('http.response.status_code', status)
        const error = errorType ?? (status !== undefined && status >= 400 ? String(status) : undefined)
        if (error !== undefined) {
          span.setAttribute('error.type', error)
          span.setStatus({ code: SpanStatusCode.ERROR })
        }
        span.end()
      },
    }
  }

  fail (errorType: string): void {
    this.failed = true
    this.span.setAttribute('error.type', errorType)
    this.span.setStatus({ code: SpanStatusCode.ERROR })
  }

  end (status: number | undefined): void {
    if (this.ended) return
    this.ended = true
    if (status !== undefined) {
      this.span.setAttribute('http.response.status_code', status)
      if (status >= 500 && !this.failed) this.fail(String(status))
    }
    this.span.end()
  }
}

/**
 * A query's values may be credentials (an API key the namespace sends in the query) or a caller's
 * data: `url.full` keeps the parameter names only. Bound values anywhere else in the URL (a path
 * segment) are scrubbed by the redactor.
 */
function withoutQueryValues (path: string): string {
  const mark = path.indexOf('?')
  if (mark === -1) return path
  return path.slice(0, mark + 1) + path.slice(mark + 1).split('&').map((pair) => {
    const eq = pair.indexOf('=')
    return eq === -1 ? pair : `${pair.slice(0, eq)}=REDACTED`
  }).join('&')
}

/** The exporter, with a log line when exports start failing (once, until they succeed again). The
 * collector's answer is not logged: it could echo the export headers. */
function reportingFailures (exporter: OTLPTraceExporter, logger: Logger): SpanExporter {
  let failing = false
  return {
    export (spans, done) {
      exporter.export(spans, (result) => {
        const failed = result.code !== ExportResultCode.SUCCESS
        if (failed && !failing) logger.warn({ spans: spans.length, reason: result.error?.name, status: (result.error as { code?: unknown } | undefined)?.code }, 'spans could not be exported')
        else if (!failed && failing) logger.info('spans are exported again')
        failing = failed
        done(result)
      })
    },
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush(),
  }
}
