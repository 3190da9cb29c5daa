//! Where entries live: the in-process memory store, one Valkey node, or a Valkey Cluster. The
//! network stores take commands with their routing key and answer one reply per command, in
//! order; a failure fails only the commands it concerns.
//!
//! Layer: `store` owns the connections and the commands' path to Valkey: `memory` (with `glob`
//! for pattern matching), `standalone` (the pool for one node), `cluster` (slots, topology,
//! per-primary pipelines) and `command` (what they all take and give back). May import `error`
//! only; it knows nothing of frames, completions or envelopes.

pub mod cluster;
pub mod command;
pub mod glob;
pub mod memory;
pub mod standalone;

use crate::error::{CacheError, ErrorKind, Result};
use crate::store::cluster::ClusterPool;
use crate::store::command::{miscount, Routed};
use crate::store::memory::MemoryStore;
use crate::store::standalone::NodePool;
use redis::{Cmd, Value};

pub enum Store {
  Memory(MemoryStore),
  Valkey(Box<NodePool>),
  Cluster(Box<ClusterPool>),
}

impl Store {
  /// `'memory'`, `'standalone'` or `'cluster'`.
  pub fn mode(&self) -> &'static str {
    match self {
      Store::Memory(_) => "memory",
      Store::Valkey(_) => "standalone",
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
      Store::Valkey(pool) => {
        let (pipe, runs) = coalesce_gets(cmds);
        match pool.pipeline(&pipe, runs.len()).await {
          Ok(values) if values.len() == runs.len() => expand(values, &runs),
          Ok(values) => vec![Err(miscount(values.len(), runs.len())); count],
          Err(err) => vec![Err(err); count],
        }
      }
      Store::Cluster(pool) => pool.send(cmds).await,
    }
  }
}

/// The key of a plain `GET key`, if `cmd` is one.
fn get_key(cmd: &Cmd) -> Option<&[u8]> {
  let mut args = cmd.args_iter();
  match (args.next(), args.next(), args.next()) {
    (Some(redis::Arg::Simple(b"GET")), Some(redis::Arg::Simple(key)), None) => Some(key),
    _ => None,
  }
}

/// Builds the pipeline for one node: each run of consecutive plain GETs becomes one MGET (one
/// command for Valkey to parse and answer instead of many). Returns, per pipeline command, how
/// many of the original commands it answers (`None` = one, not an MGET).
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
      pipe.add_command(mget);
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

/// Splits MGET replies back into one reply per original GET.
fn expand(values: Vec<Value>, runs: &[Option<usize>]) -> Vec<Result<Value>> {
  let mut out = Vec::with_capacity(runs.iter().map(|r| r.unwrap_or(1)).sum());
  for (v, run) in values.into_iter().zip(runs) {
    match (run, v) {
      (None, v) => out.push(Ok(v)),
      (Some(n), Value::Array(items)) if items.len() == *n => out.extend(items.into_iter().map(Ok)),
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
  out
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
    let packed = String::from_utf8(pipe.get_packed_pipeline()).unwrap();
    assert!(packed.starts_with("*3\r\n$4\r\nMGET\r\n$1\r\na\r\n$1\r\nb\r\n"));
    let replies = vec![
      Value::Array(vec![Value::BulkString(b"1".to_vec()), Value::Nil]),
      Value::Okay,
      Value::Array(vec![
        Value::Nil,
        Value::Nil,
        Value::BulkString(b"5".to_vec()),
      ]),
    ];
    let out = expand(replies, &runs);
    assert_eq!(out.len(), 6);
    assert_eq!(out[0].as_ref().unwrap(), &Value::BulkString(b"1".to_vec()));
    assert_eq!(out[2].as_ref().unwrap(), &Value::Okay);
    assert_eq!(out[5].as_ref().unwrap(), &Value::BulkString(b"5".to_vec()));
  }
}
