import { request } from 'node:http'

/**
 * A GET whose path goes on the wire exactly as written: fetch and undici parse it as a WHATWG URL
 * first, which resolves `.` and `..` segments (and their encodings) before sending.
 */
export function rawGet (url: string, headers: Record<string, string> = {}): Promise<{ status: number, text: string }> {
  const { port, hostname } = new URL(url)
  const path = url.slice(url.indexOf('/', url.indexOf('//') + 2))
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, headers }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { text += c })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
    })
    req.on('error', reject)
    req.end()
  })
}
