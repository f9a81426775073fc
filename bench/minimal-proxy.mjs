// The practical floor for a Node gateway: node:http in, one undici Pool out; the request body is
// read whole (as any gateway that checks it must), the response body is piped back as it comes.
// Usage: node bench/minimal-proxy.mjs UPSTREAM_ORIGIN; prints `listening PORT` on stdout.
import http from 'node:http'
import { pipeline } from 'node:stream'
import { Pool } from 'undici'

const pool = new Pool(process.argv[2], { keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0 })
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host', 'upgrade', 'proxy-connection', 'te', 'trailer'])
const strip = (headers) => { const out = {}; for (const k in headers) if (!HOP.has(k)) out[k] = headers[k]; return out }

http.createServer((req, res) => {
  const parts = []
  req.on('data', (d) => parts.push(d)).on('end', () => {
    pool.request({ path: req.url, method: req.method, headers: strip(req.headers), body: Buffer.concat(parts) }).then(({ statusCode, headers, body }) => {
      res.writeHead(statusCode, strip(headers))
      pipeline(body, res, () => {})
    }, () => res.writeHead(502).end())
  })
  // the gateway's default listen backlog, so that both queue as many connections opened at once
}).listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, function () { process.stdout.write(`listening ${this.address().port}\n`) })
process.on('SIGTERM', () => process.exit(0))
