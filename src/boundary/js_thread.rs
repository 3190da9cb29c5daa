//! A value only the JS thread may touch, inside an object N-API lets other threads reference
//! (`NativeEngine`'s async methods run on the I/O thread holding `&self`). The check is made at
//! run time, on every access; a value that would be dropped on another thread is leaked instead.

use std::mem::ManuallyDrop;
use std::thread::{self, ThreadId};

pub struct JsThreadOnly<T> {
  value: ManuallyDrop<T>,
  thread: ThreadId,
}

impl<T> JsThreadOnly<T> {
  /// Wraps `value` for the current thread (the JS thread).
  pub fn new(value: T) -> Self {
    JsThreadOnly {
      value: ManuallyDrop::new(value),
      thread: thread::current().id(),
    }
  }

  /// The value, on the thread that made it; `None` anywhere else.
  pub fn get(&self) -> Option<&T> {
    (thread::current().id() == self.thread).then_some(&*self.value)
  }
}

// SAFETY: the value is only reached through `get`, which hands it out on its own thread only,
// and only dropped there (see `Drop`).
unsafe impl<T> Send for JsThreadOnly<T> {}
unsafe impl<T> Sync for JsThreadOnly<T> {}

impl<T> Drop for JsThreadOnly<T> {
  fn drop(&mut self) {
    if thread::current().id() == self.thread {
      // SAFETY: dropped once, here, on its own thread.
      unsafe { ManuallyDrop::drop(&mut self.value) };
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::rc::Rc;
  use std::sync::Arc;

  #[test]
  fn only_its_own_thread_reaches_the_value() {
    let v = Arc::new(JsThreadOnly::new(Rc::new(5)));
    assert_eq!(v.get().map(|r| **r), Some(5));
    let other = v.clone();
    let seen = std::thread::spawn(move || other.get().is_some())
      .join()
      .unwrap();
    assert!(!seen);
  }
}
