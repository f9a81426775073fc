import { once } from 'node:events'
import { createServer, type Server } from 'node:http'

/** Listens on a free loopback port; resolves with the server's origin. */
export async function listenOnLoopback (server: Server): Promise<string> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  return `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
}

/** Closes a server and waits until it has. */
export async function closeServer (server: Server): Promise<void> {
  server.close()
  await once(server, 'close')
}

/** A loopback port nothing listens on right now. */
export async function freePort (): Promise<number> {
  const server = createServer()
  const origin = await listenOnLoopback(server)
  await closeServer(server)
  return Number(new URL(origin).port)
}
