import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // the suites start real servers on loopback ports; two cores run them best one file per core
    maxWorkers: 2,
  },
})
