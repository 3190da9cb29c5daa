// The `ferrocache` entry point (ESM): the same module instance as `require('ferrocache')`.
export * from './dist/index.mjs'
