// nginx as the C reference: Debian's /usr/sbin/nginx on loopback as a reverse proxy to the same
// upstream, one worker, its config, pid, temp files and logs in a directory of the bench's own.
// Like the minimal proxy it reads the whole request body (in memory, up to 16 MiB) before it sends
// it on, keeps connections to the upstream alive, and writes no access log. CPU per request is
// the master's and the worker's together.
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { cleanEnv, childPidsOf, countOwnTicks, startProcess, ticksOf } from './processes.mjs'

export const NGINX = '/usr/sbin/nginx'

/** nginx's version, or undefined when it is not installed */
export function nginxVersion () {
  if (!existsSync(NGINX)) return undefined
  // nginx -v prints on stderr
  const { stdout, stderr } = spawnSync(NGINX, ['-v'], { encoding: 'utf8' })
  return /nginx\/(\S+)/.exec(`${stdout} ${stderr}`)?.[1] ?? 'unknown version'
}

const config = ({ dir, port, upstreamOrigin }) => `
worker_processes 1;
daemon off;
master_process on;
pid ${dir}/nginx.pid;
error_log stderr warn;
events {
  worker_connections 8192;
}
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  client_max_body_size 64m;
  client_body_buffer_size 16m;
  keepalive_requests 1000000;
  upstream bench_upstream {
    server ${new URL(upstreamOrigin).host};
    keepalive 256;
  }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass ${new URL(upstreamOrigin).protocol}//bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 600s;
    }
  }
}
`

/**
 * Starts nginx in a directory of its own and resolves { pid, pids(), ticks(), url, version, stop }
 * once it accepts connections, or { absent } with the reason when nginx is not installed.
 */
export async function startNginx (upstreamOrigin, { name = 'nginx' } = {}) {
  const version = nginxVersion()
  if (version === undefined) return { absent: `${NGINX} is not installed` }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'naftiko-bench-nginx-'))
  // a worker started by root runs as nobody and must reach its temp directories
  chmodSync(dir, 0o755)
  const port = await freePort()
  const file = path.join(dir, 'nginx.conf')
  writeFileSync(file, config({ dir, port, upstreamOrigin }))
  const proc = await startProcess([...orphanGuard(), NGINX, '-p', dir, '-c', file, '-e', 'stderr'], {
    name,
    env: cleanEnv(),
    logFile: path.join(dir, 'nginx.log'),
    killSignal: 'SIGTERM',
    probe: () => accepts(port),
  }).catch((err) => {
    rmSync(dir, { recursive: true, force: true })
    throw err
  })
  const pids = () => [proc.pid, ...childPidsOf(proc.pid)]
  return {
    ...proc,
    stop: async (graceMs) => {
      // the worker's CPU time is the bench's own, like the master's (which stop() counts)
      countOwnTicks(childPidsOf(proc.pid).reduce((total, pid) => total + ticksOf(pid), 0))
      await proc.stop(graceMs)
      rmSync(dir, { recursive: true, force: true })
    },
    version,
    url: `http://127.0.0.1:${port}/v1/chat/completions`,
    pids,
    ticks: () => pids().reduce((total, pid) => total + ticksOf(pid), 0),
  }
}

/**
 * The bench stops nginx with SIGTERM (its master then stops the worker); should the bench die
 * without that, util-linux's setpriv has the kernel send it to the master, as node's watchdog does
 * for the node processes.
 */
function orphanGuard () {
  const { status } = spawnSync('setpriv', ['--pdeathsig', 'TERM', 'true'], { stdio: 'ignore' })
  return status === 0 ? ['setpriv', '--pdeathsig', 'TERM'] : []
}

function freePort () {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

function accepts (port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(undefined))
  })
}
