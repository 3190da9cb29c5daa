//! Counters since start; read synchronously by `stats()`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Default)]
pub struct Stats {
  pub hits: AtomicU64,
  pub misses: AtomicU64,
  pub sets: AtomicU64,
  pub deletes: AtomicU64,
  pub errors: AtomicU64,
  pub bytes_written: AtomicU64,
  pub bytes_read: AtomicU64,
  pub compressed_writes: AtomicU64,
  /// Batches that ran on the JS thread's direct connection.
  pub direct_batches: AtomicU64,
}

/// A point-in-time copy of the counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
  pub hits: u64,
  pub misses: u64,
  pub sets: u64,
  pub deletes: u64,
  pub errors: u64,
  pub bytes_written: u64,
  pub bytes_read: u64,
  pub compressed_writes: u64,
  pub direct_batches: u64,
}

impl Stats {
  pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Relaxed);
  }

  pub fn snapshot(&self) -> Snapshot {
    Snapshot {
      hits: self.hits.load(Relaxed),
      misses: self.misses.load(Relaxed),
      sets: self.sets.load(Relaxed),
      deletes: self.deletes.load(Relaxed),
      errors: self.errors.load(Relaxed),
      bytes_written: self.bytes_written.load(Relaxed),
      bytes_read: self.bytes_read.load(Relaxed),
      compressed_writes: self.compressed_writes.load(Relaxed),
      direct_batches: self.direct_batches.load(Relaxed),
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn snapshot_reflects_counters() {
    let s = Stats::default();
    Stats::add(&s.hits, 2);
    Stats::add(&s.errors, 1);
    let snap = s.snapshot();
    assert_eq!((snap.hits, snap.errors, snap.misses), (2, 1, 0));
  }
}
