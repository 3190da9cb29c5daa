//! The primaries of a Valkey Cluster, read from a fresh `CLUSTER SLOTS`: the slot table of the
//! direct path, and the commands that must reach every primary: PING (health) and SCAN + UNLINK
//! (`deleteMatching`/`clear`), sent through the cluster client's own connection to each primary
//! (same TLS and credentials).

use crate::error::{CacheError, ErrorKind, Result};
use crate::store::cluster::slot_pipelines::{run, Item};
use crate::store::cluster::slots::{slot_of, SLOTS};
use crate::store::command::{checked, miscount};
use crate::store::keyspace::is_internal;
use futures_util::future::join_all;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, Value};
use std::collections::HashMap;

/// PING on every primary that owns slots: fails unless all of them answer.
pub async fn ping(conn: &ClusterConnection) -> Result<()> {
  let pings = primaries(conn).await?.into_iter().map(|node| {
    let mut conn = conn.clone();
    async move {
      let reply = conn.route_command(redis::cmd("PING"), node).await;
      checked(reply.map_err(CacheError::from))
    }
  });
  for r in join_all(pings).await {
    r?;
  }
  Ok(())
}

/// SCAN + UNLINK on every primary (all at once); returns how many keys were deleted.
pub async fn delete_matching(
  conn: &ClusterConnection,
  pattern: &[u8],
  count: usize,
) -> Result<u64> {
  let scans = primaries(conn)
    .await?
    .into_iter()
    .map(|node| scan_delete(conn, node, pattern, count));
  let mut deleted = 0;
  for r in join_all(scans).await {
    deleted += r?;
  }
  Ok(deleted)
}

/// One SCAN page of the `node`-th primary (in `CLUSTER SLOTS` order): (primaries, next cursor, keys).
/// Used by `keys()`, which walks the primaries one after another with bounded pages.
pub async fn scan_page(
  conn: &ClusterConnection,
  node: usize,
  cursor: u64,
  pattern: &[u8],
  count: usize,
) -> Result<(usize, u64, Vec<Vec<u8>>)> {
  let nodes = primaries(conn).await?;
  let Some(route) = nodes.get(node).cloned() else {
    return Ok((nodes.len(), 0, Vec::new()));
  };
  let mut scan = redis::cmd("SCAN");
  scan
    .arg(cursor)
    .arg("MATCH")
    .arg(pattern)
    .arg("COUNT")
    .arg(count);
  let reply = conn.clone().route_command(scan, route).await;
  let reply = checked(reply.map_err(CacheError::from))?;
  let (next, keys): (u64, Vec<Vec<u8>>) =
    redis::from_redis_value(reply).map_err(redis::RedisError::from)?;
  Ok((nodes.len(), next, keys))
}

/// A primary's address as `CLUSTER SLOTS` gives it.
pub type Addr = (String, u16);

/// Routes to every primary that owns slots, from a fresh `CLUSTER SLOTS`. A primary that is down
/// is still listed, so using it fails instead of silently skipping its keys.
async fn primaries(conn: &ClusterConnection) -> Result<Vec<RoutingInfo>> {
  let mut out: Vec<Addr> = Vec::new();
  for (_, _, addr) in slot_ranges(conn).await? {
    if !out.contains(&addr) {
      out.push(addr);
    }
  }
  Ok(
    out
      .into_iter()
      .map(|(host, port)| RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port }))
      .collect(),
  )
}

/// `CLUSTER SLOTS` (asked of any node): (first slot, last slot, primary) per range.
pub async fn slot_ranges(conn: &ClusterConnection) -> Result<Vec<(u16, u16, Addr)>> {
  let random = RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random);
  let mut ask = redis::cmd("CLUSTER");
  ask.arg("SLOTS");
  let reply = conn.clone().route_command(ask, random).await;
  parse_slot_ranges(checked(reply.map_err(CacheError::from))?)
}

