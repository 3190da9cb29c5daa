/**
 * The README's TypeScript examples compile verbatim against the built package (`strict`,
 * `skipLibCheck: false`) under every resolver users have: bundler, node16 and nodenext.
 * Each ```ts block becomes __test__/types/readme/block-N.mts (an ES module, so top-level await is
 * fine); names the blocks take from the reader's app (t, z, db, …) are declared in env.mts.
 */
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'

const root = path.join(__dirname, '..')
const dir = path.join(__dirname, 'types')

export function readmeBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1])
}

describe('README TypeScript', () => {
  beforeAll(() => {
    const out = path.join(dir, 'readme')
    fs.rmSync(out, { recursive: true, force: true })
    fs.mkdirSync(out)
    readmeBlocks(fs.readFileSync(path.join(root, 'README.md'), 'utf8')).forEach((code, i) => {
      // Blocks that use the classes without importing them get the import; the block is unchanged.
      const prelude = /from 'ferrocache'/.test(code)
        ? ''
        : "import { Cache, RateLimiter, SessionStore } from 'ferrocache'\n"
      fs.writeFileSync(path.join(out, `block-${i + 1}.mts`), `${prelude}${code}export {}\n`)
    })
  })

  it('has blocks to check, the tRPC and Keyv ones among them', () => {
    const blocks = readmeBlocks(fs.readFileSync(path.join(root, 'README.md'), 'utf8'))
    expect(blocks.length).toBeGreaterThanOrEqual(5)
    expect(blocks.some((b) => b.includes('cacheMiddleware'))).toBe(true)
    expect(blocks.some((b) => b.includes('ferrocache/keyv'))).toBe(true)
  })

  it.each(['bundler', 'node16', 'nodenext'])(
    'compiles under moduleResolution %s',
    async (resolver) => {
      const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')
      const args = [tsc, '-p', path.join(dir, `tsconfig.${resolver}.json`)]
      const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
        execFile(process.execPath, args, { timeout: 170_000 }, (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
        )
      })
      expect(r.out).toBe('')
      expect(r.code).toBe(0)
    },
    180_000,
  )
})
