// Loads the generated napi-rs binding (binding.js picks the right platform package).
import type * as Native from '../../binding'

const native: typeof Native = require('../../binding.js')

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
  READ_TRAILER_BYTES,
  BUS_ID,
  BUS_MESSAGE,
  BUS_SUBSCRIBED,
  BUS_LOST,
} = native
/** The `code` of each native error kind: an error completion with tag `n` has `NATIVE_CODES[n - 1]`. */
export const NATIVE_CODES: readonly string[] = native.errorCodes()
