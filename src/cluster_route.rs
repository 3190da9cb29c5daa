//! The direct path to a Valkey Cluster: a slot table read from `CLUSTER SLOTS` and a pool of
//! multiplexed connections per primary (the same pools as for a single node: fail-fast backoff
//! included), so a batch costs one pipeline per primary. The table is refreshed, at most every
//! `REFRESH_EVERY` and one refresh at a time, whenever a reply or a failure says it may be out of
//! date; until it is known the cluster client routes everything.

use crate::client::{client_for, lock, NodeConfig, NodePool};
use crate::cluster_nodes::{slot_ranges, Addr};
use crate::error::Result;
use redis::cluster_async::ClusterConnection;
use redis::{ConnectionAddr, ConnectionInfo, RedisError, RetryMethod, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Hash slots of a Valkey Cluster.
pub const SLOTS: u16 = 16384;
const UNKNOWN: u16 = u16::MAX;
const REFRESH_EVERY: Duration = Duration::from_millis(100);

/// The hash slot of a key: CRC16 (XMODEM) of its `{hash tag}` if it has a non-empty one.
pub fn slot_of(key: &[u8]) -> u16 {
  let tagged = key.iter().position(|b| *b == b'{').and_then(|open| {
    let rest = &key[open + 1..];
    let close = rest.iter().position(|b| *b == b'}')?;
    (close > 0).then(|| &rest[..close])
  });
  let mut crc: u16 = 0;
  for b in tagged.unwrap_or(key) {
    crc ^= u16::from(*b) << 8;
    for _ in 0..8 {
      crc = if crc & 0x8000 != 0 {
        (crc << 1) ^ 0x1021
      } else {
        crc << 1
      };
    }
  }
  crc % SLOTS
}

/// Whether a reply says the command was not run and the cluster wants it elsewhere or later
/// (MOVED, ASK, TRYAGAIN, CLUSTERDOWN, READONLY, LOADING…).
pub fn redirected(v: &Value) -> Option<RetryMethod> {
  let Value::ServerError(e) = v else {
    return None;
  };
  match RedisError::from(e.clone()).retry_method() {
    RetryMethod::NoRetry => None,
    m => Some(m),
  }
}

/// Which primary serves each slot, and a pool per primary.
pub struct Topology {
  slots: Vec<u16>,
  nodes: Vec<(Addr, Arc<NodePool>)>,
}

impl Topology {
  /// The index of the pool serving `slot`, if known.
  pub fn node_of(&self, slot: u16) -> Option<usize> {
    let n = *self.slots.get(usize::from(slot))?;
    (n != UNKNOWN).then_some(usize::from(n))
  }

  pub fn pool(&self, node: usize) -> &Arc<NodePool> {
    &self.nodes[node].1
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
  fn build(&self, ranges: Vec<(u16, u16, Addr)>) -> Result<Topology> {
    let old = self
      .current
      .read()
      .unwrap_or_else(|e| e.into_inner())
      .clone();
    let mut t = Topology {
      slots: vec![UNKNOWN; usize::from(SLOTS)],
      nodes: Vec::new(),
    };
    for (from, to, addr) in ranges {
      let n = match t.nodes.iter().position(|(a, _)| *a == addr) {
        Some(n) => n,
        None => {
          let known = old
            .as_ref()
            .and_then(|o| o.nodes.iter().find(|(a, _)| *a == addr));
          let pool = match known {
            Some((_, pool)) => pool.clone(),
            None => Arc::new(self.pool_for(&addr)?),
          };
          t.nodes.push((addr, pool));
          t.nodes.len() - 1
        }
      };
      // Bounds come from the network: a range that does not fit the table is skipped, never a panic.
      if let Some(slots) = t.slots.get_mut(usize::from(from)..=usize::from(to)) {
        slots.fill(n as u16);
      }
    }
    Ok(t)
  }

  /// A pool for one primary: the seed's scheme and credentials, the primary's host and port.
  fn pool_for(&self, (host, port): &Addr) -> Result<NodePool> {
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
    let addr = ("127.0.0.1".to_string(), 1u16);
    let t = router
      .build(vec![(100, 50, addr.clone()), (7, 9, addr)])
      .unwrap();
    assert_eq!(t.node_of(60), None);
    assert_eq!(t.node_of(8), Some(0));
  }

  #[test]
  fn computes_hash_slots_like_valkey() {
    // Values from CLUSTER KEYSLOT.
    assert_eq!(slot_of(b"foo"), 12182);
    assert_eq!(slot_of(b"123456789"), 12739);
    assert_eq!(slot_of(b"{user1000}.following"), slot_of(b"user1000"));
    assert_eq!(slot_of(b"foo{}{bar}"), slot_of(b"foo{}{bar}"));
    assert_ne!(slot_of(b"foo{}{bar}"), slot_of(b"bar"));
    assert_eq!(slot_of(b"foo{{bar}}zap"), slot_of(b"{bar"));
    assert_eq!(slot_of(b""), 0);
  }

  #[test]
  fn recognizes_redirections() {
    let reply = |resp: &[u8]| redis::parse_redis_value(resp).unwrap();
    let moved = reply(b"-MOVED 3999 127.0.0.1:6381\r\n");
    assert!(matches!(
      redirected(&moved),
      Some(RetryMethod::MovedRedirect)
    ));
    let ask = reply(b"-ASK 3999 127.0.0.1:6381\r\n");
    assert!(matches!(redirected(&ask), Some(RetryMethod::AskRedirect)));
    assert!(redirected(&reply(b"-TRYAGAIN keys moving\r\n")).is_some());
    assert!(redirected(&reply(b"-ERR wrong number of arguments\r\n")).is_none());
    assert!(redirected(&reply(b"-CROSSSLOT keys\r\n")).is_none());
    assert!(redirected(&Value::Okay).is_none());
  }
}
