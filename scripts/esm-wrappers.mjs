// Writes the ESM side of the package after `tsc` has built the CommonJS one (dist/*.js + .d.ts):
// - dist/<entry>.mjs: thin re-exports of the CommonJS build, so `import` and `require` share one
//   module instance (no dual-package hazard);
// - dist/*.d.mts: the declarations again, as ESM (relative specifiers point at .mjs), so TypeScript
//   under node16/nodenext reads the `import` condition's types as ESM, not "masquerading as CJS",
//   and a default export (ferrocache/next) is the class itself, not the CommonJS module object.
import { createRequire } from 'node:module'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, relative as relativePath, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist')
const require = createRequire(import.meta.url)

/** The entry points of package.json `exports` that live in dist/. */
export const ENTRIES = ['index', 'trpc', 'next', 'keyv', 'next-use-cache']

for (const entry of ENTRIES) {
  const mod = require(join(dist, `${entry}.js`))
  const names = Object.keys(mod).filter((n) => n !== 'default' && n !== '__esModule')
  const lines = [`import mod from './${entry}.js'`]
  if (names.length) lines.push(`export const { ${names.join(', ')} } = mod`)
  if ('default' in mod) lines.push('export default mod.default')
  writeFileSync(join(dist, `${entry}.mjs`), lines.join('\n') + '\n')
}

const relative = /(\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"]+)\2/g
/** Every .d.ts under dist/, layer folders included. */
const declarations = readdirSync(dist, { recursive: true }).filter((f) => f.endsWith('.d.ts'))
for (const file of declarations) {
  const here = dirname(join(dist, file))
  const text = readFileSync(join(dist, file), 'utf8').replace(relative, (all, kw, q, spec) => {
    if (/\.(m?js)$/.test(spec)) return all
    const target = resolve(here, spec)
    // Inside dist/: the ESM twin. Outside (the generated binding): CommonJS declarations, with extension.
    if (existsSync(`${target}.d.ts`) && !relativePath(dist, target).startsWith('..'))
      return `${kw}${q}${spec}.mjs${q}`
    return `${kw}${q}${spec}.js${q}`
  })
  writeFileSync(join(dist, file.replace(/\.d\.ts$/, '.d.mts')), text)
}
