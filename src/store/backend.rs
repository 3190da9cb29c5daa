//! The contract every store keeps besides running commands (`Store::send`): warming up, health,
//! deleting by pattern, closing, and what a pub/sub subscriber connects with. Memory, standalone
//! and cluster each implement it in their own file, so the engine never asks which store it has.

use crate::error::Result;
use std::time::Duration;

pub trait Backend {
  /// Connects ahead of the first request so it does not pay for connecting; a failure is left
  /// for the first request to retry (with the usual fail-fast backoff).
  async fn warm_up(&self);

  /// Fails unless the store answers (on a cluster: every primary that owns slots).
  async fn ping(&self) -> Result<()>;

  /// Deletes every key matching `pattern` (a glob over full keys) with SCAN + UNLINK in pages of
  /// `count`, never KEYS, never one giant command. Returns how many keys were deleted.
  async fn delete_matching(&self, pattern: &[u8], count: usize) -> Result<u64>;

  /// Drops every connection (on close); the next use would reconnect.
  fn close(&self);

  /// The clients a pub/sub subscriber tries in turn and their connect timeout; `None` when the
  /// store has no bus (memory: one process, nothing to hear).
  fn bus_clients(&self) -> Option<(Vec<redis::Client>, Duration)>;
}
