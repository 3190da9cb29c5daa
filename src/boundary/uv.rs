//! Watchers on the Node.js event loop itself (libuv, which Node exports to addons): a socket
//! watcher (`uv_poll_t`) and a timer (`uv_timer_t`). Their callbacks run on the JS thread, in
//! the loop's own turn, like any of Node's I/O callbacks. Both are unref'd: they never keep a
//! process alive (the transport keeps it alive while requests are in flight).
//!
//! Handles are allocated with the size libuv reports (`uv_handle_size`), so no libuv struct
//! layout is copied here beyond the one stable fact that a handle starts with `void* data`.

use napi::sys::{napi_env, napi_get_uv_event_loop, uv_loop_s, Status};
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ffi::{c_int, c_void};

// uv_handle_type (uv.h): UV_POLL = 8, UV_TIMER = 13; poll events.
const UV_POLL: c_int = 8;
const UV_TIMER: c_int = 13;
pub const READABLE: c_int = 1;
pub const WRITABLE: c_int = 2;

type PollCb = unsafe extern "C" fn(*mut c_void, c_int, c_int);
type TimerCb = unsafe extern "C" fn(*mut c_void);
type CloseCb = unsafe extern "C" fn(*mut c_void);

extern "C" {
  fn uv_handle_size(kind: c_int) -> usize;
  fn uv_poll_init(lp: *mut uv_loop_s, handle: *mut c_void, fd: c_int) -> c_int;
  fn uv_poll_start(handle: *mut c_void, events: c_int, cb: PollCb) -> c_int;
  fn uv_poll_stop(handle: *mut c_void) -> c_int;
  fn uv_timer_init(lp: *mut uv_loop_s, handle: *mut c_void) -> c_int;
  fn uv_timer_start(handle: *mut c_void, cb: TimerCb, timeout: u64, repeat: u64) -> c_int;
  fn uv_timer_stop(handle: *mut c_void) -> c_int;
  fn uv_unref(handle: *mut c_void);
  fn uv_close(handle: *mut c_void, cb: CloseCb);
}

/// What a handle's `data` points to: its callback and its allocation's layout.
struct Slot {
  layout: Layout,
  on_poll: Option<Box<dyn Fn(c_int)>>,
  on_timer: Option<Box<dyn Fn()>>,
}

/// A libuv handle this module allocated; closed (and freed by libuv's close callback) on drop.
struct Handle(*mut c_void);

impl Handle {
  /// # Safety
  /// Must run on the JS thread of `env`.
  unsafe fn new(env: napi_env, kind: c_int, slot: Slot) -> Option<(Self, *mut uv_loop_s)> {
    let mut lp = std::ptr::null_mut();
    if napi_get_uv_event_loop(env, &mut lp) != Status::napi_ok || lp.is_null() {
      return None;
    }
    let size = uv_handle_size(kind);
    let layout = Layout::from_size_align(size.max(64), 16).ok()?;
    let raw = alloc_zeroed(layout).cast::<c_void>();
    if raw.is_null() {
      return None;
    }
    let slot = Box::into_raw(Box::new(Slot { layout, ..slot }));
    // A handle starts with `void* data` (UV_HANDLE_FIELDS).
    *raw.cast::<*mut Slot>() = slot;
    Some((Handle(raw), lp))
  }

  unsafe fn slot<'a>(raw: *mut c_void) -> &'a Slot {
    &**raw.cast::<*mut Slot>()
  }
}

unsafe extern "C" fn closed(raw: *mut c_void) {
  let slot = Box::from_raw(*raw.cast::<*mut Slot>());
  dealloc(raw.cast(), slot.layout);
}

impl Drop for Handle {
  fn drop(&mut self) {
    // SAFETY: the handle was initialised by libuv; the close callback frees it and its slot.
    unsafe { uv_close(self.0, closed) };
  }
}

/// Watches a socket for readability (and writability while asked to).
pub struct SocketWatch(Handle);

unsafe extern "C" fn polled(raw: *mut c_void, status: c_int, events: c_int) {
  if let Some(cb) = &Handle::slot(raw).on_poll {
    // An error status (the fd broke) is reported as readable: the read finds out what it is.
    cb(if status < 0 { READABLE } else { events });
  }
}

impl SocketWatch {
  /// # Safety
  /// Must run on the JS thread of `env`; `fd` must stay open until this is dropped.
  pub unsafe fn new(env: napi_env, fd: c_int, on_event: Box<dyn Fn(c_int)>) -> Option<Self> {
    let slot = Slot {
      layout: Layout::new::<u8>(),
      on_poll: Some(on_event),
      on_timer: None,
    };
    let (handle, lp) = Handle::new(env, UV_POLL, slot)?;
    if uv_poll_init(lp, handle.0, fd) != 0 {
      // Not initialised, so not closable: free it here.
      closed(handle.0);
      std::mem::forget(handle);
      return None;
    }
    uv_unref(handle.0);
    Some(SocketWatch(handle))
  }

  /// Watches for `events` (`READABLE`, `| WRITABLE`) from now on.
  pub fn watch(&self, events: c_int) -> bool {
    // SAFETY: an initialised poll handle, on the JS thread.
    unsafe { uv_poll_start(self.0 .0, events, polled) == 0 }
  }

  pub fn stop(&self) {
    // SAFETY: as above.
    unsafe { uv_poll_stop(self.0 .0) };
  }
}

/// A one-shot timer on the event loop.
pub struct Timer(Handle);

unsafe extern "C" fn fired(raw: *mut c_void) {
  if let Some(cb) = &Handle::slot(raw).on_timer {
    cb();
  }
}

impl Timer {
  /// # Safety
  /// Must run on the JS thread of `env`.
  pub unsafe fn new(env: napi_env, on_fire: Box<dyn Fn()>) -> Option<Self> {
    let slot = Slot {
      layout: Layout::new::<u8>(),
      on_poll: None,
      on_timer: Some(on_fire),
    };
    let (handle, lp) = Handle::new(env, UV_TIMER, slot)?;
    if uv_timer_init(lp, handle.0) != 0 {
      closed(handle.0);
      std::mem::forget(handle);
      return None;
    }
    uv_unref(handle.0);
    Some(Timer(handle))
  }

  /// Fires once, `ms` from now (replacing any earlier start).
  pub fn start(&self, ms: u64) {
    // SAFETY: an initialised timer handle, on the JS thread.
    unsafe { uv_timer_start(self.0 .0, fired, ms, 0) };
  }

  pub fn stop(&self) {
    // SAFETY: as above.
    unsafe { uv_timer_stop(self.0 .0) };
  }
}
