import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['__test__/**/*.test.ts'],
    globalSetup: ['__test__/setup/global.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Tests start servers and child processes: two cores, so keep the file-level parallelism low.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
})
