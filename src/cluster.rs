//! Valkey Cluster. The cluster client follows MOVED/ASK and refreshes the topology on its own,
//! but it sends a pipeline to one node only, so a batch is split here: commands are grouped by
//! the hash slot of their routing key, each group goes to the slot's primary as one pipeline
//! (all groups at once), and the replies are put back in the batch's order. Commands of one slot
//! keep their relative order; keyless commands (PUBLISH) go to any node after the keyed ones, so
//! an announcement never overtakes the writes it announces. Connects lazily with the same
//! fail-fast backoff as a single node.

use crate::client::{invalid_url, lock, open_client, Backoff};
use crate::error::{CacheError, ErrorKind, Result};
use crate::store::{checked, miscount, Routed};
use futures_util::future::join_all;
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{
  MultipleNodeRoutingInfo, ResponsePolicy, Route, RoutingInfo, SingleNodeRoutingInfo, Slot,
  SlotAddr,
};
use redis::io::tcp::TcpSettings;
use redis::{Cmd, Pipeline, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Redirections (MOVED/ASK) and topology refreshes a request may go through before it fails.
const RETRIES: u32 = 5;
const RETRY_WAIT_MIN_MS: u64 = 5;
const RETRY_WAIT_MAX_MS: u64 = 100;

#[derive(Clone, Debug)]
pub struct ClusterConfig {
  /// Seed node URLs (`redis://` or `rediss://`, same credentials on all).
  pub seeds: Vec<String>,
  pub pool_size: usize,
  pub connect_timeout: Duration,
  pub command_timeout: Duration,
  pub tls_ca: Option<Vec<u8>>,
}

struct Lane {
  conn: Mutex<Option<ClusterConnection>>,
  connecting: tokio::sync::Mutex<()>,
}

pub struct ClusterPool {
  client: ClusterClient,
  /// One client per seed, for the pub/sub bus (regular PUBLISH reaches every node).
  seeds: Vec<redis::Client>,
  connect_timeout: Duration,
  command_timeout: Duration,
  lanes: Vec<Lane>,
  next: AtomicUsize,
  backoff: Mutex<Backoff>,
}

type Group = (Pipeline, Vec<usize>);

impl ClusterPool {
  pub fn new(cfg: &ClusterConfig) -> Result<Self> {
    if cfg.seeds.is_empty() {
      return Err(CacheError::new(
        ErrorKind::InvalidOption,
        "nodes must list at least one redis:// or rediss:// seed URL",
      ));
    }
    let tls = cfg.seeds[0].starts_with("rediss://");
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
    let ca = cfg.tls_ca.as_deref().filter(|_| tls);
    let seeds = cfg
      .seeds
      .iter()
      .map(|url| open_client(url, ca))
      .collect::<Result<Vec<_>>>()?;
    let lanes = (0..cfg.pool_size.max(1))
      .map(|_| Lane {
        conn: Mutex::new(None),
        connecting: tokio::sync::Mutex::new(()),
      })
      .collect();
    Ok(ClusterPool {
      client,
      seeds,
      connect_timeout: cfg.connect_timeout,
      command_timeout: cfg.command_timeout,
      lanes,
      next: AtomicUsize::new(0),
      backoff: Mutex::new(Backoff::default()),
    })
  }

  pub fn seeds(&self) -> &[redis::Client] {
    &self.seeds
  }

  pub fn connect_timeout(&self) -> Duration {
    self.connect_timeout
  }

  pub fn size(&self) -> usize {
    self.lanes.len()
  }

  /// A cluster connection, round-robin over `pool_size`, connecting it if needed.
  pub async fn connection(&self) -> Result<ClusterConnection> {
    let idx = self.next.fetch_add(1, Ordering::Relaxed) % self.lanes.len();
    self.connection_at(idx).await
  }

  pub async fn connection_at(&self, idx: usize) -> Result<ClusterConnection> {
    let lane = &self.lanes[idx];
    if let Some(c) = lock(&lane.conn).clone() {
      return Ok(c);
    }
    let _guard = lane.connecting.lock().await;
    if let Some(c) = lock(&lane.conn).clone() {
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
      *lock(&lane.conn) = Some(c.clone());
    }
    result
  }

  /// Forgets a lane's connection (on close).
  pub fn discard(&self, idx: usize) {
    lock(&self.lanes[idx].conn).take();
  }

  /// Sends commands split by slot; one reply per command, in order.
  pub async fn send(&self, cmds: Vec<Routed<'_>>) -> Vec<Result<Value>> {
    let count = cmds.len();
    let conn = match self.connection().await {
      Ok(c) => c,
      Err(e) => return vec![Err(e); count],
    };
    let routed = cmds
      .into_iter()
      .map(|r| ((!r.key.is_empty()).then(|| Slot::for_key(r.key)), r.cmd));
    run(&conn, routed, count).await
  }

  /// PING on every primary: fails unless all of them answer.
  pub async fn ping(&self) -> Result<()> {
    let mut conn = self.connection().await?;
    let all = RoutingInfo::MultiNode((
      MultipleNodeRoutingInfo::AllMasters,
      Some(ResponsePolicy::AllSucceeded),
    ));
    checked(
      conn
        .route_command(redis::cmd("PING"), all)
        .await
        .map_err(CacheError::from),
    )
    .map(drop)
  }

  /// SCAN + UNLINK on every primary (all at once); UNLINKs are grouped per slot, never
  /// cross-slot. Fails if a primary cannot be scanned, rather than leave its keys behind.
  pub async fn delete_matching(&self, pattern: &[u8], count: usize) -> Result<u64> {
    let conn = self.connection().await?;
    let nodes = primaries(&conn).await?;
    let scans = nodes
      .into_iter()
      .map(|(host, port)| scan_delete(&conn, host, port, pattern, count));
    let mut deleted = 0;
    for r in join_all(scans).await {
      deleted += r?;
    }
    Ok(deleted)
  }
}

/// Groups commands by slot, sends each group as one pipeline to its slot's primary (keyless ones
/// to any node, after the others) and returns the replies in input order.
async fn run(
  conn: &ClusterConnection,
  cmds: impl Iterator<Item = (Option<Slot>, Cmd)>,
  count: usize,
) -> Vec<Result<Value>> {
  let mut groups: HashMap<Slot, Group> = HashMap::new();
  let mut keyless: Group = (redis::pipe(), Vec::new());
  for (i, (slot, cmd)) in cmds.enumerate() {
    let group = match slot {
      Some(s) => groups
        .entry(s)
        .or_insert_with(|| (redis::pipe(), Vec::new())),
      None => &mut keyless,
    };
    group.0.add_command(cmd);
    group.1.push(i);
  }
  let mut out: Vec<Option<Result<Value>>> = (0..count).map(|_| None).collect();
  let sends = groups.into_iter().map(|(slot, group)| {
    let route = SingleNodeRoutingInfo::SpecificNode(Route::with_slot(slot, SlotAddr::Master));
    send_group(conn.clone(), route, group)
  });
  for (idx, res) in join_all(sends).await {
    place(&mut out, idx, res);
  }
  if !keyless.1.is_empty() {
    let (idx, res) = send_group(conn.clone(), SingleNodeRoutingInfo::Random, keyless).await;
    place(&mut out, idx, res);
  }
  out
    .into_iter()
    .map(|o| o.unwrap_or_else(|| Err(miscount(0, 1))))
    .collect()
}

async fn send_group(
  mut conn: ClusterConnection,
  route: SingleNodeRoutingInfo,
  (pipe, idx): Group,
) -> (Vec<usize>, redis::RedisResult<Vec<Value>>) {
  let n = idx.len();
  let res = conn.route_pipeline(pipe, 0, n, route).await;
  (idx, res)
}

fn place(out: &mut [Option<Result<Value>>], idx: Vec<usize>, res: redis::RedisResult<Vec<Value>>) {
  let err = match res {
    Ok(values) if values.len() == idx.len() => {
      for (i, v) in idx.into_iter().zip(values) {
        out[i] = Some(Ok(v));
      }
      return;
    }
    Ok(values) => miscount(values.len(), idx.len()),
    Err(e) => CacheError::from(e),
  };
  for i in idx {
    out[i] = Some(Err(err.clone()));
  }
}

/// The primaries as the cluster connection knows them (`host`, `port`), asked with one PING each
/// so a primary that cannot be reached is an error, not a silently skipped node.
async fn primaries(conn: &ClusterConnection) -> Result<Vec<(String, u16)>> {
  let all = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
  let reply = conn
    .clone()
    .route_command(redis::cmd("PING"), all)
    .await
    .map_err(CacheError::from)?;
  let Value::Map(pairs) = reply else {
    return Err(CacheError::new(
      ErrorKind::Internal,
      format!("unexpected reply listing the cluster primaries: {reply:?}"),
    ));
  };
  let mut out = Vec::with_capacity(pairs.len());
  for (addr, pong) in pairs {
    checked(Ok(pong))?;
    let addr: String = redis::from_redis_value(addr).map_err(redis::RedisError::from)?;
    let parsed = addr
      .rsplit_once(':')
      .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)));
    out.push(parsed.ok_or_else(|| {
      CacheError::new(
        ErrorKind::Internal,
        format!("unexpected cluster node address {addr:?}"),
      )
    })?);
  }
  Ok(out)
}

