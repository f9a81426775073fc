// The least a Node relay on node:http and undici can do, for reference beside the minimal proxy: the
// request body read whole, one `dispatch()` with a bare handler (no Readable, no promise), the
// upstream's chunks written straight to the response; no checks, no log, fixed request headers.
// Not a gateway: it shows how much of a relay's CPU is node's and undici's own.
// Usage: node bench/floor-proxy.mjs UPSTREAM_ORIGIN; prints `listening PORT` on stdout.
import http from 'node:http'
import { Pool } from 'undici'

const pool = new Pool(process.argv[2], { keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0 })
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding'])

http.createServer((req, res) => {
  const parts = []
  req.on('data', (d) => parts.push(d)).on('end', () => {
    const body = parts.length === 1 ? parts[0] : Buffer.concat(parts)
    pool.dispatch({ path: req.url, method: req.method, headers: { 'content-type': 'application/json' }, body }, {
      onConnect () {},
      onError () { if (!res.headersSent) res.writeHead(502); res.end() },
      onHeaders (status, raw) {
        const headers = []
        for (let i = 0; i < raw.length; i += 2) {
          const name = raw[i].toString('latin1').toLowerCase()
          if (!HOP.has(name)) headers.push(name, raw[i + 1].toString('latin1'))
        }
        res.writeHead(status, headers)
        return true
      },
      onData (chunk) { return res.write(chunk) },
      onComplete () { res.end() },
    })
  })
}).listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, function () { process.stdout.write(`listening ${this.address().port}\n`) })
process.on('SIGTERM', () => process.exit(0))
