// Writes the ESM entry points (dist/*.mjs + .d.mts) as thin re-exports of the CommonJS build, so
// `import` and `require` share one module instance (no dual-package hazard).
import { createRequire } from 'node:module'
import { writeFileSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist')
const require = createRequire(import.meta.url)

for (const entry of ['index', 'trpc', 'next', 'next-use-cache']) {
  const mod = require(join(dist, `${entry}.js`))
  const names = Object.keys(mod).filter((n) => n !== 'default' && n !== '__esModule')
  const lines = [`import mod from './${entry}.js'`, `export const { ${names.join(', ')} } = mod`]
  if ('default' in mod) lines.push('export default mod.default')
  writeFileSync(join(dist, `${entry}.mjs`), lines.join('\n') + '\n')
  writeFileSync(
    join(dist, `${entry}.d.mts`),
    `export * from './${entry}.js'\n` + ('default' in mod ? `export { default } from './${entry}.js'\n` : ''),
  )
}
