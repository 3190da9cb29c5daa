//! Reconnect backoff: while a server is down, callers get the last connect error at once instead
//! of each waiting for a connect of its own.

use crate::error::{CacheError, Result};
use std::time::{Duration, Instant};

const BACKOFF_FIRST: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Reconnect backoff shared by the connections of one pool: after a failed connect, callers get
/// the last error at once until the next attempt is due (50 ms doubling to 2 s).
#[derive(Default)]
pub struct Backoff {
  failures: u32,
  retry_at: Option<Instant>,
  last: Option<CacheError>,
}

impl Backoff {
  /// The last error (with the wait left) while a reconnect is not due yet.
  pub fn check(&self) -> Result<()> {
    match (self.retry_at, &self.last) {
      (Some(at), Some(last)) if Instant::now() < at => Err(CacheError::new(
        last.kind,
        format!(
          "{} (next reconnect attempt in {} ms)",
          last.message,
          (at - Instant::now()).as_millis()
        ),
      )),
      _ => Ok(()),
    }
  }

  /// Records the outcome of a connect attempt.
  pub fn record<T>(&mut self, result: &Result<T>) {
    match result {
      Ok(_) => *self = Backoff::default(),
      Err(err) => {
        let delay = BACKOFF_FIRST
          .saturating_mul(1 << self.failures.min(8))
          .min(BACKOFF_MAX);
        self.failures += 1;
        self.retry_at = Some(Instant::now() + delay);
        self.last = Some(err.clone());
      }
    }
  }
}