/// Reads a `CLUSTER SLOTS` reply. Nothing from the network is trusted: ranges whose bounds are
/// not slots, or whose start is past its end, are skipped (their slots stay unknown and go
/// through the cluster client); a reply of the wrong shape is an error, never a panic.
pub fn parse_slot_ranges(reply: Value) -> Result<Vec<(u16, u16, Addr)>> {
  let Value::Array(ranges) = reply else {
    return Err(CacheError::new(
      ErrorKind::Server,
      "unexpected reply to CLUSTER SLOTS",
    ));
  };
  let mut out = Vec::with_capacity(ranges.len());
  for range in ranges {
    let Value::Array(items) = range else { continue };
    let (Some(Value::Int(from)), Some(Value::Int(to)), Some(Value::Array(node))) =
      (items.first(), items.get(1), items.get(2))
    else {
      continue;
    };
    let slot = |n: i64| u16::try_from(n).ok().filter(|s| *s < SLOTS);
    let (Some(from), Some(to)) = (slot(*from), slot(*to)) else {
      continue;
    };
    if from > to {
      continue;
    }
    let addr = node_address(node).ok_or_else(|| {
      CacheError::new(
        ErrorKind::Server,
        format!("CLUSTER SLOTS names a primary without a usable address: {node:?}"),
      )
    })?;
    out.push((from, to, addr));
  }
  Ok(out)
}

/// `[endpoint, port, id, {ip, hostname…}]` → (host, port); the metadata ip when the endpoint is
/// empty or unknown.
fn node_address(node: &[Value]) -> Option<(String, u16)> {
  let text = |v: &Value| match v {
    Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
    Value::SimpleString(s) => Some(s.clone()),
    _ => None,
  };
  let port = match node.get(1)? {
    Value::Int(p) => u16::try_from(*p).ok()?,
    _ => return None,
  };
  let endpoint = node
    .first()
    .and_then(text)
    .filter(|h| !h.is_empty() && h != "?");
  let ip = || match node.get(3)? {
    Value::Map(meta) => meta
      .iter()
      .find(|(k, _)| text(k).as_deref() == Some("ip"))
      .and_then(|(_, v)| text(v)),
    Value::Array(meta) => meta
      .chunks(2)
      .find(|kv| kv.first().and_then(text).as_deref() == Some("ip"))
      .and_then(|kv| kv.get(1).and_then(text)),
    _ => None,
  };
  Some((endpoint.or_else(ip)?, port))
}

/// SCAN one primary with MATCH, UNLINK each page per slot group; returns how many were deleted.
async fn scan_delete(
  conn: &ClusterConnection,
  node: RoutingInfo,
  pattern: &[u8],
  count: usize,
) -> Result<u64> {
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
    let mut by_slot: HashMap<u16, Cmd> = HashMap::new();
    // Internal keys (tag markers, leases) are never a user's to delete.
    for k in keys.iter().filter(|k| !is_internal(k)) {
      by_slot
        .entry(slot_of(k))
        .or_insert_with(|| redis::cmd("UNLINK"))
        .arg(k);
    }
    let items: Vec<Item> = by_slot
      .into_iter()
      .enumerate()
      .map(|(i, (slot, cmd))| (i, Some(slot), cmd))
      .collect();
    let mut replies: Vec<Option<Result<Value>>> = (0..items.len()).map(|_| None).collect();
    run(conn, items, &mut replies).await;
    for r in replies {
      let r = r.unwrap_or_else(|| Err(miscount(0, 1)));
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

  fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
  }

  /// A range whose start is past its end (or out of the slot space) is skipped, not a panic.
  #[test]
  fn odd_slot_ranges_are_skipped() {
    let node = || Value::Array(vec![bulk("10.0.0.1"), Value::Int(7000), bulk("id")]);
    let range = |a: i64, b: i64| Value::Array(vec![Value::Int(a), Value::Int(b), node()]);
    let reply = Value::Array(vec![
      range(100, 50),
      range(0, 16383),
      range(-1, 5),
      range(5, 16384),
      Value::Int(3),
    ]);
    let ranges = parse_slot_ranges(reply).unwrap();
    assert_eq!(ranges, vec![(0, 16383, ("10.0.0.1".to_string(), 7000))]);
    assert!(parse_slot_ranges(Value::Nil).is_err());
  }

  #[test]
  fn reads_node_addresses_from_cluster_slots() {
    let node = [bulk("10.0.0.1"), Value::Int(7000), bulk("id")];
    assert_eq!(node_address(&node), Some(("10.0.0.1".into(), 7000)));
    let meta = Value::Map(vec![(bulk("ip"), bulk("10.0.0.2"))]);
    let unknown = [bulk("?"), Value::Int(7001), bulk("id"), meta];
    assert_eq!(node_address(&unknown), Some(("10.0.0.2".into(), 7001)));
    assert_eq!(node_address(&[bulk(""), Value::Int(1)]), None);
    assert_eq!(node_address(&[bulk("h"), Value::Int(70000)]), None);
  }
}
