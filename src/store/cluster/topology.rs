//! The direct path to a Valkey Cluster: a slot table read from `CLUSTER SLOTS` and a pool of
//! multiplexed connections per primary (the same pools as for a single node: fail-fast backoff
//! included), so a batch costs one pipeline per primary. The table is refreshed, at most every
//! `REFRESH_EVERY` and one refresh at a time, whenever a reply or a failure says it may be out of
//! date; until it is known the cluster client routes everything.

use crate::error::Result;
use crate::store::cluster::nodes::{slot_ranges, NodeAddr, SlotRange};
use crate::store::cluster::slots::SLOTS;
use crate::store::standalone::{client_for, lock, NodeConfig, NodePool};
use redis::cluster_async::ClusterConnection;
use redis::{ConnectionAddr, ConnectionInfo};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

const UNKNOWN: u16 = u16::MAX;
const REFRESH_EVERY: Duration = Duration::from_millis(100);

/// Which primary serves each slot, and a pool per primary.
pub struct Topology {
  slots: Vec<u16>,
  nodes: Vec<Primary>,
}

/// A primary and the pool of connections to it.
struct Primary {
  addr: NodeAddr,
  pool: Arc<NodePool>,
}

impl Topology {
  /// The index of the pool serving `slot`, if known.
  pub fn node_of(&self, slot: u16) -> Option<usize> {
    let n = *self.slots.get(usize::from(slot))?;
    (n != UNKNOWN).then_some(usize::from(n))
  }

  pub fn pool(&self, node: usize) -> &Arc<NodePool> {
    &self.nodes[node].pool
  }
}

pub struct Router {
  seed: ConnectionInfo,
  node: NodeConfig,
  current: RwLock<Option<Arc<Topology>>>,
  stale: AtomicBool,
  refreshing: tokio::sync::Mutex<()>,
  last: Mutex<Option<Instant>>,
}

impl Router {
  /// `seed`: connection details (scheme, credentials, db) every primary shares; `node`: the pool
  /// settings (its `url` is not used).
  pub fn new(seed: ConnectionInfo, node: NodeConfig) -> Self {
    Router {
      seed,
      node,
      current: RwLock::new(None),
      stale: AtomicBool::new(true),
      refreshing: tokio::sync::Mutex::new(()),
      last: Mutex::new(None),
    }
  }

  /// Drops the table and with it the connections to the primaries (on close).
  pub fn clear(&self) {
    self
      .current
      .write()
      .unwrap_or_else(|e| e.into_inner())
      .take();
  }

  /// The table may be out of date: the next batch re-reads it (throttled).
  pub fn mark_stale(&self) {
    self.stale.store(true, Ordering::Release);
  }

  /// The current table, re-read first when it is stale and no other refresh is running.
  pub async fn topology(&self, conn: &ClusterConnection) -> Option<Arc<Topology>> {
    if self.stale.load(Ordering::Acquire) {
      self.refresh(conn).await;
    }
    self
      .current
      .read()
      .unwrap_or_else(|e| e.into_inner())
      .clone()
  }

  async fn refresh(&self, conn: &ClusterConnection) {
    let Ok(_one) = self.refreshing.try_lock() else {
      return;
    };
    if lock(&self.last).is_some_and(|at| at.elapsed() < REFRESH_EVERY) {
      return;
    }
    *lock(&self.last) = Some(Instant::now());
    self.stale.store(false, Ordering::Release);
    match slot_ranges(conn)
      .await
      .and_then(|ranges| self.build(ranges))
    {
      Ok(t) => *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(t)),
      Err(_) => self.mark_stale(),
    }
  }

  /// A table from `CLUSTER SLOTS` ranges, keeping the pools of primaries it already knew.
  fn build(&self, ranges: Vec<SlotRange>) -> Result<Topology> {
    let old = self
      .current
      .read()
      .unwrap_or_else(|e| e.into_inner())
      .clone();
    let mut t = Topology {
      slots: vec![UNKNOWN; usize::from(SLOTS)],
      nodes: Vec::new(),
    };
    for SlotRange {
      first,
      last,
      primary: addr,
    } in ranges
    {
      let n = match t.nodes.iter().position(|p| p.addr == addr) {
        Some(n) => n,
        None => {
          let known = old
            .as_ref()
            .and_then(|o| o.nodes.iter().find(|p| p.addr == addr));
          let pool = match known {
            Some(p) => p.pool.clone(),
            None => Arc::new(self.pool_for(&addr)?),
          };
          t.nodes.push(Primary { addr, pool });
          t.nodes.len() - 1
        }
      };
      // Bounds come from the network: a range that does not fit the table is skipped, never a panic.
      if let Some(slots) = t.slots.get_mut(usize::from(first)..=usize::from(last)) {
        slots.fill(n as u16);
      }
    }
    Ok(t)
  }

  /// A pool for one primary: the seed's scheme and credentials, the primary's host and port.
  fn pool_for(&self, NodeAddr { host, port }: &NodeAddr) -> Result<NodePool> {
    let addr = match self.seed.addr() {
      ConnectionAddr::TcpTls { insecure, .. } => ConnectionAddr::TcpTls {
        host: host.clone(),
        port: *port,
        insecure: *insecure,
        tls_params: None,
      },
      _ => ConnectionAddr::Tcp(host.clone(), *port),
    };
    let client = client_for(
      self.seed.clone().set_addr(addr),
      self.node.tls_ca.as_deref(),
    )?;
    Ok(NodePool::with_client(client, &self.node))
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  /// A table built from ranges that do not fit (start past end) skips them instead of panicking.
  #[test]
  fn inverted_ranges_never_panic() {
    use redis::IntoConnectionInfo;
    let node = NodeConfig {
      url: String::new(),
      pool_size: 1,
      connect_timeout: std::time::Duration::from_millis(100),
      command_timeout: std::time::Duration::from_millis(100),
      tls_ca: None,
    };
    let router = Router::new("redis://127.0.0.1:1".into_connection_info().unwrap(), node);
    let range = |first, last| SlotRange {
      first,
      last,
      primary: NodeAddr {
        host: "127.0.0.1".into(),
        port: 1,
      },
    };
    let t = router.build(vec![range(100, 50), range(7, 9)]).unwrap();
    assert_eq!(t.node_of(60), None);
    assert_eq!(t.node_of(8), Some(0));
  }
}
