import { defineConfig } from 'vitest/config'
import { ALONE } from './vitest.alone.config.js'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // timed on their own afterwards (vitest.alone.config.ts)
    exclude: ['**/node_modules/**', ...ALONE],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // the suites start real servers on loopback ports; two cores run them best one file per core
    maxWorkers: 2,
  },
})
