#!/usr/bin/env node
// Build step: bundles src/cli.ts into dist/ with esbuild, so that `naftiko run` reads a few files
// instead of resolving and compiling hundreds of modules at startup. ESM, code splitting: what the
// sources load lazily with `import()` (the MCP SDK, prom-client, OpenTelemetry, jose, the format
// converters, the workers...) stays in chunks of its own, loaded when first needed.
// Usage: node scripts/bundle.mjs [--external-packages]  (the latter bundles only the project's code)
import path from 'node:path'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const SRC = path.join(ROOT, 'src')
const externalPackages = process.argv.includes('--external-packages')

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

await build({
  entryPoints: [path.join(SRC, 'cli.ts')],
  outdir: path.join(ROOT, 'dist'),
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: '[name]-[hash]',
  packages: externalPackages ? 'external' : undefined,
  // bundled CommonJS dependencies require node's built-ins
  banner: { js: "import { createRequire as __naftikoCreateRequire } from 'node:module'; const require = __naftikoCreateRequire(import.meta.url);" },
  plugins: [unbundledMetaUrl],
  logLevel: 'warning',
})
