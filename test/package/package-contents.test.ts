import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { beforeAll, describe, expect, it } from 'vitest'

/**
 * What `npm publish` would upload, read from `npm pack --dry-run --json`. Scripts are skipped: the
 * `prepare` build would delete dist/ under the suites running beside this one (npm test built it).
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const EXAMPLES = ['capabilities/chat-completions.yaml', 'capabilities/openai.yaml', 'capabilities/public-holidays.yaml']

interface PackResult { name: string, version: string, filename: string, files: Array<{ path: string, mode: number }> }
interface PackageJson { name: string, version: string, license: string, bin: { naftiko: string }, engines: { node: string } }

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageJson
let files: string[]

beforeAll(async () => {
  const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, env: { ...process.env, npm_config_loglevel: 'error' } })
  const [pack] = JSON.parse(stdout) as PackResult[]
  files = (pack?.files ?? []).map((f) => f.path).sort()
}, 60_000)

describe('the npm package', () => {
  it('holds the build, the schema, the example capabilities, README, LICENSE and package.json, and nothing else', () => {
    const outside = files.filter((f) => !(f.startsWith('dist/') && /\.c?js$/.test(f)))
    expect(outside.sort()).toEqual(['LICENSE', 'README.md', ...EXAMPLES, 'package.json', 'schemas/capability.schema.json'].sort())
  })

  it('holds the bin, the bundle it compiles and the generated schema validator, and nothing else under dist/', () => {
    expect(files.filter((f) => f.startsWith('dist/'))).toEqual(['dist/capability/project-schema.generated.cjs', 'dist/cli.js', 'dist/naftiko.cjs'])
    // the bin names the bundle beside it and carries the bundle's digest (scripts/bundle.mjs)
    const bin = readFileSync(join(ROOT, 'dist/cli.js'), 'utf8')
    expect(bin).toContain("new URL('./naftiko.cjs', import.meta.url)")
    expect(bin).toMatch(/^const DIGEST = "[0-9a-f]{16}"$/m)
  })

  it('ships no test files, no TypeScript sources, no source maps and no demo build', () => {
    expect(files.filter((f) => /(^|\/)test\/|\.test\.|\.ts$|\.map$|^dist\/demo\/|^\.demo\//.test(f))).toEqual([])
  })

  it('carries the Apache 2.0 text its package.json names, and a runnable bin', () => {
    expect(pkg.license).toBe('Apache-2.0')
    const license = readFileSync(join(ROOT, 'LICENSE'), 'utf8')
    expect(license).toMatch(/^\s*Apache License\s+Version 2\.0, January 2004\s+http:\/\/www\.apache\.org\/licenses\/\s/)
    expect(license).toContain('TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION')
    expect(license).toContain('END OF TERMS AND CONDITIONS')
    expect(pkg.bin.naftiko).toBe('dist/cli.js')
    expect(files).toContain(pkg.bin.naftiko)
    expect(readFileSync(join(ROOT, pkg.bin.naftiko), 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/)
    expect(pkg.engines.node).toBe('>=20.18')
  })

  it('is the schema the README\'s editor support names, in a clone and at the published version', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    const section = readme.slice(readme.indexOf('\n## Editor support\n'), readme.indexOf('\n## ', readme.indexOf('\n## Editor support\n') + 1))
    const schemas = [...section.matchAll(/^# yaml-language-server: \$schema=(\S+)$/gm)].map((m) => m[1])
    expect(schemas).toEqual(['../schemas/capability.schema.json', `https://unpkg.com/${pkg.name}@${pkg.version}/schemas/capability.schema.json`])
    expect(files).toContain('schemas/capability.schema.json')
  })
})
