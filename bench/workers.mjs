// `--workers N` against one process on the REST route: req/s and CPU per request (all of the
// gateway's processes), median of rounds. Usage: node bench/workers.mjs [--workers N] [--rounds N]
// [--seconds S] [--connections C] [--log-level LEVEL]
import { parseArgs } from 'node:util'
import { measureWorkers } from './lib/workers.mjs'
import { killAll } from './lib/processes.mjs'

const { values: flags } = parseArgs({ options: { workers: { type: 'string' }, rounds: { type: 'string' }, seconds: { type: 'string' }, connections: { type: 'string' }, 'log-level': { type: 'string' } } })
try {
  const rows = await measureWorkers({
    workers: Number(flags.workers ?? 2),
    rounds: Number(flags.rounds ?? 5),
    seconds: Number(flags.seconds ?? 3),
    connections: Number(flags.connections ?? 32),
    logLevel: flags['log-level'],
  })
  const [one] = rows
  for (const row of rows) {
    console.log(`--workers ${row.workers} (${row.processes} process${row.processes === 1 ? '' : 'es'})  ${Math.round(row.rps)} req/s  ${(row.rps / one.rps).toFixed(2)}x  ${Math.round(row.cpuUsPerRequest)} µs CPU/req  ${(row.cpuUsPerRequest / one.cpuUsPerRequest).toFixed(2)}x${row.workers > 1 ? ` (primary ${Math.round(row.primaryShare * 100)}%)` : ''}  failed ${row.failed}   rounds ${row.rounds.map((r) => `${Math.round(r.rps)}/${Math.round(r.cpuUsPerRequest)}µs`).join(' ')}`)
  }
} finally {
  killAll()
}
