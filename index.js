// The `ferrocache` entry point (CommonJS). The implementation is in dist/; the generated native
// binding is binding.js.
module.exports = require('./dist/index.js')
