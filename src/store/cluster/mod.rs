//! Valkey Cluster. A batch is split by the hash slot of each command's routing key (empty = any
//! node). Keyed commands go straight to their slot's primary, one pipeline per primary, all at
//! once (see `topology`); the replies are put back in the batch's order. The cluster client
//! (which follows MOVED/ASK and refreshes its topology on its own) carries what the direct path
//! cannot: commands answered with a redirection (they were not run) are sent again through it,
//! per slot, and so is everything until the slot table is known. Keyless commands (PUBLISH) go
//! through it to any node after the keyed ones, so an announcement never overtakes the writes it
//! announces. Commands of one slot keep their relative order; commands of different slots run
//! concurrently, with no order between them (one node's pipeline would have one). Connects
//! lazily with the same fail-fast backoff as a single node.
//!
//! Files: `slots` (hash slot of a key, redirections), `topology` (the slot table and a pool per
//! primary: the direct path), `slot_pipelines` (the cluster client's path, one pipeline per
//! slot), `nodes` (commands for every primary: PING, SCAN + UNLINK, and reading `CLUSTER
//! SLOTS`). Imports `store::standalone` for the per-primary pools and `store::command`.

pub(crate) mod nodes;
mod slot_pipelines;
pub mod slots;
mod topology;

use crate::error::{CacheError, ErrorKind, Result};
use crate::store::backend::{Backend, BusClients, KeysPage, ScanPosition};
use crate::store::backoff::Backoff;
use crate::store::cluster::slot_pipelines::{route, run, Replies, SlotCommand};
use crate::store::cluster::slots::{redirected, slot_of};
use crate::store::cluster::topology::{Router, Topology};
use crate::store::command::{miscount, Routed};
use crate::store::standalone::{command_timed_out, invalid_url, lock, open_client, NodeConfig};
use futures_util::future::join_all;
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::RoutingInfo;
use redis::io::tcp::TcpSettings;
use redis::{IntoConnectionInfo, Pipeline, RetryMethod, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Redirections (MOVED/ASK) and topology refreshes a request through the cluster client may go
/// through before it fails.
const RETRIES: u32 = 2;
const RETRY_WAIT_MIN_MS: u64 = 5;
const RETRY_WAIT_MAX_MS: u64 = 100;

#[derive(Clone, Debug)]
pub struct ClusterConfig {
  /// Seed node URLs (`redis://` or `rediss://`, same credentials on all).
  pub seeds: Vec<String>,
  /// Connections to each primary.
  pub pool_size: usize,
  pub connect_timeout: Duration,
  pub command_timeout: Duration,
  pub tls_ca: Option<Vec<u8>>,
}

pub struct ClusterPool {
  client: ClusterClient,
  /// One client per seed, for the pub/sub bus (regular PUBLISH reaches every node).
  seeds: Vec<redis::Client>,
  router: Router,
  connect_timeout: Duration,
  command_timeout: Duration,
  conn: Mutex<Option<ClusterConnection>>,
  connecting: tokio::sync::Mutex<()>,
  backoff: Mutex<Backoff>,
}

/// A pipeline for one primary (the direct path).
struct PrimaryPipeline {
  pipe: Pipeline,
  /// Per command in `pipe`: where its reply goes in the batch, and its slot.
  placed: Vec<Placed>,
}

struct Placed {
  index: usize,
  slot: u16,
}

impl ClusterPool {
  pub fn new(cfg: &ClusterConfig) -> Result<Self> {
    let Some(first) = cfg.seeds.first() else {
      return Err(CacheError::new(
        ErrorKind::InvalidOption,
        "nodes must list at least one redis:// or rediss:// seed URL",
      ));
    };
    let tls = first.starts_with("rediss://");
    let mut builder = ClusterClientBuilder::new(cfg.seeds.iter().map(String::as_str))
      .connection_timeout(cfg.connect_timeout)
      .response_timeout(cfg.command_timeout)
      .retries(RETRIES)
      .min_retry_wait(RETRY_WAIT_MIN_MS)
      .max_retry_wait(RETRY_WAIT_MAX_MS)
      .tcp_settings(TcpSettings::default().set_nodelay(true));
    if let (true, Some(ca)) = (tls, &cfg.tls_ca) {
      builder = builder.certs(redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(ca.clone()),
      });
    }
    let client = builder.build().map_err(invalid_url)?;
    let ca = cfg.tls_ca.clone().filter(|_| tls);
    let seeds = cfg
      .seeds
      .iter()
      .map(|url| open_client(url, ca.as_deref()))
      .collect::<Result<Vec<_>>>()?;
    let node = NodeConfig {
      url: first.clone(),
      pool_size: cfg.pool_size.max(1),
      connect_timeout: cfg.connect_timeout,
      command_timeout: cfg.command_timeout,
      tls_ca: ca,
    };
    let seed = first.as_str().into_connection_info().map_err(invalid_url)?;
    Ok(ClusterPool {
      client,
      seeds,
      router: Router::new(seed, node),
      connect_timeout: cfg.connect_timeout,
      command_timeout: cfg.command_timeout,
      conn: Mutex::new(None),
      connecting: tokio::sync::Mutex::new(()),
      backoff: Mutex::new(Backoff::default()),
    })
  }

  /// The cluster client's connection, connecting it if needed.
  pub async fn connection(&self) -> Result<ClusterConnection> {
    if let Some(c) = lock(&self.conn).clone() {
      return Ok(c);
    }
    let _guard = self.connecting.lock().await;
    if let Some(c) = lock(&self.conn).clone() {
      return Ok(c);
    }
    lock(&self.backoff).check()?;
    // Seeds, the slot map, then every primary: allow a connect and a command round.
    let limit = self.connect_timeout + self.command_timeout;
    let result = match tokio::time::timeout(limit, self.client.get_async_connection()).await {
      Ok(Ok(c)) => Ok(c),
      Ok(Err(e)) => Err(CacheError::from(e)),
      Err(_) => Err(CacheError::new(
        ErrorKind::Connection,
        format!(
          "cannot reach the Valkey Cluster: connecting timed out after {} ms. Are the nodes up and the URLs right?",
          limit.as_millis()
        ),
      )),
    };
    lock(&self.backoff).record(&result);
    if let Ok(c) = &result {
      *lock(&self.conn) = Some(c.clone());
    }
    result
  }

  /// Sends commands split by slot; one reply per command, in order. Settles within
  /// `command_timeout` however the nodes fail (connecting and redirections included).
  pub async fn send(&self, cmds: Vec<Routed<'_>>) -> Vec<Result<Value>> {
    let count = cmds.len();
    match tokio::time::timeout(self.command_timeout, self.send_unbounded(cmds)).await {
      Ok(replies) => replies,
      Err(_) => vec![Err(command_timed_out(self.command_timeout)); count],
    }
  }

  async fn send_unbounded(&self, cmds: Vec<Routed<'_>>) -> Vec<Result<Value>> {
    let count = cmds.len();
    let conn = match self.connection().await {
      Ok(c) => c,
      Err(e) => return vec![Err(e); count],
    };
    let mut out: Vec<Option<Result<Value>>> = (0..count).map(|_| None).collect();
    let topology = self.router.topology(&conn).await;
    let mut later: Vec<SlotCommand> = Vec::new();
    let mut direct: HashMap<usize, PrimaryPipeline> = HashMap::new();
    for (i, r) in cmds.into_iter().enumerate() {
      let slot = (!r.key.is_empty()).then(|| slot_of(r.key));
      match (
        slot,
        slot.zip(topology.as_ref()).and_then(|(s, t)| t.node_of(s)),
      ) {
        (Some(s), Some(node)) => {
          let group = direct.entry(node).or_insert_with(|| PrimaryPipeline {
            pipe: redis::pipe(),
            placed: Vec::new(),
          });
          group.pipe.add_command(r.cmd);
          group.placed.push(Placed { index: i, slot: s });
        }
        (slot, _) => later.push(SlotCommand {
          index: i,
          slot,
          cmd: r.cmd,
        }),
      }
    }
    if let Some(t) = &topology {
      let asked = self.send_direct(t, direct, &mut out, &mut later).await;
      // A slot being migrated: one command at a time, each preceded by ASKING.
      for again in asked {
        let to = RoutingInfo::SingleNode(route(again.slot));
        let reply = conn.clone().route_command(again.cmd, to).await;
        out[again.index] = Some(reply.map_err(CacheError::from));
      }
    }
    run(&conn, later, &mut out).await;
    out
      .into_iter()
      .map(|o| o.unwrap_or_else(|| Err(miscount(0, 1))))
      .collect()
  }

  /// One pipeline per primary, all at once. Replies land in `out`; commands the cluster refused
  /// to run there (redirections) are pushed to `later`, or returned when answered with ASK.
  async fn send_direct(
    &self,
    t: &Topology,
    direct: HashMap<usize, PrimaryPipeline>,
    out: &mut Replies,
    later: &mut Vec<SlotCommand>,
  ) -> Vec<SlotCommand> {
    let sends = direct.into_iter().map(|(node, group)| {
      let pool = t.pool(node).clone();
      async move {
        let res = pool.pipeline(&group.pipe, group.placed.len()).await;
        (group, res)
      }
    });
    let mut asked = Vec::new();
    for (PrimaryPipeline { pipe, placed: at }, res) in join_all(sends).await {
      let err = match res {
        Ok(values) if values.len() == at.len() => {
          for ((v, p), cmd) in values.into_iter().zip(at).zip(pipe.cmd_iter()) {
            match redirected(&v) {
              None => out[p.index] = Some(Ok(v)),
              Some(how) => {
                self.router.mark_stale();
                let again = SlotCommand {
                  index: p.index,
                  slot: Some(p.slot),
                  cmd: cmd.clone(),
                };
                match how {
                  RetryMethod::AskRedirect => asked.push(again),
                  _ => later.push(again),
                }
              }
            }
          }
          continue;
        }
        Ok(values) => miscount(values.len(), at.len()),
        Err(e) => {
          self.router.mark_stale();
          e
        }
      };
      for p in at {
        out[p.index] = Some(Err(err.clone()));
      }
    }
    asked
  }
}

