//! Where entries live: the in-process memory store, one Valkey node, or a Valkey Cluster. The
//! network stores take commands with their routing key and answer one reply per command, in
//! order; a failure fails only the commands it concerns.
//!
//! Layer: `store` owns the connections and the commands' path to Valkey: `memory` (with `glob`
//! for pattern matching; `keyspace` for the internal keys), `standalone` (the pool for one node), `cluster` (slots, topology,
//! per-primary pipelines) and `command` (what they all take and give back). May import `error`
//! only; it knows nothing of frames, completions or envelopes.

pub mod backend;
pub mod cluster;
pub mod command;
pub mod glob;
pub mod keyspace;
pub mod memory;
pub mod standalone;

use crate::error::{CacheError, ErrorKind, Result};
use crate::store::backend::Backend;
use crate::store::cluster::ClusterPool;
use crate::store::command::{miscount, Routed};
use crate::store::memory::MemoryStore;
use crate::store::standalone::NodePool;
use redis::{Cmd, Value};

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
      Store::Standalone(pool) => {
        let keys: Vec<&[u8]> = cmds.iter().map(|r| r.key).collect();
        let (pipe, runs) = coalesce_gets(cmds);
        let sent = pipeline_len(&runs);
        let (mut out, recheck) = match pool.pipeline(&pipe, sent).await {
          Ok(values) if values.len() == sent => expand(values, &runs),
          Ok(values) => return vec![Err(miscount(values.len(), sent)); count],
          Err(err) => return vec![Err(err); count],
        };
        if !recheck.is_empty() {
          // Some key of an MGET holds another type (MGET reads it as nil, GET as an error): ask
          // those keys one by one, so each reads exactly as it would alone.
          let mut pipe = redis::pipe();
          recheck.iter().for_each(|&i| {
            pipe.cmd("GET").arg(keys[i]);
          });
          let again = match pool.pipeline(&pipe, recheck.len()).await {
            Ok(values) if values.len() == recheck.len() => values.into_iter().map(Ok).collect(),
            Ok(values) => vec![Err(miscount(values.len(), recheck.len())); recheck.len()],
            Err(err) => vec![Err(err); recheck.len()],
          };
          for (i, v) in recheck.into_iter().zip(again) {
            out[i] = v;
          }
        }
        out
      }
      Store::Cluster(pool) => pool.send(cmds).await,
    }
  }
}

/// The key of a plain `GET key`, if `cmd` is one.
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

  fn bus_clients(&self) -> Option<(Vec<redis::Client>, std::time::Duration)> {
    match self {
      Store::Memory(m) => m.bus_clients(),
      Store::Standalone(p) => p.bus_clients(),
      Store::Cluster(p) => p.bus_clients(),
    }
  }
}

fn get_key(cmd: &Cmd) -> Option<&[u8]> {
  let mut args = cmd.args_iter();
  match (args.next(), args.next(), args.next()) {
    (Some(redis::Arg::Simple(b"GET")), Some(redis::Arg::Simple(key)), None) => Some(key),
    _ => None,
  }
}

/// Builds the pipeline for one node: each run of consecutive plain GETs becomes one MGET (one
/// command for Valkey to parse and answer instead of many), followed by an EXISTS of the same
/// keys: MGET answers nil for a key of another type where GET answers an error, and the count
/// tells whether any nil was one. Returns, per original command or run, how many original
/// commands it answers (`None` = one, not an MGET; `Some(n)` = an MGET + EXISTS pair).
fn coalesce_gets(cmds: Vec<Routed<'_>>) -> (redis::Pipeline, Vec<Option<usize>>) {
  let mut pipe = redis::pipe();
  let mut runs = Vec::with_capacity(cmds.len());
  let mut i = 0;
  while i < cmds.len() {
    let mut j = i;
    while j < cmds.len() && j - i < 1000 && get_key(&cmds[j].cmd).is_some() {
      j += 1;
    }
    if j - i >= 2 {
      let mut mget = redis::cmd("MGET");
      cmds[i..j]
        .iter()
        .filter_map(|r| get_key(&r.cmd))
        .for_each(|k| {
          mget.arg(k);
        });
      let mut exists = redis::cmd("EXISTS");
      cmds[i..j]
        .iter()
        .filter_map(|r| get_key(&r.cmd))
        .for_each(|k| {
          exists.arg(k);
        });
      pipe.add_command(mget);
      pipe.add_command(exists);
      runs.push(Some(j - i));
      i = j;
    } else {
      pipe.add_command(cmds[i].cmd.clone());
      runs.push(None);
      i += 1;
    }
  }
  (pipe, runs)
}

