//! The contract every store keeps besides running commands (`Store::send`): warming up, health,
//! walking and deleting keys by pattern, closing, and what a pub/sub subscriber connects with. Memory, standalone
//! and cluster each implement it in their own file, so the engine never asks which store it has.

use crate::error::Result;
use std::time::Duration;

/// Where a walk over the keys stands: the node being scanned (cluster primaries are walked in
/// turn; 0 otherwise) and its SCAN cursor. A walk starts at `ScanPosition::default()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanPosition {
  pub node: u32,
  pub cursor: u64,
}

/// One page of a walk over the keys.
pub struct KeysPage {
  /// Where the next page starts.
  pub next: ScanPosition,
  /// Full keys (prefix included).
  pub keys: Vec<Vec<u8>>,
  /// No more pages.
  pub done: bool,
}

/// What a pub/sub subscriber connects with.
pub struct BusClients {
  /// Tried in turn (a cluster's seeds: regular PUBLISH reaches every node).
  pub clients: Vec<redis::Client>,
  pub connect_timeout: Duration,
}

pub trait Backend {
  /// Connects ahead of the first request so it does not pay for connecting; a failure is left
  /// for the first request to retry (with the usual fail-fast backoff).
  async fn warm_up(&self);

  /// Fails unless the store answers (on a cluster: every primary that owns slots).
  async fn ping(&self) -> Result<()>;

  /// Deletes every key matching `pattern` (a glob over full keys) with SCAN + UNLINK in pages of
  /// `count`, never KEYS, never one giant command. Returns how many keys were deleted.
  async fn delete_matching(&self, pattern: &[u8], count: usize) -> Result<u64>;

  /// One page of the keys matching `pattern` (a glob over full keys), from `at`: SCAN with a
  /// COUNT of `count` on one node at a time.
  async fn scan_keys(&self, at: ScanPosition, pattern: &[u8], count: usize) -> Result<KeysPage>;

  /// Drops every connection (on close); the next use would reconnect.
  fn close(&self);

  /// What a pub/sub subscriber connects with; `None` when the store has no bus (memory: one
  /// process, nothing to hear).
  fn bus_clients(&self) -> Option<BusClients>;
}
