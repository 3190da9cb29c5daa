// Loads a musl build of the addon for real, the way Alpine's Node would: under musl's dynamic
// loader (Debian's `musl` package, fetched with `apt-get download` into .musl/), a small host
// program dlopen()s the .node with RTLD_NOW, so every libc symbol it needs must resolve in musl, and
// looks up its napi entry point. The host exports stub napi_* and uv_* functions (what Node gives an addon),
// because no musl build of Node is at hand here; nothing calls them.
//   node scripts/musl-load.mjs npm/linux-x64-musl/ferrocache.linux-x64-musl.node
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const dir = path.join(root, '.musl')

/** musl's libc.so, which is also its dynamic loader (runnable: `libc.so program args`). */
export function muslLoader() {
  const loader = path.join(dir, 'root', 'lib', 'x86_64-linux-musl', 'libc.so')
  if (fs.existsSync(loader)) return loader
  fs.mkdirSync(dir, { recursive: true })
  const download = () => spawnSync('apt-get', ['download', 'musl'], { cwd: dir, encoding: 'utf8' })
  let r = download()
  if (r.status !== 0 && process.getuid?.() === 0) {
    // A fresh machine may have no package lists yet.
    spawnSync('apt-get', ['update', '-q'], { stdio: 'ignore' })
    r = download()
  }
  const deb = fs.readdirSync(dir).find((f) => /^musl_.*\.deb$/.test(f))
  if (!deb) throw new Error(`apt-get download musl failed:\n${r.stderr}`)
  execFileSync('dpkg-deb', ['-x', path.join(dir, deb), path.join(dir, 'root')])
  if (!fs.existsSync(loader)) throw new Error(`${deb} has no ${loader}`)
  return loader
}

/** Undefined dynamic symbols of an ELF file (readelf works for any architecture). */
export function undefinedSymbols(file) {
  const out = execFileSync('readelf', ['--dyn-syms', '-W', file], { encoding: 'utf8' })
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 8 && f[6] === 'UND' && f[7])
    .map((f) => f[7].replace(/@.*$/, ''))
}

/**
 * The host: no C library headers or start files (so the system C compiler that Rust links with is
 * enough, no musl toolchain), its own _start, linked against musl's libc.so and run by musl's loader.
 */
function host(node) {
  // Node provides N-API and libuv's API (the direct path's socket watcher and timer) to every addon.
  const stubs = [...new Set(undefinedSymbols(node).filter((s) => /^(napi|node_api|uv)_/.test(s)))]
  const src = [
    'typedef unsigned long size_t;',
    'extern void *dlopen(const char *, int);',
    'extern void *dlsym(void *, const char *);',
    'extern char *dlerror(void);',
    'extern long write(int, const void *, size_t);',
    'extern void _exit(int);',
    'static size_t len(const char *s) { size_t n = 0; while (s[n]) n++; return n; }',
    'static void say(int fd, const char *s) { write(fd, s, len(s)); }',
    ...stubs.map((s) => `int ${s}(void) { return 0; }`),
    '__attribute__((force_align_arg_pointer)) void _start(void) {',
    `  void *h = dlopen(${JSON.stringify(path.resolve(node))}, 2 /* RTLD_NOW */);`,
    '  if (!h) { say(2, "dlopen: "); say(2, dlerror()); say(2, "\\n"); _exit(1); }',
    '  if (!dlsym(h, "napi_register_module_v1")) { say(2, "no napi_register_module_v1\\n"); _exit(2); }',
    '  say(1, "loaded\\n");',
    '  _exit(0);',
    '}',
  ].join('\n')
  const c = path.join(dir, 'host.c')
  const exe = path.join(dir, 'host')
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(c, src + '\n')
  const libc = muslLoader()
  execFileSync(process.env.CC || 'cc', [
    '-nostdlib',
    '-fno-stack-protector',
    '-O1',
    '-o',
    exe,
    c,
    libc,
    '-Wl,-dynamic-linker,/lib/ld-musl-x86_64.so.1',
    '-Wl,-E', // export the stubs to the .node
  ])
  return exe
}

/** Runs the load; returns { status, stdout, stderr } (status 0 and "loaded" on success). */
export function muslLoad(node) {
  const exe = host(node)
  return spawnSync(muslLoader(), [exe], { encoding: 'utf8', timeout: 30_000 })
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = muslLoad(process.argv[2])
  process.stdout.write(r.stdout)
  process.stderr.write(r.stderr)
  process.exit(r.status ?? 1)
}
