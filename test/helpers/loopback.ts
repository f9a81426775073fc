import { once } from 'node:events'
import { readFileSync } from 'node:fs'
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

/**
 * A loopback port that refuses connections and stays that way while the tests run: one below the
 * kernel's ephemeral range, which `listen(0)` (every other server of the suite, in any worker) never
 * hands out. A port merely freed a moment ago can be taken again by another test's server, and a
 * request meant to find nothing there reaches it instead.
 */
export async function refusedPort (): Promise<number> {
  const low = ephemeralLow()
  for (;;) {
    const port = 10_000 + Math.floor(Math.random() * (low - 10_000))
    const server = createServer()
    const free = await new Promise<boolean>((resolve) => {
      server.once('error', () => { resolve(false) })
      server.listen(port, '127.0.0.1', () => { resolve(true) })
    })
    if (free) {
      await closeServer(server)
      return port
    }
  }
}

/** The first port of the kernel's ephemeral range (Linux; 32768 where it cannot be read). */
function ephemeralLow (): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0])
    return Number.isInteger(low) && low > 11_000 ? low : 32_768
  } catch {
    return 32_768
  }
}