impl Backend for ClusterPool {
  /// Connects and reads the slot table ahead of the first request.
  async fn warm_up(&self) {
    if let Ok(conn) = self.connection().await {
      self.router.topology(&conn).await;
    }
  }

  /// PING on every primary that owns slots: fails unless all of them answer.
  async fn ping(&self) -> Result<()> {
    nodes::ping(&self.connection().await?).await
  }

  /// SCAN + UNLINK on every primary (all at once), never a cross-slot command. Fails if a
  /// primary cannot be scanned, rather than leave its keys behind.
  async fn delete_matching(&self, pattern: &[u8], count: usize) -> Result<u64> {
    nodes::delete_matching(&self.connection().await?, pattern, count).await
  }

  /// Forgets every connection.
  fn close(&self) {
    lock(&self.conn).take();
    self.router.clear();
  }

  /// The primaries one after another (in `CLUSTER SLOTS` order), each from cursor 0 to 0.
  async fn scan_keys(&self, at: ScanPosition, pattern: &[u8], count: usize) -> Result<KeysPage> {
    let conn = self.connection().await?;
    let node = at.node as usize;
    let scanned = nodes::scan_page(&conn, node, at.cursor, pattern, count).await?;
    let next = scanned.page.next;
    let (node, done) = if next != 0 {
      (at.node, false)
    } else {
      (at.node + 1, node + 1 >= scanned.primaries)
    };
    Ok(KeysPage {
      next: ScanPosition { node, cursor: next },
      keys: scanned.page.keys,
      done,
    })
  }

