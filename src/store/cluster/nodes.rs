//! The primaries of a Valkey Cluster, read from a fresh `CLUSTER SLOTS`: the slot table of the
//! direct path, and the commands that must reach every primary: PING (health) and SCAN + UNLINK
//! (`deleteMatching`/`clear`), sent through the cluster client's own connection to each primary
//! (same TLS and credentials).

use crate::error::{CacheError, ErrorKind, Result};
use crate::store::cluster::slot_pipelines::{run, SlotCommand};
use crate::store::cluster::slots::{slot_of, SLOTS};
use crate::store::command::{checked, miscount, scan_command, unlink_scanned, ScanReply};
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
  let scans = primaries(conn).await?.into_iter().map(|node| {
    unlink_scanned(
      move |cursor| scan(conn, node.clone(), scan_command(cursor, pattern, count)),
      |keys| unlink_by_slot(conn, keys),
    )
  });
  let mut deleted = 0;
  for r in join_all(scans).await {
    deleted += r?;
  }
  Ok(deleted)
}

/// One SCAN page of one primary, and how many primaries there are.
pub struct PrimaryScan {
  pub primaries: usize,
  pub page: ScanReply,
}

/// One SCAN page of the `node`-th primary (in `CLUSTER SLOTS` order). Used by `keys()`, which
/// walks the primaries one after another with bounded pages.
pub async fn scan_page(
  conn: &ClusterConnection,
  node: usize,
  cursor: u64,
  pattern: &[u8],
  count: usize,
) -> Result<PrimaryScan> {
  let nodes = primaries(conn).await?;
  let page = match nodes.get(node).cloned() {
    Some(route) => scan(conn, route, scan_command(cursor, pattern, count)).await?,
    None => ScanReply {
      next: 0,
      keys: Vec::new(),
    },
  };
  Ok(PrimaryScan {
    primaries: nodes.len(),
    page,
  })
}

async fn scan(conn: &ClusterConnection, node: RoutingInfo, cmd: Cmd) -> Result<ScanReply> {
  let reply = conn.clone().route_command(cmd, node).await;
  ScanReply::read(reply.map_err(CacheError::from))
}

/// UNLINK `keys`, one command per slot (never a cross-slot command); returns how many were deleted.
async fn unlink_by_slot(conn: &ClusterConnection, keys: Vec<Vec<u8>>) -> Result<u64> {
  let mut by_slot: HashMap<u16, Cmd> = HashMap::new();
  for k in &keys {
    by_slot
      .entry(slot_of(k))
      .or_insert_with(|| redis::cmd("UNLINK"))
      .arg(k);
  }
  let items: Vec<SlotCommand> = by_slot
    .into_iter()
    .enumerate()
    .map(|(index, (slot, cmd))| SlotCommand {
      index,
      slot: Some(slot),
      cmd,
    })
    .collect();
  let mut replies: Vec<Option<Result<Value>>> = (0..items.len()).map(|_| None).collect();
  run(conn, items, &mut replies).await;
  let mut deleted = 0;
  for r in replies {
    let r = r.unwrap_or_else(|| Err(miscount(0, 1)));
    if let Value::Int(d) = checked(r)? {
      deleted += d.max(0) as u64;
    }
  }
  Ok(deleted)
}

/// A primary's address as `CLUSTER SLOTS` gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeAddr {
  pub host: String,
  pub port: u16,
}

/// A range of slots (`first..=last`) and the primary serving it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotRange {
  pub first: u16,
  pub last: u16,
  pub primary: NodeAddr,
}

/// Routes to every primary that owns slots, from a fresh `CLUSTER SLOTS`. A primary that is down
/// is still listed, so using it fails instead of silently skipping its keys.
async fn primaries(conn: &ClusterConnection) -> Result<Vec<RoutingInfo>> {
  let mut out: Vec<NodeAddr> = Vec::new();
  for range in slot_ranges(conn).await? {
    if !out.contains(&range.primary) {
      out.push(range.primary);
    }
  }
  Ok(
    out
      .into_iter()
      .map(|NodeAddr { host, port }| {
        RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port })
      })
      .collect(),
  )
}

/// `CLUSTER SLOTS` (asked of any node): its ranges of slots and their primaries.
pub async fn slot_ranges(conn: &ClusterConnection) -> Result<Vec<SlotRange>> {
  let random = RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random);
  let mut ask = redis::cmd("CLUSTER");
  ask.arg("SLOTS");
  let reply = conn.clone().route_command(ask, random).await;
  parse_slot_ranges(checked(reply.map_err(CacheError::from))?)
}

/// Reads a `CLUSTER SLOTS` reply. Nothing from the network is trusted: ranges whose bounds are
/// not slots, or whose start is past its end, are skipped (their slots stay unknown and go
/// through the cluster client); a reply of the wrong shape is an error, never a panic.
pub fn parse_slot_ranges(reply: Value) -> Result<Vec<SlotRange>> {
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
    let primary = node_address(node).ok_or_else(|| {
      CacheError::new(
        ErrorKind::Server,
        format!("CLUSTER SLOTS names a primary without a usable address: {node:?}"),
      )
    })?;
    out.push(SlotRange {
      first: from,
      last: to,
      primary,
    });
  }
  Ok(out)
}

/// `[endpoint, port, id, {ip, hostname…}]` → its address; the metadata ip when the endpoint is
/// empty or unknown.
fn node_address(node: &[Value]) -> Option<NodeAddr> {
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
  Some(NodeAddr {
    host: endpoint.or_else(ip)?,
    port,
  })
}

#[cfg(test)]
mod tests {
  use super::*;

  fn addr(host: &str, port: u16) -> NodeAddr {
    NodeAddr {
      host: host.into(),
      port,
    }
  }

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
    let primary = addr("10.0.0.1", 7000);
    let whole = SlotRange {
      first: 0,
      last: 16383,
      primary,
    };
    assert_eq!(ranges, vec![whole]);
    assert!(parse_slot_ranges(Value::Nil).is_err());
  }

  #[test]
  fn reads_node_addresses_from_cluster_slots() {
    let node = [bulk("10.0.0.1"), Value::Int(7000), bulk("id")];
    assert_eq!(node_address(&node), Some(addr("10.0.0.1", 7000)));
    let meta = Value::Map(vec![(bulk("ip"), bulk("10.0.0.2"))]);
    let unknown = [bulk("?"), Value::Int(7001), bulk("id"), meta];
    assert_eq!(node_address(&unknown), Some(addr("10.0.0.2", 7001)));
    assert_eq!(node_address(&[bulk(""), Value::Int(1)]), None);
    assert_eq!(node_address(&[bulk("h"), Value::Int(70000)]), None);
  }
}