/// SCAN one primary with MATCH, UNLINK each page per slot group; returns how many were deleted.
async fn scan_delete(
  conn: &ClusterConnection,
  host: String,
  port: u16,
  pattern: &[u8],
  count: usize,
) -> Result<u64> {
  let node = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port });
  let mut cursor: u64 = 0;
  let mut deleted = 0u64;
  loop {
    let mut scan = redis::cmd("SCAN");
    scan
      .arg(cursor)
      .arg("MATCH")
      .arg(pattern)
      .arg("COUNT")
      .arg(count);
    let reply = conn.clone().route_command(scan, node.clone()).await;
    let reply = checked(reply.map_err(CacheError::from))?;
    let (next, keys): (u64, Vec<Vec<u8>>) =
      redis::from_redis_value(reply).map_err(redis::RedisError::from)?;
    let mut by_slot: HashMap<Slot, Cmd> = HashMap::new();
    for k in &keys {
      by_slot
        .entry(Slot::for_key(k))
        .or_insert_with(|| redis::cmd("UNLINK"))
        .arg(k);
    }
    let n = by_slot.len();
    let replies = run(conn, by_slot.into_iter().map(|(s, c)| (Some(s), c)), n).await;
    for r in replies {
      if let Value::Int(d) = checked(r)? {
        deleted += d.max(0) as u64;
      }
    }
    if next == 0 {
      return Ok(deleted);
    }
    cursor = next;
  }
}

#[cfg(test)]
mod tests {
  use super::*;

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
    let rt = tokio::runtime::Builder::new_current_thread()
      .enable_all()
      .build()
      .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
      .unwrap()
      .local_addr()
      .unwrap()
      .port();
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
