//! The cluster client's path: commands grouped into one pipeline per hash slot, sent through
//! redis' `ClusterConnection` (which follows MOVED/ASK on its own), each reply put back at its
//! command's index.

use crate::error::{CacheError, Result};
use crate::store::command::miscount;
use futures_util::future::join_all;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, Pipeline, Value};
use std::collections::HashMap;

/// A command for the cluster client's path.
pub struct SlotCommand {
  /// Where its reply goes in the batch.
  pub index: usize,
  /// Its hash slot (`None` = any node).
  pub slot: Option<u16>,
  pub cmd: Cmd,
}
pub type Replies = [Option<Result<Value>>];

/// One pipeline and, per command in it, where its reply goes in the batch.
struct Indexed {
  pipe: Pipeline,
  indices: Vec<usize>,
}

impl Default for Indexed {
  fn default() -> Self {
    Indexed {
      pipe: redis::pipe(),
      indices: Vec::new(),
    }
  }
}

/// The primary of `slot`, or any node.
pub fn route(slot: Option<u16>) -> SingleNodeRoutingInfo {
  match slot {
    Some(s) => SingleNodeRoutingInfo::SpecificNode(Route::new(s, SlotAddr::Master)),
    None => SingleNodeRoutingInfo::Random,
  }
}

/// Sends commands through the cluster client: one pipeline per slot (all at once), then the
/// keyless ones to any node. Each reply lands at its command's index in `out`.
pub async fn run(conn: &ClusterConnection, items: Vec<SlotCommand>, out: &mut Replies) {
  let mut groups: HashMap<u16, Indexed> = HashMap::new();
  let mut keyless = Indexed::default();
  for item in items {
    let group = match item.slot {
      Some(s) => groups.entry(s).or_default(),
      None => &mut keyless,
    };
    group.pipe.add_command(item.cmd);
    group.indices.push(item.index);
  }
  let sends = groups
    .into_iter()
    .map(|(slot, group)| send_group(conn.clone(), Some(slot), group));
  for (idx, res) in join_all(sends).await {
    place(out, idx, res);
  }
  if !keyless.indices.is_empty() {
    let (idx, res) = send_group(conn.clone(), None, keyless).await;
    place(out, idx, res);
  }
}

async fn send_group(
  mut conn: ClusterConnection,
  slot: Option<u16>,
  group: Indexed,
) -> (Vec<usize>, redis::RedisResult<Vec<Value>>) {
  let n = group.indices.len();
  let res = conn.route_pipeline(group.pipe, 0, n, route(slot)).await;
  (group.indices, res)
}

fn place(out: &mut Replies, idx: Vec<usize>, res: redis::RedisResult<Vec<Value>>) {
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
