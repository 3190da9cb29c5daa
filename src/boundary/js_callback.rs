//! Calling a JS function from the event loop's own callbacks (a libuv watcher, `uv`), where no
//! N-API call is on the stack: in a handle scope of its own, through `napi_make_callback`, which
//! runs the microtasks the call queued (the Promise continuations) before it returns, exactly as
//! Node does after its own I/O callbacks. An exception the function throws is reported as an
//! uncaught exception, as a threadsafe function's would be.

use napi::bindgen_prelude::ToNapiValue;
use napi::sys::{self, napi_async_context, napi_env, napi_ref, napi_value, Status};

pub struct JsCallback {
  env: napi_env,
  func: napi_ref,
  context: napi_async_context,
}

impl JsCallback {
  /// # Safety
  /// `func` must be a function value of `env`, on its JS thread.
  pub unsafe fn new(env: napi_env, func: napi_value, name: &str) -> napi::Result<Self> {
    let mut reference = std::ptr::null_mut();
    napi::check_status!(
      sys::napi_create_reference(env, func, 1, &mut reference),
      "cannot keep the completion callback"
    )?;
    let resource_name = ToNapiValue::to_napi_value(env, name)?;
    let mut context = std::ptr::null_mut();
    napi::check_status!(
      sys::napi_async_init(env, std::ptr::null_mut(), resource_name, &mut context),
      "cannot create the completion callback's async context"
    )?;
    Ok(JsCallback {
      env,
      func: reference,
      context,
    })
  }

  /// Calls the function with `arg`. Must run on the JS thread, outside any JS call.
  pub fn call<T: ToNapiValue>(&self, arg: T) {
    // SAFETY: on the JS thread of `env` (the only place watchers' callbacks run).
    unsafe {
      let mut scope = std::ptr::null_mut();
      if sys::napi_open_handle_scope(self.env, &mut scope) != Status::napi_ok {
        return;
      }
      self.call_in_scope(arg);
      sys::napi_close_handle_scope(self.env, scope);
    }
  }

  unsafe fn call_in_scope<T: ToNapiValue>(&self, arg: T) {
    let env = self.env;
    let mut func = std::ptr::null_mut();
    let mut recv = std::ptr::null_mut();
    if sys::napi_get_reference_value(env, self.func, &mut func) != Status::napi_ok
      || func.is_null()
      || sys::napi_get_global(env, &mut recv) != Status::napi_ok
    {
      return;
    }
    let Ok(arg) = ToNapiValue::to_napi_value(env, arg) else {
      return;
    };
    let mut result = std::ptr::null_mut();
    let status = sys::napi_make_callback(env, self.context, recv, func, 1, &arg, &mut result);
    if status == Status::napi_pending_exception {
      let mut err = std::ptr::null_mut();
      if sys::napi_get_and_clear_last_exception(env, &mut err) == Status::napi_ok {
        sys::napi_fatal_exception(env, err);
      }
    }
  }
}

impl Drop for JsCallback {
  fn drop(&mut self) {
    // SAFETY: dropped with the engine object, on the JS thread.
    unsafe {
      sys::napi_async_destroy(self.env, self.context);
      sys::napi_delete_reference(self.env, self.func);
    }
  }
}
