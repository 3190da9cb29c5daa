// Loads the generated napi-rs binding (binding.js picks the right platform package), and turns a
// missing platform package into an error that says which one and how to install it.
import type * as Native from '../../binding'

/** The npm package holding this platform's binary, e.g. `ferrocache-linux-x64-gnu`. */
export function platformPackage(
  platform: string = process.platform,
  arch: string = process.arch,
  musl: boolean = isMusl(),
): string {
  const abi = platform === 'linux' ? (musl ? '-musl' : '-gnu') : platform === 'win32' ? '-msvc' : ''
  return `ferrocache-${platform}-${arch}${abi}`
}

function isMusl(): boolean {
  if (process.platform !== 'linux') return false
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined
  return !report?.header?.glibcVersionRuntime
}

/** The message of the error thrown when no binary for this platform could be loaded. */
export function missingBinaryMessage(pkg: string, cause: unknown): string {
  const why = cause instanceof Error ? cause.message.split('\n')[0] : String(cause)
  return (
    `ferrocache: the native binary for this platform (${process.platform}-${process.arch}) could not be loaded: ` +
    `the optional dependency \`${pkg}\` is missing or does not load. Install it with ` +
    `\`npm install ${pkg}\` (or reinstall ferrocache without --omit=optional / --no-optional, and ` +
    `without copying node_modules from another OS or libc). Prebuilt: linux x64/arm64 (glibc >= 2.17 ` +
    `and musl), macOS x64/arm64, Windows x64. (${why})`
  )
}

function load(): typeof Native {
  try {
    return require('../../binding.js')
  } catch (e) {
    const pkg = platformPackage()
    throw Object.assign(new Error(missingBinaryMessage(pkg, e), { cause: e }), {
      code: 'E_NATIVE_MISSING',
      packageName: pkg,
    })
  }
}

const native = load()

export const NativeEngine = native.NativeEngine
export type NativeEngine = Native.NativeEngine
export type EngineOptions = Native.EngineOptions
export type EngineStats = Native.EngineStats
export const escapeGlob = native.escapeGlob
export const keySlot = native.keySlot
export const globMatch = native.globMatch

/** The boundary's codes, defined once in Rust (`src/boundary/frame.rs`, `src/features/bus.rs`). */
export const {
  OP_GET,
  OP_SET,
  OP_DELETE,
  OP_EXISTS,
  OP_COMMAND,
  OP_GET_MANY,
  STATUS_HIT,
  STATUS_ERROR,
  STATUS_STALE,
  REPLY_INT,
  REPLY_BULK,
  REPLY_STATUS,
  TAGGED,
  JOINED,
  JOINED_NONCE_BYTES,
  READ_TRAILER_BYTES,
  BUS_ID,
  BUS_MESSAGE,
  BUS_SUBSCRIBED,
  BUS_LOST,
  BUS_REFUSED,
  DRAIN_CHUNK,
} = native
/** The `code` of each native error kind: an error completion with tag `n` has `NATIVE_CODES[n - 1]`. */
export const NATIVE_CODES: readonly string[] = native.errorCodes()
