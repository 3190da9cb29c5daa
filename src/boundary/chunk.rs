//! A chunk of completions as the JS side receives it: a Buffer in the completion frame format
//! (`frame`), built where N-API hands over the JS thread (the wake-up's callback, `drain`).

use crate::boundary::frame::{encode_into, encoded_len, Completion};
use napi::bindgen_prelude::ToNapiValue;

/// A chunk of completions on its way to JS: encoded straight into a new JS Buffer (one copy;
/// a plain Buffer is cheaper than an external one with a finalizer).
pub struct Chunk(Vec<Completion>, bool);

impl Chunk {
  /// `items` taken from the queue; `more` = items remain after them.
  pub fn new(items: Vec<Completion>, more: bool) -> Self {
    Chunk(items, more)
  }
}

impl ToNapiValue for Chunk {
  unsafe fn to_napi_value(
    env: napi::sys::napi_env,
    val: Self,
  ) -> napi::Result<napi::sys::napi_value> {
    let len = encoded_len(&val.0);
    let mut data = std::ptr::null_mut();
    let mut out = std::ptr::null_mut();
    napi::check_status!(
      napi::sys::napi_create_buffer(env, len, &mut data, &mut out),
      "cannot create the completion Buffer"
    )?;
    if len > 0 {
      // SAFETY: napi_create_buffer returned `len` writable bytes at `data`, owned by the new
      // Buffer, which nothing else references yet.
      let bytes = std::slice::from_raw_parts_mut(data.cast::<u8>(), len);
      encode_into(&val.0, val.1, bytes);
    }
    Ok(out)
  }
}
