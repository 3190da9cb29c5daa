//! What a batch's commands become on one node, whatever connection carries them: runs of GETs
//! coalesced into MGETs and split back, and the recheck of the nils an MGET found. The pool's
//! multiplexed connections (`standalone`) and the JS thread's own socket (`direct`) both run it.

use crate::error::{CacheError, ErrorKind, Result};
use crate::store::command::{miscount, Routed};
use redis::{Cmd, Pipeline, Value};

/// A connection to one node that runs a pipeline and answers one reply per command, in order
/// (server errors inline as `Value::ServerError`; transport failures as `Err`).
#[allow(async_fn_in_trait)]
pub trait Pipelines {
  async fn pipeline(&self, pipe: &Pipeline, count: usize) -> Result<Vec<Value>>;
}

/// Sends commands to one node and returns one reply (or error) per command, in the order given.
pub async fn send_to_node<P: Pipelines>(pool: &P, cmds: Vec<Routed<'_>>) -> Vec<Result<Value>> {
  let count = cmds.len();
  let keys: Vec<&[u8]> = cmds.iter().map(|r| r.key).collect();
  let (pipe, runs) = coalesce_gets(cmds);
  let sent = pipeline_len(&runs);
  let (mut out, nils) = match pool.pipeline(&pipe, sent).await {
    Ok(values) if values.len() == sent => expand(values, &runs),
    Ok(values) => return vec![Err(miscount(values.len(), sent)); count],
    Err(err) => return vec![Err(err); count],
  };
  if !nils.is_empty() {
    // MGET reads a key of another type as nil where GET answers an error: when an MGET
    // found nils, one EXISTS of those keys tells whether any of them is one, and only
    // then are they asked again one by one, so each reads exactly as it would alone.
    let again = recheck_nils(pool, &keys, &nils).await;
    for (i, v) in nils.into_iter().zip(again) {
      if let Some(v) = v {
        out[i] = v;
      }
    }
  }
  out
}

/// The key of a plain `GET key`, if `cmd` is one.
fn get_key(cmd: &Cmd) -> Option<&[u8]> {
  let mut args = cmd.args_iter();
  match (args.next(), args.next(), args.next()) {
    (Some(redis::Arg::Simple(b"GET")), Some(redis::Arg::Simple(key)), None) => Some(key),
    _ => None,
  }
}

/// For the nil replies of MGETs (positions `nils`, keys by position in `keys`): `None` when the
/// nil stands (the key is absent), else the reply the key gives alone (GET), or the error that
/// kept it from being checked.
async fn recheck_nils<P: Pipelines>(
  pool: &P,
  keys: &[&[u8]],
  nils: &[usize],
) -> Vec<Option<Result<Value>>> {
  let mut exists = redis::cmd("EXISTS");
  nils.iter().for_each(|&i| {
    exists.arg(keys[i]);
  });
  let mut pipe = redis::pipe();
  pipe.add_command(exists);
  let failed = match pool.pipeline(&pipe, 1).await {
    Ok(v) => match v.as_slice() {
      [Value::Int(0)] => return vec![None; nils.len()],
      [Value::Int(_)] => None,
      [Value::ServerError(e)] => Some(CacheError::from(redis::RedisError::from(e.clone()))),
      other => Some(miscount(other.len(), 1)),
    },
    Err(err) => Some(err),
  };
  if let Some(err) = failed {
    return vec![Some(Err(err)); nils.len()];
  }
  let mut pipe = redis::pipe();
  nils.iter().for_each(|&i| {
    pipe.cmd("GET").arg(keys[i]);
  });
  match pool.pipeline(&pipe, nils.len()).await {
    Ok(values) if values.len() == nils.len() => values.into_iter().map(|v| Some(Ok(v))).collect(),
    Ok(values) => vec![Some(Err(miscount(values.len(), nils.len()))); nils.len()],
    Err(err) => vec![Some(Err(err)); nils.len()],
  }
}

/// Builds the pipeline for one node: each run of consecutive plain GETs becomes one MGET (one
/// command for Valkey to parse and answer instead of many). Returns, per original command or
/// run, how many original commands it answers (`None` = one, not an MGET; `Some(n)` = an MGET).
fn coalesce_gets(cmds: Vec<Routed<'_>>) -> (redis::Pipeline, Vec<Option<usize>>) {
  let mut pipe = redis::pipe();
  let mut runs = Vec::with_capacity(cmds.len());
  let is_get: Vec<bool> = cmds.iter().map(|r| get_key(&r.cmd).is_some()).collect();
  let mut cmds = cmds.into_iter();
  let mut i = 0;
  while i < is_get.len() {
    let mut j = i;
    while j < is_get.len() && j - i < 1000 && is_get[j] {
      j += 1;
    }
    if j - i >= 2 {
      let mut mget = redis::cmd("MGET");
      cmds.by_ref().take(j - i).for_each(|r| {
        // The key the command reads (a raw `GET` may route by another key).
        if let Some(k) = get_key(&r.cmd) {
          mget.arg(k);
        }
      });
      pipe.add_command(mget);
      runs.push(Some(j - i));
      i = j;
    } else {
      // Moved, not cloned: a SET's command holds its whole value.
      if let Some(r) = cmds.next() {
        pipe.add_command(r.cmd);
      }
      runs.push(None);
      i += 1;
    }
  }
  (pipe, runs)
}

/// Commands in the pipeline `coalesce_gets` built: one per run.
fn pipeline_len(runs: &[Option<usize>]) -> usize {
  runs.len()
}

/// Splits MGET replies back into one reply per original GET. Also returns the positions of the
/// nil replies of the MGETs: a key of another type reads as nil there (see `recheck_nils`).
fn expand(values: Vec<Value>, runs: &[Option<usize>]) -> (Vec<Result<Value>>, Vec<usize>) {
  let mut out = Vec::with_capacity(runs.iter().map(|r| r.unwrap_or(1)).sum());
  let mut nils = Vec::new();
  let mut values = values.into_iter();
  for run in runs {
    let Some(v) = values.next() else { break };
    match (run, v) {
      (None, v) => out.push(Ok(v)),
      (Some(n), Value::Array(items)) if items.len() == *n => {
        let at = out.len();
        items.iter().enumerate().for_each(|(i, v)| {
          if matches!(v, Value::Nil) {
            nils.push(at + i);
          }
        });
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
  (out, nils)
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
    assert_eq!(pipeline_len(&runs), 3);
    let packed = String::from_utf8(pipe.get_packed_pipeline()).unwrap();
    assert!(packed.starts_with("*3\r\n$4\r\nMGET\r\n$1\r\na\r\n$1\r\nb\r\n*3\r\n$3\r\nSET"));
    assert!(
      !packed.contains("EXISTS"),
      "no EXISTS unless an MGET found nils"
    );
    let replies = vec![
      Value::Array(vec![Value::BulkString(b"1".to_vec()), Value::Nil]),
      Value::Okay,
      Value::Array(vec![
        Value::Nil,
        Value::Nil,
        Value::BulkString(b"5".to_vec()),
      ]),
    ];
    let (out, nils) = expand(replies, &runs);
    // The nils (b, c, d) are checked again: any of them may be a key of another type.
    assert_eq!(nils, vec![1, 3, 4]);
    assert_eq!(out.len(), 6);
    assert_eq!(out[0].as_ref().unwrap(), &Value::BulkString(b"1".to_vec()));
    assert_eq!(out[2].as_ref().unwrap(), &Value::Okay);
    assert_eq!(out[5].as_ref().unwrap(), &Value::BulkString(b"5".to_vec()));
  }
}