  fn bus_clients(&self) -> Option<BusClients> {
    Some(BusClients {
      clients: self.seeds.clone(),
      connect_timeout: self.connect_timeout,
    })
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::store::test_support::{closed_port, runtime};

  fn cfg(seeds: &[&str]) -> ClusterConfig {
    ClusterConfig {
      seeds: seeds.iter().map(|s| s.to_string()).collect(),
      pool_size: 1,
      connect_timeout: Duration::from_millis(200),
      command_timeout: Duration::from_millis(200),
      tls_ca: None,
    }
  }

  #[test]
  fn rejects_bad_seed_lists() {
    let kind = |seeds: &[&str]| ClusterPool::new(&cfg(seeds)).err().map(|e| e.kind);
    assert_eq!(kind(&[]), Some(ErrorKind::InvalidOption));
    assert_eq!(kind(&["http://nope"]), Some(ErrorKind::InvalidOption));
    assert_eq!(
      kind(&["redis://127.0.0.1:1", "rediss://127.0.0.1:2"]),
      Some(ErrorKind::InvalidOption)
    );
    assert_eq!(kind(&["redis://127.0.0.1:1", "redis://127.0.0.1:2"]), None);
  }

  #[test]
  fn fails_fast_when_no_seed_answers() {
    let rt = runtime();
    let port = closed_port();
    let pool = ClusterPool::new(&cfg(&[&format!("redis://127.0.0.1:{port}")])).unwrap();
    rt.block_on(async {
      let cmd = Routed {
        key: b"k",
        cmd: redis::cmd("GET").arg("k").clone(),
      };
      let first = pool.send(vec![cmd]).await.remove(0).unwrap_err();
      assert_eq!(first.kind, ErrorKind::Connection, "{}", first.message);
      let second = pool.ping().await.unwrap_err();
      assert!(
        second.message.contains("next reconnect attempt"),
        "{}",
        second.message
      );
    });
  }
}
