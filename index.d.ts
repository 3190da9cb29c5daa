// The public types of `ferrocache` (CommonJS resolution). See README.md for the API.
export * from './dist/index'
