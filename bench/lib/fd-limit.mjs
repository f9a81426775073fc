// The open-file limit of the processes in the many-streams row. Node cannot call setrlimit (it
// raises its soft limit to the hard one at startup, no further), so the processes that hold
// thousands of sockets run under `prlimit --nofile=N:N`, which sets the limit and execs the command
// in the same process. Raising the hard limit needs CAP_SYS_RESOURCE; without it (a container) the
// processes keep the hard limit they inherit, and the row opens as many streams as that allows.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

/** descriptors a serving process holds besides its sockets (listeners, epoll, pipes, log files) */
const RESERVE = 100

/**
 * `wrap`: the command prefix that gives a process `want` open files (empty when it cannot be
 * raised); `limit`: the limit the processes will have; `note`: why it is lower than `want`.
 */
export function openFileLimit (want) {
  const hard = hardLimit()
  if (hard >= want) return { wrap: [], limit: hard, raised: false }
  try {
    execFileSync('prlimit', [`--nofile=${want}:${want}`, 'true'], { stdio: 'ignore' })
    return { wrap: ['prlimit', `--nofile=${want}:${want}`], limit: want, raised: true }
  } catch (err) {
    const why = err.code === 'ENOENT' ? 'prlimit (util-linux) is not installed' : 'prlimit could not raise it (no CAP_SYS_RESOURCE, as in most containers)'
    return { wrap: [], limit: hard, raised: false, note: `the open-file limit is ${hard} (\`ulimit -Hn\`) and ${why}` }
  }
}

/**
 * Streams a serving process can relay at once under `limit`: each holds two sockets, the client's
 * and the one to the upstream.
 */
export function streamsWithin (limit, wanted) {
  return Math.max(1, Math.min(wanted, Math.floor((limit - RESERVE) / 2)))
}

function hardLimit () {
  try {
    const m = /^Max open files\s+\S+\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))
    return m === null || m[1] === 'unlimited' ? Infinity : Number(m[1])
  } catch {
    return 1024
  }
}
