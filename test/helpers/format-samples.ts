import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'vitest'

/** The official engine's format fixtures: feature files in formats/, sample answers in schemas/. */
export const FORMAT_RESOURCES = fileURLToPath(new URL('../../../shared/corpus/naftiko-alpha2/src/test/resources/', import.meta.url))
export const samplesExist = existsSync(`${FORMAT_RESOURCES}schemas/sample-users.csv`)

export function sample (name: string): Buffer {
  return readFileSync(`${FORMAT_RESOURCES}schemas/${name}`)
}

export const SAMPLE_SCHEMAS = {
  proto: `${FORMAT_RESOURCES}schemas/test-records.proto`,
  avsc: `${FORMAT_RESOURCES}schemas/test-records.avsc`,
}

/** The records the engine's protobuf and Avro feature files map, for encoding sample answers. */
export const SAMPLE_RECORDS = [
  { id: 'r-1', title: 'First record', description: 'the first one' },
  { id: 'r-2', title: 'Second record', description: 'the second one' },
]

/** Without the shared fixtures a suite would pass with nothing checked: say so as a skipped test. */
export function skipWithoutSamples (suite: string): void {
  if (samplesExist) return
  console.warn(`${suite} skipped: the engine's format fixtures are absent (looked in ${FORMAT_RESOURCES})`)
  describe(suite, () => {
    it.skip(`is skipped: the engine's format fixtures are absent (looked in ${FORMAT_RESOURCES})`, () => {})
  })
}
