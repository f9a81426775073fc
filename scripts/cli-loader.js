#!/usr/bin/env node
// naftiko's command line. The program is one CommonJS bundle, naftiko.cjs beside this file (built by
// scripts/bundle.mjs, which writes this loader to dist/cli.js). It is compiled with V8's code cache:
// the code a start compiled is kept on disk and the next start reads it instead of parsing and
// compiling again. The cache is in dist/.compile-cache/ (NAFTIKO_COMPILE_CACHE=DIR moves it, =off
// turns it off), one file per bundle (digest and modification time), node version, architecture and
// kind of command (`run`, or the short-lived ones), written once: 1 s after a start, or at exit if
// that comes first. A cache that is missing, unreadable, rejected by V8 (another node, other V8
// flags) or not writable only costs the start its compile.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import Module, { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Script } from 'node:vm'

const DIGEST = 'BUNDLE_DIGEST'
const bundle = fileURLToPath(new URL('./naftiko.cjs', import.meta.url))
const dir = path.dirname(bundle)
const setting = process.env.NAFTIKO_COMPILE_CACHE
const ownCacheDir = path.join(dir, '.compile-cache')
// a process measured for coverage (NODE_V8_COVERAGE) compiles for that: it neither reads nor leaves a cache
const cacheDir = setting === 'off' || process.env.NODE_V8_COVERAGE ? undefined : setting || ownCacheDir
const kind = process.argv[2] === 'run' ? 'run' : 'cli'
// the bundle's modification time too: V8 checks a cache against the length of the source only, and a
// bundle edited in place keeps the digest the build wrote here
const stamp = `${DIGEST}-${Math.trunc(statSync(bundle).mtimeMs)}-${process.version}-${process.arch}`
const cacheFile = cacheDir && path.join(cacheDir, `${stamp}-${kind}.bin`)

const script = compile()

const bundleModule = new Module(bundle)
bundleModule.filename = bundle
bundleModule.paths = Module._nodeModulePaths(dir)
script.runInThisContext()(bundleModule.exports, createRequire(bundle), bundleModule, bundle, dir)

/** The bundle compiled, from the cache when there is one V8 takes; else the cache is written later. */
function compile () {
  let cachedData
  try {
    if (cacheFile !== undefined) cachedData = readFileSync(cacheFile)
  } catch {}
  // the bundle is one function expression, the module wrapper node puts around CommonJS, in ASCII
  const compiled = new Script(readFileSync(bundle, 'latin1'), { filename: bundle, cachedData })
  if (cacheFile !== undefined && (cachedData === undefined || compiled.cachedDataRejected === true)) {
    let written = false
    const write = () => {
      if (written) return
      written = true
      saveCache(cacheFile, compiled.createCachedData())
    }
    setTimeout(write, 1000).unref()
    process.once('exit', write)
  }
  return compiled
}

/** Writes the cache whole or not at all (a rename); in dist/.compile-cache, drops the files of other
 * bundles or nodes (a directory named by NAFTIKO_COMPILE_CACHE may be shared by several installs). */
function saveCache (file, data) {
  const temporary = `${file}.${process.pid}.tmp`
  try {
    mkdirSync(path.dirname(file), { recursive: true })
    writeFileSync(temporary, data)
    renameSync(temporary, file)
    if (path.dirname(file) !== ownCacheDir) return
    const kinds = new Set([`${stamp}-run.bin`, `${stamp}-cli.bin`])
    for (const name of readdirSync(path.dirname(file))) {
      if (name.endsWith('.bin') && !kinds.has(name)) rmSync(path.join(path.dirname(file), name), { force: true })
    }
  } catch {
    // a full disk leaves no half-written file behind
    try { rmSync(temporary, { force: true }) } catch {}
  }
}
