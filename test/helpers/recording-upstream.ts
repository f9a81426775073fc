import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One request as the upstream received it: the raw path and query, as sent on the wire. */
export interface RecordedRequest {
  method: string
  /** path without the query, as received (still percent-encoded) */
  path: string
  /** the raw query string, without `?` ('' when none) */
  query: string
  headers: IncomingHttpHeaders
  body: string
}

export interface RecordingUpstream {
  /** `http://127.0.0.1:PORT` */
  origin: string
  requests: RecordedRequest[]
  close (): Promise<void>
}

/**
 * An upstream on 127.0.0.1 that records every request (method, raw path and query, headers, body)
 * and answers 200 with a small JSON object, whatever was asked.
 */
export async function startRecordingUpstream (): Promise<RecordingUpstream> {
  const requests: RecordedRequest[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const url = req.url ?? '/'
      const q = url.indexOf('?')
      requests.push({
        method: req.method ?? '',
        path: q === -1 ? url : url.slice(0, q),
        query: q === -1 ? '' : url.slice(q + 1),
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      })
      const body = JSON.stringify({ recorded: requests.length })
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
      res.end(body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}
