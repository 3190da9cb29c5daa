//! When the I/O thread should stay awake after its last batch: only for callers that come back
//! quickly. A sequential caller (a loop of awaits) sends its next request within microseconds of
//! the previous reply, so a short poll saves it two thread wake-ups per request; a web server
//! doing hundreds of microseconds of work between cache calls would only burn a core with it.

use std::sync::atomic::{AtomicU64, Ordering};

/// Weight of the newest sample in the moving average of gaps, as a shift (1/8).
const SHIFT: u32 = 3;

/// Learns how long the engine sits idle before its next request (an exponential moving average of
/// idle gaps) and says whether polling for `window_ns` is likely to catch it.
pub struct PollWindow {
  window_ns: u64,
  idle_since: AtomicU64,
  gap_avg: AtomicU64,
}

impl PollWindow {
  /// `window_ns` = 0 turns polling off.
  pub fn new(window_ns: u64) -> Self {
    // Start optimistic: the first requests decide.
    PollWindow {
      window_ns,
      idle_since: AtomicU64::new(0),
      gap_avg: AtomicU64::new(0),
    }
  }

  pub fn window_ns(&self) -> u64 {
    self.window_ns
  }

  /// The last request in flight completed at `now` (ns on the engine's clock).
  pub fn went_idle(&self, now: u64) {
    self.idle_since.store(now, Ordering::Relaxed);
  }

  /// A request arrived at `now` while nothing was in flight: one more gap sample.
  pub fn woke(&self, now: u64) {
    let since = self.idle_since.load(Ordering::Relaxed);
    if since == 0 {
      return;
    }
    // Gaps longer than the window count as 4 windows, so one long pause does not dominate.
    let gap = now
      .saturating_sub(since)
      .min(self.window_ns.saturating_mul(4));
    let avg = self.gap_avg.load(Ordering::Relaxed);
    let next = avg - (avg >> SHIFT) + (gap >> SHIFT);
    self.gap_avg.store(next, Ordering::Relaxed);
  }

  /// Whether to poll after going idle: polling is on and callers usually return within the window.
  pub fn worth_polling(&self) -> bool {
    self.window_ns > 0 && self.gap_avg.load(Ordering::Relaxed) < self.window_ns
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn feed(w: &PollWindow, gap_ns: u64, times: usize) {
    let mut t = 1_000;
    for _ in 0..times {
      w.went_idle(t);
      t += gap_ns;
      w.woke(t);
      t += 5_000;
    }
  }

  #[test]
  fn sequential_callers_get_the_window() {
    let w = PollWindow::new(100_000);
    assert!(w.worth_polling());
    feed(&w, 15_000, 50);
    assert!(w.worth_polling());
  }

  #[test]
  fn slow_callers_do_not_and_fast_ones_win_it_back() {
    let w = PollWindow::new(100_000);
    feed(&w, 400_000, 20);
    assert!(!w.worth_polling());
    feed(&w, 10_000, 40);
    assert!(w.worth_polling());
  }

  #[test]
  fn a_zero_window_never_polls() {
    let w = PollWindow::new(0);
    feed(&w, 1_000, 10);
    assert!(!w.worth_polling());
  }
}
