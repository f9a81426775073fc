import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { runCli, startCli } from '../helpers/cli.js'
import { CHAT_CAPABILITY } from '../helpers/gateway.js'

/**
 * dist/cli.js compiles the bundle with V8's code cache (scripts/cli-loader.js): written once per
 * bundle, node and kind of command, read by the next start, rewritten when V8 rejects it, and never in
 * the way of the command itself.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
const DIGEST = /^const DIGEST = "([0-9a-f]{16})"$/m.exec(readFileSync(join(ROOT, 'dist/cli.js'), 'utf8'))?.[1] ?? 'missing'
const made: string[] = []

function scratch (): string {
  const dir = mkdtempSync(join(tmpdir(), 'naftiko-compile-cache-'))
  made.push(dir)
  return dir
}

const cacheName = (kind: string, bundle = join(ROOT, 'dist/naftiko.cjs')): string => `${DIGEST}-${Math.trunc(statSync(bundle).mtimeMs)}-${process.version}-${process.arch}-${kind}.bin`

afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true })
})

describe('the code cache of the bundle', () => {
  it('is written by the first start, then read as it is by the next', async () => {
    const dir = scratch()
    const first = await runCli(['--version'], { NAFTIKO_COMPILE_CACHE: dir })
    expect(first).toMatchObject({ code: 0, stdout: `${VERSION}\n`, stderr: '' })
    expect(readdirSync(dir)).toEqual([cacheName('cli')])
    const written = statSync(join(dir, cacheName('cli')))
    expect(written.size).toBeGreaterThan(10_000)

    expect(await runCli(['--version'], { NAFTIKO_COMPILE_CACHE: dir })).toMatchObject({ code: 0, stdout: `${VERSION}\n`, stderr: '' })
    // accepted: not written again (a write replaces the file, a new inode)
    expect(statSync(join(dir, cacheName('cli'))).ino).toBe(written.ino)
  })

  it('is replaced when V8 rejects it, and the command runs as without one', async () => {
    const dir = scratch()
    writeFileSync(join(dir, cacheName('cli')), 'not a code cache')
    expect(await runCli(['validate', CHAT_CAPABILITY], { NAFTIKO_COMPILE_CACHE: dir })).toMatchObject({ code: 0, stderr: '' })
    expect(readFileSync(join(dir, cacheName('cli')), 'utf8')).not.toBe('not a code cache')
  })

  it('keeps `run` apart from the short commands, written by a gateway that stops', async () => {
    const dir = scratch()
    const cli = await startCli(['run', CHAT_CAPABILITY, '--port', 'rest=0', '--port', 'mcp=0', '--log-level', 'warn'], { CHATGPT_API_KEY: 'sk-compile-cache-0123456789', NAFTIKO_COMPILE_CACHE: dir }, 2)
    cli.child.kill('SIGTERM')
    expect(await cli.exited).toBe(0)
    expect(readdirSync(dir)).toEqual([cacheName('run')])
  })

  it('is left alone by a process measured for coverage, which compiles for that', async () => {
    const dir = scratch()
    expect(await runCli(['--version'], { NAFTIKO_COMPILE_CACHE: dir, NODE_V8_COVERAGE: scratch() })).toMatchObject({ code: 0, stdout: `${VERSION}\n` })
    expect(readdirSync(dir)).toEqual([])
  })

  it('is not in the way when it cannot be written', async () => {
    const file = join(scratch(), 'a-file')
    writeFileSync(file, '')
    expect(await runCli(['--version'], { NAFTIKO_COMPILE_CACHE: join(file, 'cache') })).toMatchObject({ code: 0, stdout: `${VERSION}\n`, stderr: '' })
  })

  it('lives in dist/.compile-cache by default, where other bundles\' files are dropped, and NAFTIKO_COMPILE_CACHE=off turns it off', async () => {
    // a copy of the package: its own dist/, the same node_modules
    const root = scratch()
    mkdirSync(join(root, 'dist'))
    for (const f of ['cli.js', 'naftiko.cjs']) copyFileSync(join(ROOT, 'dist', f), join(root, 'dist', f))
    cpSync(join(ROOT, 'dist/capability'), join(root, 'dist/capability'), { recursive: true })
    copyFileSync(join(ROOT, 'package.json'), join(root, 'package.json'))
    symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'))
    const cli = join(root, 'dist/cli.js')
    const cache = join(root, 'dist/.compile-cache')

    expect(await runCli(['--version'], { NAFTIKO_COMPILE_CACHE: 'off' }, cli)).toMatchObject({ code: 0, stdout: `${VERSION}\n` })
    expect(existsSync(cache)).toBe(false)

    mkdirSync(cache)
    writeFileSync(join(cache, `0000000000000000-0-${process.version}-${process.arch}-cli.bin`), 'an older bundle')
    expect(await runCli(['--version'], {}, cli)).toMatchObject({ code: 0, stdout: `${VERSION}\n`, stderr: '' })
    expect(readdirSync(cache)).toEqual([cacheName('cli', join(root, 'dist/naftiko.cjs'))])

    // a bundle changed in place (its digest in cli.js unchanged) is not compiled from the old cache
    utimesSync(join(root, 'dist/naftiko.cjs'), new Date(), new Date(Date.now() + 60_000))
    expect(await runCli(['--version'], {}, cli)).toMatchObject({ code: 0, stdout: `${VERSION}\n`, stderr: '' })
    expect(readdirSync(cache)).toEqual([cacheName('cli', join(root, 'dist/naftiko.cjs'))])
  })
})
