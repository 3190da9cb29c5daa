// Builds the Linux prebuilt binaries into npm/<platform>/ (what `napi prepublish` publishes):
//   node scripts/build-all.mjs [--debug] [target…]     (default: the four Linux targets, release)
// gnu targets link against glibc 2.17 (the floor of @node-rs packages: RHEL/CentOS 7, Amazon Linux 2,
// Debian 11, Ubuntu 20.04); musl targets are static-libc builds for Alpine. Everything is
// cross-built with cargo-zigbuild and zig, both from PyPI (`ziglang`, `cargo-zigbuild`), and the
// Rust standard library of each target from rustup; this script installs whatever is missing.
// darwin and windows targets cannot be built here: .github/workflows/build.yml builds them on
// their own runners.
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')

/** Target triple → npm/<dir> and the suffix cargo-zigbuild takes (the glibc version for gnu). */
export const LINUX_TARGETS = {
  'x86_64-unknown-linux-gnu': { dir: 'linux-x64-gnu', zig: '.2.17' },
  'aarch64-unknown-linux-gnu': { dir: 'linux-arm64-gnu', zig: '.2.17' },
  'x86_64-unknown-linux-musl': { dir: 'linux-x64-musl', zig: '' },
  'aarch64-unknown-linux-musl': { dir: 'linux-arm64-musl', zig: '' },
}

/** The artifact `napi build --platform` writes for a target. */
export function artifactPath(target) {
  const { dir } = LINUX_TARGETS[target]
  return path.join(root, 'npm', dir, `ferrocache.${dir}.node`)
}

function run(cmd, args, opts = {}) {
  console.error(`$ ${cmd} ${args.join(' ')}`)
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`)
}

/** PATH with pip's --user script folder first, where `pip install --user` puts zig and cargo-zigbuild. */
function pipUserBin() {
  const base = execFileSync('python3', ['-m', 'site', '--user-base'], { encoding: 'utf8' }).trim()
  return path.join(base, 'bin')
}

/** Makes sure rustup has the targets' std and that `zig` and `cargo-zigbuild` run; returns the env. */
export function toolchainEnv(targets) {
  const installed = execFileSync('rustup', ['target', 'list', '--installed'], { encoding: 'utf8' })
  const missing = targets.filter((t) => !installed.split('\n').includes(t))
  if (missing.length) run('rustup', ['target', 'add', ...missing])
  const env = { ...process.env, PATH: [pipUserBin(), process.env.PATH].join(path.delimiter) }
  const has = (cmd, args) => spawnSync(cmd, args, { stdio: 'ignore', env }).status === 0
  const want = []
  // `python-zig` is the launcher the ziglang wheel installs; napi and cargo-zigbuild look for `zig`.
  if (!has('zig', ['version']) && !has('python-zig', ['version'])) want.push('ziglang')
  if (!has('cargo-zigbuild', ['--version'])) want.push('cargo-zigbuild')
  if (want.length) run('python3', ['-m', 'pip', 'install', '--user', '--quiet', ...want], { env })
  if (!has('zig', ['version'])) {
    // The wheel ships `python-zig`; give napi a `zig` that runs it.
    const shim = path.join(os.tmpdir(), 'ferrocache-zig-shim')
    fs.mkdirSync(shim, { recursive: true })
    fs.writeFileSync(path.join(shim, 'zig'), '#!/bin/sh\nexec python3 -m ziglang "$@"\n', { mode: 0o755 })
    env.PATH = [shim, env.PATH].join(path.delimiter)
  }
  return env
}

export function buildTargets(targets, { release = true } = {}) {
  const env = toolchainEnv(targets)
  for (const target of targets) {
    const { dir, zig } = LINUX_TARGETS[target]
    const args = ['napi', 'build', '--platform', '-x', '--target', target + zig, '--no-js']
    args.push(
      '--output-dir',
      path.join('npm', dir),
      '--dts',
      path.join('..', '..', 'target', `dts-${dir}.d.ts`),
    )
    // A target dir of their own: cross builds never wait on (or invalidate) the dev build's lock.
    args.push('--target-dir', path.join('target', 'cross'))
    if (release) args.push('--release')
    run('npx', args, { env })
    if (!fs.existsSync(artifactPath(target))) throw new Error(`no ${artifactPath(target)} after the build`)
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2)
  const release = !argv.includes('--debug')
  const asked = argv.filter((a) => !a.startsWith('--'))
  const targets = asked.length ? asked : Object.keys(LINUX_TARGETS)
  for (const t of targets)
    if (!LINUX_TARGETS[t]) throw new Error(`unknown target ${t}: one of ${Object.keys(LINUX_TARGETS)}`)
  buildTargets(targets, { release })
}
