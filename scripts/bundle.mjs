#!/usr/bin/env node
// Build step: bundles src/cli.ts into dist/ with esbuild, so that `naftiko run` reads a few files
// instead of resolving and compiling hundreds of modules at startup. ESM, code splitting: what the
// sources load lazily with `import()` (the MCP SDK, prom-client, OpenTelemetry, jose, the format
// converters, the workers...) stays in chunks of its own, loaded when first needed.
// Usage: node scripts/bundle.mjs [--outdir DIR] [--minify] [--external-packages]  (the last: bundle only
// the project's code, its dependencies left to node_modules; the two options are there to compare)
import path from 'node:path'
import { readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { build } from 'esbuild'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const SRC = path.join(ROOT, 'src')
const { values: flags } = parseArgs({ options: { 'external-packages': { type: 'boolean', default: false }, outdir: { type: 'string', default: path.join(ROOT, 'dist') }, minify: { type: 'boolean', default: false } } })
const externalPackages = flags['external-packages']

/**
 * Every output file lands directly in dist/, so a module's `import.meta.url` is rewritten to the URL
 * its unbundled build had (dist/capability/validate-schema.js...): paths it resolves against it
 * (../package.json, ../../schemas/, ./project-schema.generated.js, createRequire) stay valid.
 */
const unbundledMetaUrl = {
  name: 'unbundled-import-meta-url',
  setup (b) {
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8')
      if (!source.includes('import.meta.url') || !args.path.startsWith(SRC + path.sep)) return undefined
      const relative = path.relative(SRC, args.path).split(path.sep).join('/').replace(/\.ts$/, '.js')
      return { contents: source.replaceAll('import.meta.url', `new URL(${JSON.stringify(`./${relative}`)}, import.meta.url).href`), loader: 'ts' }
    })
  },
}

/**
 * A package imported with `import()` that is CommonJS stays external: node loads it from
 * node_modules as it would unbundled, so the namespace has its named exports (`(await
 * import('prom-client')).Registry`); in a split bundle it would have `default` only. Those packages
 * are loaded lazily, so bundling them would not shorten the start anyway.
 */
const lazyCommonJs = {
  name: 'lazy-commonjs-external',
  setup (b) {
    b.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (args.kind !== 'dynamic-import' || args.pluginData === 'resolving') return undefined
      const resolved = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: 'resolving' })
      if (resolved.errors.length > 0 || resolved.external) return undefined
      return (await isCommonJs(resolved.path)) ? { path: args.path, external: true } : undefined
    })
  },
}

async function isCommonJs (file) {
  if (file.endsWith('.cjs')) return true
  if (file.endsWith('.mjs')) return false
  for (let dir = path.dirname(file); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const manifest = await readFile(path.join(dir, 'package.json'), 'utf8').catch(() => undefined)
    if (manifest !== undefined) return JSON.parse(manifest).type !== 'module'
  }
  return true
}

await build({
  entryPoints: { main: path.join(SRC, 'cli.ts') },
  outdir: flags.outdir,
  minifyWhitespace: flags.minify,
  minifySyntax: flags.minify,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: '[name]-[hash]',
  packages: externalPackages ? 'external' : undefined,
  // required by name at run time, by fastify when a route declares a schema and by the REST exposer
  // (createRequire): one copy, from node_modules, instead of a bundled one parsed at every start;
  // light-my-request only by fastify's inject(), which the gateway never calls (86 KB not parsed at start)
  external: ['@fastify/ajv-compiler', '@fastify/fast-json-stringify-compiler', 'light-my-request'],
  // bundled CommonJS dependencies require node's built-ins
  banner: { js: "import { createRequire as __naftikoCreateRequire } from 'node:module'; const require = __naftikoCreateRequire(import.meta.url);" },
  plugins: [unbundledMetaUrl, lazyCommonJs],
  logLevel: 'warning',
})

// dist/cli.js, the package's bin: on Node 22.1+ the code node compiles is cached on disk between
// starts (module.enableCompileCache: in the OS's temporary directory, NODE_COMPILE_CACHE=DIR moves it,
// NODE_DISABLE_COMPILE_CACHE=1 turns it off; Node 20 has no such cache), then the bundle runs
await writeFile(path.join(flags.outdir, 'cli.js'), `#!/usr/bin/env node
// naftiko's command line: the bundle is main.js and the chunks beside it (scripts/bundle.mjs)
import module from 'node:module'
module.enableCompileCache?.()
await import('./main.js')
`, { mode: 0o755 })
