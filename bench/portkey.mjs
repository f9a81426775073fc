// Starts @portkey-ai/gateway (the peer) on 127.0.0.1 and a free port: its server listens on every
// interface and a fixed port by default, so listen() is narrowed before its module loads.
// Prints `listening PORT` on stdout once bound.
import net from 'node:net'

const listen = net.Server.prototype.listen
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && (args[1] === undefined || typeof args[1] === 'function')) {
    args[0] = 0
    if (args[1] === undefined) args[1] = '127.0.0.1'
    else args.splice(1, 0, '127.0.0.1')
  }
  this.once('listening', () => process.stdout.write(`\nlistening ${this.address().port}\n`))
  return listen.apply(this, args)
}
process.argv.push('--headless')
process.on('SIGTERM', () => process.exit(0))
await import('@portkey-ai/gateway/build/start-server.js')
