//! How engine errors reach JS: always as a JS `Error` whose `code` is the stable `E_*` code of
//! their kind, so JS reads the kind instead of parsing the message. Synchronous calls return
//! `napi::Result<T, ErrorCode>` (napi-rs sets the error's status as its `code`); `async fn`s
//! resolve to a `Settled<T>` instead, because napi-rs rejects an `async fn`'s own `Err` with its
//! fixed `Status` as the code.

use crate::error::{CacheError, ErrorKind, Result};
use napi::bindgen_prelude::ToNapiValue;
use napi::{sys, JsError, Unknown};

/// The `code` of an error thrown to JS: the stable `E_*` code of its kind.
pub struct ErrorCode(&'static str);

impl AsRef<str> for ErrorCode {
  fn as_ref(&self) -> &str {
    self.0
  }
}

/// An engine error as the error a synchronous `#[napi]` call throws.
pub fn to_js(e: CacheError) -> napi::Error<ErrorCode> {
  napi::Error::new(ErrorCode(e.kind.code()), e.message)
}

/// A failure of N-API itself (creating a function or a Buffer): an internal error.
pub fn from_napi(e: napi::Error) -> napi::Error<ErrorCode> {
  napi::Error::new(ErrorCode(ErrorKind::Internal.code()), e.reason.clone())
}

/// What an `async fn` resolves with: its value, or the engine error its Promise rejects with.
/// napi-rs converts the outcome on the JS thread and, when that conversion fails, rejects with
/// the JS value the failure holds, as it is: so the error is built there, `code` included.
pub struct Settled<T>(pub Result<T>);

impl<T: ToNapiValue> ToNapiValue for Settled<T> {
  unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
    match val.0 {
      Ok(value) => unsafe { T::to_napi_value(env, value) },
      Err(e) => {
        let error = unsafe { JsError::from(to_js(e)).into_value(env) };
        if error.is_null() {
          // The environment is going away: nothing is left to receive the rejection.
          return Err(napi::Error::from_reason(
            "the JS environment is shutting down",
          ));
        }
        Err(napi::Error::from(unsafe {
          Unknown::from_raw_unchecked(env, error)
        }))
      }
    }
  }
}
