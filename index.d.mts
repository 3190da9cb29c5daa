// The public types of `ferrocache` (ESM resolution).
export * from './dist/index.mjs'
