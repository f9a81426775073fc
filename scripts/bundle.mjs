#!/usr/bin/env node
// Build step: bundles src/cli.ts and its dependencies with esbuild into one CommonJS file,
// dist/naftiko.cjs, and writes dist/cli.js, the bin, from scripts/cli-loader.js. The loader compiles
// the bundle with V8's code cache (compiled code kept on disk between starts), which node offers for
// scripts on every version, and for ES modules on none before 22.1. What the sources import lazily
// with `import()` (the workers, the format converters, jose...) is in the one file too, wrapped so
// that it runs only when first imported; with the code cache, what never runs is never compiled
// either. The large packages only lazy parts use, and that ship a CommonJS build (the MCP SDK,
// OpenTelemetry, ajv, prom-client, some converters' parsers), are not bundled: required from
// node_modules when first needed, they are neither read nor kept in memory by a start that does not.
// Usage: node scripts/bundle.mjs [--outdir DIR] [--minify]
import path from 'node:path'
import { createHash } from 'node:crypto'
import { builtinModules } from 'node:module'
import { readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { build } from 'esbuild'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const SRC = path.join(ROOT, 'src')
const { values: flags } = parseArgs({ options: { outdir: { type: 'string', default: path.join(ROOT, 'dist') }, minify: { type: 'boolean', default: false } } })
const BUNDLE = 'naftiko.cjs'

/**
 * Every module of the bundle runs from dist/naftiko.cjs, so a module's `import.meta.url` is rewritten
 * to the URL its unbundled build had (dist/capability/validate-schema.js...): paths it resolves against
 * it (../package.json, ../../schemas/, ./project-schema.generated.cjs, createRequire) stay valid.
 */
const unbundledMetaUrl = {
  name: 'unbundled-import-meta-url',
  setup (b) {
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8')
      if (!source.includes('import.meta.url') || !args.path.startsWith(SRC + path.sep)) return undefined
      const relative = path.relative(SRC, args.path).split(path.sep).join('/').replace(/\.ts$/, '.js')
      return { contents: source.replaceAll('import.meta.url', `new URL(${JSON.stringify(`./${relative}`)}, __naftikoBundleUrl).href`), loader: 'ts' }
    })
  },
}

/**
 * `import('http')` in a bundled package becomes a require of the built-in: a script compiled from the
 * code cache has no `import()` (node 20 offers no loader for it there), so the bundle must not need one.
 */
const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]))
const builtinImports = {
  name: 'builtin-dynamic-imports',
  setup (b) {
    b.onResolve({ filter: /.*/ }, (args) => args.kind === 'dynamic-import' && BUILTINS.has(args.path) ? { path: args.path, namespace: 'builtin' } : undefined)
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)})`, loader: 'js' }))
  },
}

/**
 * Packages that only lazily loaded parts of the gateway use, each with a CommonJS build: required
 * from node_modules when first needed instead of bundled. V8 keeps a script's whole source in memory
 * for as long as it runs: bundled, these made 3 MB of the 5 MB file and about 5 MB of idle RSS.
 * (ES-module-only packages, jose and the markdown parser's, stay bundled: node 20 cannot require them.)
 */
const LAZY_PACKAGES = ['@modelcontextprotocol/server', '@modelcontextprotocol/node', '@opentelemetry/*', 'ajv', 'avsc', 'csv-parse', 'fast-xml-parser', 'node-html-parser', 'prom-client', 'protobufjs']
const isLazyPackage = (specifier) => LAZY_PACKAGES.some((p) => p.endsWith('/*') ? specifier.startsWith(p.slice(0, -1)) : specifier === p || specifier.startsWith(`${p}/`))
/** `import('prom-client')` of such a package becomes a require of it when it runs. */
const lazyPackageImports = {
  name: 'lazy-package-imports',
  setup (b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => args.kind === 'dynamic-import' && isLazyPackage(args.path) ? { path: args.path, namespace: 'lazy-package' } : undefined)
    b.onLoad({ filter: /.*/, namespace: 'lazy-package' }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)})`, loader: 'js' }))
  },
}

const result = await build({
  entryPoints: { naftiko: path.join(SRC, 'cli.ts') },
  outdir: flags.outdir,
  outExtension: { '.js': '.cjs' },
  minifyWhitespace: flags.minify,
  minifySyntax: flags.minify,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  charset: 'ascii',
  // required by name at run time, by fastify when a route declares a schema: one copy, from
  // node_modules, instead of a bundled one; light-my-request only by fastify's inject(), which the
  // gateway never calls
  external: ['@fastify/ajv-compiler', '@fastify/fast-json-stringify-compiler', 'light-my-request', ...LAZY_PACKAGES],
  banner: { js: "const __naftikoBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  plugins: [unbundledMetaUrl, builtinImports, lazyPackageImports],
  metafile: true,
  logLevel: 'warning',
})

const output = result.metafile.outputs[path.relative(process.cwd(), path.join(flags.outdir, BUNDLE))]
const dynamic = (output?.imports ?? []).filter((i) => i.kind === 'dynamic-import').map((i) => i.path)
if (output === undefined || dynamic.length > 0) throw new Error(`the bundle must not import() at run time: ${dynamic.join(', ') || 'no output'}`)

// The file holds the module wrapped as node wraps CommonJS, so that the loader compiles it as it is
// (no second copy of the source made by wrapping it at start), and ASCII only, so that V8 keeps its source at one
// byte a character: esbuild writes code in ASCII, the few other characters left are in comments, and an
// escape means the same character in code as well. Strict, as the sources are (ES modules) and as
// their split ESM build ran.
const code = await readFile(path.join(flags.outdir, BUNDLE), 'utf8')
const bundle = Buffer.from(`(function (exports, require, module, __filename, __dirname) {"use strict";${code.replace(/[^\0-\x7f]/gu, escapeCharacter)}\n})`, 'latin1')
await writeFile(path.join(flags.outdir, BUNDLE), bundle)

// the bin: the loader, with the bundle's digest, which names its code cache file
const digest = createHash('sha256').update(bundle).digest('hex').slice(0, 16)
const loader = await readFile(path.join(ROOT, 'scripts/cli-loader.js'), 'utf8')
await writeFile(path.join(flags.outdir, 'cli.js'), loader.replace("'BUNDLE_DIGEST'", JSON.stringify(digest)), { mode: 0o755 })

function escapeCharacter (c) {
  const point = c.codePointAt(0)
  return point > 0xffff ? `\\u{${point.toString(16)}}` : `\\u${point.toString(16).padStart(4, '0')}`
}
