//! Keeps one timer armed on the I/O thread while batches flow, so that arming a batch's own
//! deadline timers (commandTimeoutMs: the batch's, the pipeline's, the connection's response
//! timeout) does not wake the I/O driver each time.
//!
//! Why: tokio's time driver writes to its eventfd (`unpark`) whenever a timer is armed earlier
//! than the wake-up the driver parked with — and after the last timer of a batch is cancelled it
//! parks with none, so every timer of the next batch counted as "earlier": three eventfd writes
//! and one extra `epoll_wait` per sequential `get` (seen with `strace -f`). A timer that is always
//! due before any batch deadline (half the command timeout away) keeps the driver's wake-up early,
//! so the batch timers are armed silently. It stops after a period without batches: an idle
//! process has no timer and no wake-up.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Handle;

pub struct TimerAnchor {
  period: Duration,
  running: AtomicBool,
  /// Batches seen; the anchor stops after a period in which it did not move.
  used: AtomicU64,
}

impl TimerAnchor {
  /// `deadline` is the shortest deadline a batch arms (commandTimeoutMs).
  pub fn new(deadline: Duration) -> Arc<Self> {
    Arc::new(TimerAnchor {
      period: (deadline / 2).max(Duration::from_millis(1)),
      running: AtomicBool::new(false),
      used: AtomicU64::new(0),
    })
  }

  /// A batch is about to arm its timers: makes sure the anchor runs.
  pub fn hold(self: &Arc<Self>, handle: &Handle) {
    self.used.fetch_add(1, Ordering::SeqCst);
    if self.running.load(Ordering::SeqCst) || self.running.swap(true, Ordering::SeqCst) {
      return;
    }
    let me = self.clone();
    handle.spawn(async move {
      loop {
        let seen = me.used.load(Ordering::SeqCst);
        tokio::time::sleep(me.period).await;
        if me.used.load(Ordering::SeqCst) != seen {
          continue;
        }
        me.running.store(false, Ordering::SeqCst);
        // A batch that arrived between the check and the store saw `running` and relied on this
        // task: take the anchor back unless that batch already started a new one.
        if me.used.load(Ordering::SeqCst) == seen || me.running.swap(true, Ordering::SeqCst) {
          return;
        }
      }
    });
  }

  #[cfg(test)]
  pub fn running(&self) -> bool {
    self.running.load(Ordering::SeqCst)
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn runs_while_batches_flow_and_stops_when_idle() {
    let rt = tokio::runtime::Builder::new_multi_thread()
      .worker_threads(1)
      .enable_all()
      .build()
      .unwrap();
    let anchor = TimerAnchor::new(Duration::from_millis(20));
    assert!(!anchor.running());
    for _ in 0..5 {
      anchor.hold(rt.handle());
      assert!(anchor.running());
      std::thread::sleep(Duration::from_millis(4));
    }
    // Idle: gone within two periods (10 ms each), so an idle process has no timer.
    std::thread::sleep(Duration::from_millis(60));
    assert!(!anchor.running());
    anchor.hold(rt.handle());
    assert!(anchor.running(), "starts again with the next batch");
  }
}
