// Loads the generated napi-rs binding (binding.js picks the right platform package).
import type * as Native from '../../binding'

// eslint-disable-next-line @typescript-eslint/no-require-imports
const native: typeof Native = require('../../binding.js')

export const NativeEngine = native.NativeEngine
export type NativeEngine = Native.NativeEngine
export type EngineOptions = Native.EngineOptions
export type EngineStats = Native.EngineStats
export const escapeGlob = native.escapeGlob
export const keySlot = native.keySlot
