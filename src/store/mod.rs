//! Where entries live: the in-process memory store, one Valkey node, or a Valkey Cluster. The
//! network stores take commands with their routing key and answer one reply per command, in
//! order; a failure fails only the commands it concerns.
//!
//! Layer: `store` owns the connections and the commands' path to Valkey: `memory` (with `glob`
//! for pattern matching; `keyspace` for the internal keys), `standalone` (the pool for one node),
//! `cluster` (slots, topology, per-primary pipelines), `backoff` (reconnect backoff, shared by
//! both) and `command` (what they all take and give back, SCAN paging included). May import `error`
//! only; it knows nothing of frames, completions or envelopes.

pub mod backend;
pub mod backoff;
pub mod cluster;
pub mod command;
pub mod direct;
pub mod glob;
pub mod keyspace;
pub mod memory;
pub mod node_send;
pub mod standalone;
#[cfg(test)]
pub mod test_support;

use crate::error::{CacheError, ErrorKind, Result};
use crate::store::backend::{Backend, BusClients, KeysPage, ScanPosition};
use crate::store::cluster::ClusterPool;
use crate::store::command::Routed;
use crate::store::memory::MemoryStore;
use crate::store::node_send::{send_to_node, Pipelines};
use crate::store::standalone::NodePool;
use redis::{Pipeline, Value};

pub enum Store {
  /// In-process (no `url`, no `nodes`).
  Memory(MemoryStore),
  /// One Valkey node (a pool of multiplexed connections).
  Standalone(Box<NodePool>),
  /// A Valkey Cluster.
  Cluster(Box<ClusterPool>),
}

impl Store {
  /// `'memory'`, `'standalone'` or `'cluster'`.
  pub fn mode(&self) -> &'static str {
    match self {
      Store::Memory(_) => "memory",
      Store::Standalone(_) => "standalone",
      Store::Cluster(_) => "cluster",
    }
  }

  /// Sends commands and returns one reply (or error) per command, in the order given. A server
  /// error reply is a `Value::ServerError`, left to the caller; transport failures are `Err`.
  pub async fn send(&self, cmds: Vec<Routed<'_>>) -> Vec<Result<Value>> {
    let count = cmds.len();
    if count == 0 {
      return Vec::new();
    }
    match self {
      Store::Memory(_) => {
        let err = CacheError::new(
          ErrorKind::InvalidOption,
          "raw commands need Valkey (memory-only mode has none)",
        );
        vec![Err(err); count]
      }
      Store::Standalone(pool) => send_to_node(pool.as_ref(), cmds).await,
      Store::Cluster(pool) => pool.send(cmds).await,
    }
  }
}

/// Where the executor sends a batch's commands: a `Store`, or the JS thread's own connection to
/// a node (`direct`). The memory store is not sent commands: the executor calls it directly.
#[allow(async_fn_in_trait)]
pub trait Sink {
  /// The in-process store, when that is what this is.
  fn memory(&self) -> Option<&MemoryStore>;
  /// One reply (or error) per command, in the order given (see `Store::send`).
  async fn send(&self, cmds: Vec<Routed<'_>>) -> Vec<Result<Value>>;
}

impl Sink for Store {
  fn memory(&self) -> Option<&MemoryStore> {
    match self {
      Store::Memory(m) => Some(m),
      _ => None,
    }
  }

  async fn send(&self, cmds: Vec<Routed<'_>>) -> Vec<Result<Value>> {
    Store::send(self, cmds).await
  }
}

impl Pipelines for NodePool {
  async fn pipeline(&self, pipe: &Pipeline, count: usize) -> Result<Vec<Value>> {
    NodePool::pipeline(self, pipe, count).await
  }
}

/// The one place that dispatches on the kind of store.
impl Backend for Store {
  async fn warm_up(&self) {
    match self {
      Store::Memory(m) => m.warm_up().await,
      Store::Standalone(p) => p.warm_up().await,
      Store::Cluster(p) => p.warm_up().await,
    }
  }

  async fn ping(&self) -> Result<()> {
    match self {
      Store::Memory(m) => m.ping().await,
      Store::Standalone(p) => p.ping().await,
      Store::Cluster(p) => p.ping().await,
    }
  }

  async fn delete_matching(&self, pattern: &[u8], count: usize) -> Result<u64> {
    match self {
      Store::Memory(m) => Backend::delete_matching(m, pattern, count).await,
      Store::Standalone(p) => p.delete_matching(pattern, count).await,
      Store::Cluster(p) => p.delete_matching(pattern, count).await,
    }
  }

  fn close(&self) {
    match self {
      Store::Memory(m) => m.close(),
      Store::Standalone(p) => p.close(),
      Store::Cluster(p) => p.close(),
    }
  }

  async fn scan_keys(&self, at: ScanPosition, pattern: &[u8], count: usize) -> Result<KeysPage> {
    match self {
      Store::Memory(m) => m.scan_keys(at, pattern, count).await,
      Store::Standalone(p) => p.scan_keys(at, pattern, count).await,
      Store::Cluster(p) => p.scan_keys(at, pattern, count).await,
    }
  }

  fn bus_clients(&self) -> Option<BusClients> {
    match self {
      Store::Memory(m) => m.bus_clients(),
      Store::Standalone(p) => p.bus_clients(),
      Store::Cluster(p) => p.bus_clients(),
    }
  }
}
