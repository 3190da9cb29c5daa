/**
 * Real Next.js apps for the tests: installs a Next version from its fixture (`npm ci --prefix`,
 * committed lock file), copies the built ferrocache package into it as an installed package would
 * be, copies `examples/next-app`, runs `next build`, and serves it with `next start`.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'

export const repo = join(__dirname, '..', '..')
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

/** Runs a command to completion without blocking the event loop (the upstream server lives here). */
function run(
  cmd: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()))
    child.on('error', reject)
    child.on('close', (code, signal) => {
      if (code === 0) resolve(out)
      else reject(new Error(`${cmd} ${args.join(' ')} failed (${code ?? signal}):\n${out}`))
    })
  })
}

/** Installs the fixture's dependencies (once per lock file content) and returns its directory. */
export async function installFixture(name: string): Promise<string> {
  const dir = join(repo, '__test__', 'next', name)
  const lock = readFileSync(join(dir, 'package-lock.json'))
  const stampFile = join(dir, 'node_modules', '.ferrocache-fixture-stamp')
  const stamp = createHash('sha256').update(lock).digest('hex')
  if (!existsSync(stampFile) || readFileSync(stampFile, 'utf8') !== stamp) {
    await run(npm, ['ci', '--prefix', dir, '--no-audit', '--no-fund'], repo)
    writeFileSync(stampFile, stamp)
  }
  // ferrocache as `npm install ferrocache` lays it out (real files: Next treats a package found
  // through a symlink outside node_modules as app code and would try to bundle the .node file).
  const pkg = join(dir, 'node_modules', 'ferrocache')
  rmSync(pkg, { recursive: true, force: true })
  mkdirSync(pkg)
  // What `files` in package.json ships (their top-level names: `dist/**/*.js` → `dist`).
  const { files } = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { files: string[] }
  const shipped = new Set(['package.json', ...files.map((f) => f.split('/')[0])])
  for (const f of shipped)
    if (existsSync(join(repo, f))) cpSync(join(repo, f), join(pkg, f), { recursive: true })
  for (const f of readdirSync(repo)) if (f.endsWith('.node')) cpSync(join(repo, f), join(pkg, f))
  return dir
}

export interface AppEnv {
  FERROCACHE_URL: string
  FERROCACHE_PREFIX: string
  UPSTREAM_URL: string
}

function envOf(app: AppEnv): NodeJS.ProcessEnv {
  return { ...process.env, ...app, NEXT_TELEMETRY_DISABLED: '1', NEXT_APP_ROOT: repo, NODE_ENV: 'production' }
}

/** Copies the example into the fixture and builds it; returns the app directory. */
export async function buildApp(fixture: string, env: AppEnv): Promise<string> {
  const app = join(fixture, 'app')
  rmSync(app, { recursive: true, force: true })
  cpSync(join(repo, 'examples', 'next-app'), app, { recursive: true })
  await run(join(fixture, 'node_modules', '.bin', 'next'), ['build'], app, envOf(env))
  return app
}

export interface RunningApp {
  url: string
  log(): string
  stop(): Promise<void>
}

/** `next start` on `port`; resolves once it answers. */
export async function startApp(app: string, port: number, env: AppEnv): Promise<RunningApp> {
  const next = join(app, '..', 'node_modules', '.bin', 'next')
  const child: ChildProcess = spawn(next, ['start', '-p', String(port), '-H', '127.0.0.1'], {
    cwd: app,
    env: envOf(env),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()))
  const url = `http://127.0.0.1:${port}`
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.pid === undefined) return
    const exited = new Promise<void>((r) => child.once('exit', () => r()))
    try {
      process.kill(-child.pid, 'SIGTERM')
    } catch {
      return
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL')
      } catch {
        // already gone
      }
    }, 5000)
    await exited
    clearTimeout(timer)
  }
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`next start exited:\n${out}`)
    try {
      const r = await fetch(url + '/')
      if (r.ok) return { url, log: () => out, stop }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  await stop()
  throw new Error(`next start did not answer within 30 s:\n${out}`)
}

/** The upstream "database" the example fetches (tagged `posts`): answers a new version when bumped. */
export async function startUpstream(): Promise<{
  url: string
  bump(): void
  current(): string
  server: Server
}> {
  let version = 1
  const server = createServer((_req, res) => res.end(`v${version}`))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as { port: number }
  return { url: `http://127.0.0.1:${port}`, bump: () => void version++, current: () => `v${version}`, server }
}

/** The text of the element with `id` in a rendered page (React's `<!-- -->` separators removed). */
export function field(html: string, id: string): string {
  const m = new RegExp(`<p id="${id}">([^]*?)</p>`).exec(html)
  if (!m) throw new Error(`no #${id} in the page:\n${html.slice(0, 2000)}`)
  return m[1].replace(/<!-- -->/g, '')
}

export async function page(base: string, path: string): Promise<{ status: number; html: string }> {
  const r = await fetch(base + path)
  return { status: r.status, html: await r.text() }
}
