// Summarises V8 .cpuprofile files (node --cpu-prof): top functions by self time, and the same
// grouped by package (node_modules/<pkg>, node: internals, the gateway's own dist/ files; a function
// of a dependency bundled into dist/ is counted under its package, read from the bundle's
// `// node_modules/<pkg>/...` module comments).
// Usage: node bench/profile-summary.mjs FILE_OR_DIR [--top N]
import { readFileSync, readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '30' } } })
/** Per bundle file, the lines where each bundled module starts and its package (undefined: ours). */
const bundleModules = new Map()
const files = positionals.flatMap((p) => statSync(p).isDirectory() ? readdirSync(p).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(p, f)) : [p])
for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8'))
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map()
  const dt = profile.timeDeltas
  for (let i = 0; i < profile.samples.length; i++) self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + (dt[i] ?? 0))
  const total = [...self.values()].reduce((a, b) => a + b, 0)
  const fns = new Map()
  const pkgs = new Map()
  for (const [id, us] of self) {
    const { callFrame: f } = byId.get(id)
    const where = place(f.url, f.lineNumber)
    const key = `${f.functionName || '(anonymous)'}  ${where}${f.url ? `:${f.lineNumber + 1}` : ''}`
    fns.set(key, (fns.get(key) ?? 0) + us)
    const group = f.url ? where.split(' ')[0] : f.functionName
    pkgs.set(group, (pkgs.get(group) ?? 0) + us)
  }
  const show = (map, n) => [...map].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, us]) => `${(us / total * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`).join('\n')
  const busy = total - (pkgs.get('(idle)') ?? 0)
  console.log(`# ${file}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(2)} s busy\n\n## self time by function\n${show(fns, Number(values.top))}\n\n## self time by package\n${show(pkgs, 25)}\n`)
}

function place (url, line) {
  if (!url) return ''
  if (url.startsWith('node:internal/deps/')) return 'node:internal/deps/' + url.slice(19).split('/')[0]
  if (url.startsWith('node:')) return url.split('/').slice(0, 3).join('/').replace(/\.js$/, '')
  const nm = url.lastIndexOf('node_modules/')
  if (nm !== -1) {
    const rest = url.slice(nm + 13).split('/')
    const pkg = rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]
    return `${pkg} ${rest.slice(rest[0].startsWith('@') ? 2 : 1).join('/')}`
  }
  const dist = url.indexOf('/dist/')
  if (dist === -1) return url
  const bundled = bundledPackageAt(url, line)
  return `${bundled ?? 'naftiko'} dist/${url.slice(dist + 6)}`
}

function bundledPackageAt (url, line) {
  if (!bundleModules.has(url)) {
    const starts = []
    try {
      readFileSync(new URL(url), 'utf8').split('\n').forEach((text, i) => {
        const m = /^\/\/ (\S+)$/.exec(text)
        if (m === null || !/\.[cm]?[jt]s$/.test(m[1])) return
        const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(m[1])?.[1]
        starts.push([i, pkg])
      })
    } catch {}
    bundleModules.set(url, starts)
  }
  let pkg
  for (const [start, p] of bundleModules.get(url)) {
    if (start > line) break
    pkg = p
  }
  return pkg
}
