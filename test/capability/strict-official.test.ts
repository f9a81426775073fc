import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { readCapability } from '../../src/capability/read-capability.js'
import { CAPABILITIES, CORPUS, corpusExists, EXPECTED_REJECTIONS } from '../helpers/corpus.js'
import { runCli } from '../helpers/cli.js'
import { writeCapability } from '../helpers/gateway.js'

/**
 * `naftiko validate --strict` on the official tutorial and engine test files: a file the official
 * alpha2 schema accepts passes (unless it is one of the named rejections, refused for what it
 * names), and every error of a file the schema refuses names the rule it breaks (the schema path and
 * what it requires).
 */
const OFFICIAL_SCHEMA = new URL('../../../shared/naftiko/schemas/v1.0.0-alpha2/naftiko-schema.json', import.meta.url).pathname
const OFFICIAL_FILES = CAPABILITIES.filter((rel) => rel.startsWith('naftiko-alpha2/'))
const SCHEMA_ERROR = /^official schema: \S+ .+/

describe.skipIf(!corpusExists || !existsSync(OFFICIAL_SCHEMA))('validate --strict on the official files', () => {
  const results = new Map<string, Promise<Awaited<ReturnType<typeof readCapability>>>>()
  const strict = (rel: string): ReturnType<typeof readCapability> => {
    let result = results.get(rel)
    if (result === undefined) results.set(rel, result = readCapability(join(CORPUS, rel), { officialSchema: OFFICIAL_SCHEMA }))
    return result
  }

  it('has the tutorial and the engine test files to check', () => {
    expect(OFFICIAL_FILES.length).toBeGreaterThanOrEqual(30)
  })

  for (const rel of OFFICIAL_FILES) {
    it(`${rel}: passes when the official schema accepts it, else names each rule it breaks`, async () => {
      const errors = (await strict(rel)).diagnostics.filter((d) => d.severity === 'error')
      const bySchema = errors.filter((d) => d.message.startsWith('official schema: '))
      for (const d of bySchema) expect(d.message).toMatch(SCHEMA_ERROR)
      if (bySchema.length > 0) return
      const rejection = EXPECTED_REJECTIONS[rel]
      if (rejection === undefined) expect(errors.map((d) => `${d.line}:${d.col}: ${d.message}`)).toEqual([])
      else for (const d of errors) expect(d.message).toMatch(rejection)
    })
  }

  it('says how many pass, and the CLI agrees on one of each kind', async () => {
    const verdicts = await Promise.all(OFFICIAL_FILES.map(async (rel) => {
      const errors = (await strict(rel)).diagnostics.filter((d) => d.severity === 'error')
      return { rel, passes: errors.length === 0, bySchema: errors.some((d) => d.message.startsWith('official schema: ')) }
    }))
    const passing = verdicts.filter((v) => v.passes)
    const refusedBySchema = verdicts.filter((v) => v.bySchema)
    console.log(`validate --strict: ${passing.length} of ${verdicts.length} official files pass; ${refusedBySchema.length} break a rule of the official schema (each named)`)
    expect(passing.length).toBeGreaterThan(0)
    const pass = await runCli(['validate', '--strict', '--official-schema', OFFICIAL_SCHEMA, join(CORPUS, (passing[0] as { rel: string }).rel)])
    expect(pass.code).toBe(0)
    // the official files all follow the schema; one that breaks a rule is told which
    const broken = await writeCapability((await readFile(join(CORPUS, (passing[0] as { rel: string }).rel), 'utf8')).replace(/^capability:\n/m, 'capability:\n  flavour: extra\n'))
    const fail = await runCli(['validate', '--strict', '--official-schema', OFFICIAL_SCHEMA, broken])
    expect(fail.code).toBe(1)
    expect(fail.stderr + fail.stdout).toMatch(/:\d+:\d+: official schema: capability .*flavour/)
  })
})