/// Commands in the pipeline `coalesce_gets` built.
fn pipeline_len(runs: &[Option<usize>]) -> usize {
  runs.iter().map(|r| if r.is_some() { 2 } else { 1 }).sum()
}

/// Splits MGET replies back into one reply per original GET. Also returns the positions of the
/// nil replies of each MGET whose EXISTS counted more keys than it found values: one of them is a
/// key of another type, so they are asked again one by one.
fn expand(values: Vec<Value>, runs: &[Option<usize>]) -> (Vec<Result<Value>>, Vec<usize>) {
  let mut out = Vec::with_capacity(runs.iter().map(|r| r.unwrap_or(1)).sum());
  let mut recheck = Vec::new();
  let mut values = values.into_iter();
  for run in runs {
    let Some(v) = values.next() else { break };
    if run.is_none() {
      out.push(Ok(v));
      continue;
    }
    let exists = values.next();
    match (run, v) {
      (None, _) => {}
      (Some(n), Value::Array(items)) if items.len() == *n => {
        let found = items.iter().filter(|v| !matches!(v, Value::Nil)).count();
        if matches!(exists, Some(Value::Int(e)) if e > found as i64) {
          let at = out.len();
          items.iter().enumerate().for_each(|(i, v)| {
            if matches!(v, Value::Nil) {
              recheck.push(at + i);
            }
          });
        }
        out.extend(items.into_iter().map(Ok))
      }
      (Some(n), Value::ServerError(e)) => {
        let err = CacheError::from(redis::RedisError::from(e));
        out.extend(std::iter::repeat_n(Err(err), *n));
      }
      (Some(n), other) => {
        let err = CacheError::new(
          ErrorKind::Server,
          format!("unexpected MGET reply: {other:?}"),
        );
        out.extend(std::iter::repeat_n(Err(err), *n));
      }
    }
  }
  (out, recheck)
}

#[cfg(test)]
mod tests {
  use super::*;

  fn get(k: &'static [u8]) -> Routed<'static> {
    let mut cmd = redis::cmd("GET");
    cmd.arg(k);
    Routed { key: k, cmd }
  }

  #[test]
  fn runs_of_gets_become_mgets_and_split_back() {
    let mut set = redis::cmd("SET");
    set.arg("x").arg("1");
    let cmds = vec![
      get(b"a"),
      get(b"b"),
      Routed {
        key: b"x",
        cmd: set,
      },
      get(b"c"),
      get(b"d"),
      get(b"e"),
    ];
    let (pipe, runs) = coalesce_gets(cmds);
    assert_eq!(runs, vec![Some(2), None, Some(3)]);
    assert_eq!(pipeline_len(&runs), 5);
    let packed = String::from_utf8(pipe.get_packed_pipeline()).unwrap();
    assert!(packed.starts_with(
      "*3\r\n$4\r\nMGET\r\n$1\r\na\r\n$1\r\nb\r\n*3\r\n$6\r\nEXISTS\r\n$1\r\na\r\n$1\r\nb\r\n"
    ));
    let replies = vec![
      Value::Array(vec![Value::BulkString(b"1".to_vec()), Value::Nil]),
      Value::Int(1),
      Value::Okay,
      Value::Array(vec![
        Value::Nil,
        Value::Nil,
        Value::BulkString(b"5".to_vec()),
      ]),
      // Three keys exist, one value found: one of the nils (c, d) is another type.
      Value::Int(3),
    ];
    let (out, recheck) = expand(replies, &runs);
    assert_eq!(recheck, vec![3, 4]);
    assert_eq!(out.len(), 6);
    assert_eq!(out[0].as_ref().unwrap(), &Value::BulkString(b"1".to_vec()));
    assert_eq!(out[2].as_ref().unwrap(), &Value::Okay);
    assert_eq!(out[5].as_ref().unwrap(), &Value::BulkString(b"5".to_vec()));
  }
}
