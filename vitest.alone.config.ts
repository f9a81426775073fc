import { defineConfig } from 'vitest/config'

/**
 * Suites that time the event loop (a 31 MiB body must not delay another request by a second): run
 * after the others, one file at a time, so that the other suites' processes do not starve them.
 */
export const ALONE = ['test/e2e/hostile-requests.test.ts']

export default defineConfig({
  test: {
    include: ALONE,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    fileParallelism: false,
  },
})
