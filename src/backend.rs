//! Executes a parsed batch against the store: Valkey (one pipeline, one round trip) or the
//! in-process memory store. Seals values on the way in; replies are turned into completions by
//! `reply`.

use crate::client::NodePool;
use crate::codec::{self, Compression};
use crate::error::{CacheError, ErrorKind};
use crate::frame::{Completion, Op, Request};
use crate::memory::MemoryStore;
use crate::reply::{command_reply, now_ms, stored_value, unexpected};
use crate::stats::Stats;
use redis::Value;

pub enum Store {
  Memory(MemoryStore),
  Valkey(Box<NodePool>),
}

/// Per-engine settings the executor needs.
pub struct Settings {
  pub compression: Option<Compression>,
  pub max_value_bytes: usize,
  pub max_key_bytes: usize,
}

/// A request that passed validation, with its sealed value for SETs.
struct Ready<'a> {
  id: u32,
  key: &'a [u8],
  op: &'a Op,
  sealed: Vec<u8>,
}

pub async fn execute(
  store: &Store,
  settings: &Settings,
  stats: &Stats,
  buf: &[u8],
  reqs: &[Request],
) -> Vec<Completion> {
  let mut done = Vec::with_capacity(reqs.len());
  let mut ready = Vec::with_capacity(reqs.len());
  for r in reqs {
    match prepare(settings, stats, buf, r) {
      Ok(p) => ready.push(p),
      Err(e) => {
        Stats::add(&stats.errors, 1);
        done.push(Completion::error(r.id, &e));
      }
    }
  }
  match store {
    Store::Memory(m) => ready
      .into_iter()
      .for_each(|r| done.push(run_memory(m, settings, stats, r))),
    Store::Valkey(pool) => run_valkey(pool, settings, stats, buf, ready, &mut done).await,
  }
  done
}

fn prepare<'a>(
  settings: &Settings,
  stats: &Stats,
  buf: &'a [u8],
  r: &'a Request,
) -> Result<Ready<'a>, CacheError> {
  let key = &buf[r.key.clone()];
  let keyless = matches!(r.op, Op::Command { .. });
  if (key.is_empty() && !keyless) || key.len() > settings.max_key_bytes {
    return Err(CacheError::new(
      ErrorKind::InvalidKey,
      format!(
        "keys must be 1 to {} bytes (prefix included), got {}",
        settings.max_key_bytes,
        key.len()
      ),
    ));
  }
  let mut sealed = Vec::new();
  if let Op::Set {
    codec,
    value,
    fresh_ms,
    ..
  } = &r.op
  {
    let payload = &buf[value.clone()];
    if payload.len() > settings.max_value_bytes {
      return Err(CacheError::new(
        ErrorKind::ValueTooLarge,
        format!(
          "value is {} bytes serialized, over maxValueBytes ({}); store less or raise maxValueBytes",
          payload.len(),
          settings.max_value_bytes
        ),
      ));
    }
    let fresh_until = fresh_ms.map(|ms| now_ms() + ms);
    let (bytes, packed) = codec::seal(*codec, payload, settings.compression, fresh_until);
    if packed {
      Stats::add(&stats.compressed_writes, 1);
    }
    sealed = bytes;
  }
  Ok(Ready {
    id: r.id,
    key,
    op: &r.op,
    sealed,
  })
}

fn count_write(stats: &Stats, r: &Ready) {
  match r.op {
    Op::Set { .. } => {
      Stats::add(&stats.sets, 1);
      Stats::add(&stats.bytes_written, (r.key.len() + r.sealed.len()) as u64);
    }
    Op::Delete => Stats::add(&stats.deletes, 1),
    _ => {}
  }
}

fn run_memory(m: &MemoryStore, settings: &Settings, stats: &Stats, r: Ready) -> Completion {
  count_write(stats, &r);
  match r.op {
    Op::Get => match m.get(r.key) {
      Some(stored) => stored_value(settings, stats, r.id, stored),
      None => {
        Stats::add(&stats.misses, 1);
        Completion::miss(r.id)
      }
    },
    Op::Set { ttl_ms, .. } => {
      m.set(r.key, r.sealed, *ttl_ms);
      Completion::ok(r.id)
    }
    Op::Delete => Completion::flag(r.id, m.delete(r.key)),
    Op::Exists => Completion::flag(r.id, m.exists(r.key)),
    Op::Command { .. } => Completion::error(
      r.id,
      &CacheError::new(
        ErrorKind::InvalidOption,
        "raw commands need Valkey (memory-only mode has none)",
      ),
    ),
  }
}

async fn run_valkey(
  pool: &NodePool,
  settings: &Settings,
  stats: &Stats,
  buf: &[u8],
  ready: Vec<Ready<'_>>,
  done: &mut Vec<Completion>,
) {
  if ready.is_empty() {
    return;
  }
  let mut pipe = redis::pipe();
  for r in &ready {
    match r.op {
      Op::Get => pipe.cmd("GET").arg(r.key),
      Op::Set {
        ttl_ms: Some(ms), ..
      } => pipe.cmd("SET").arg(r.key).arg(&r.sealed).arg("PX").arg(*ms),
      Op::Set { ttl_ms: None, .. } => pipe.cmd("SET").arg(r.key).arg(&r.sealed),
      Op::Delete => pipe.cmd("UNLINK").arg(r.key),
      Op::Exists => pipe.cmd("EXISTS").arg(r.key),
      Op::Command { args } => {
        let mut cmd = redis::Cmd::new();
        args.iter().for_each(|a| {
          cmd.arg(&buf[a.clone()]);
        });
        pipe.add_command(cmd)
      }
    };
  }
  match pool.pipeline(&pipe, ready.len()).await {
    Ok(values) if values.len() == ready.len() => {
      for (r, v) in ready.into_iter().zip(values) {
        done.push(reply(settings, stats, r, v));
      }
    }
    Ok(values) => {
      let err = CacheError::new(
        ErrorKind::Internal,
        format!(
          "Valkey answered {} replies for {} commands",
          values.len(),
          ready.len()
        ),
      );
      fail_all(stats, ready, &err, done);
    }
    Err(err) => fail_all(stats, ready, &err, done),
  }
}

fn fail_all(stats: &Stats, ready: Vec<Ready<'_>>, err: &CacheError, done: &mut Vec<Completion>) {
  Stats::add(&stats.errors, ready.len() as u64);
  for r in ready {
    if matches!(r.op, Op::Get) {
      Stats::add(&stats.misses, 1);
    }
    done.push(Completion::error(r.id, err));
  }
}

fn reply(settings: &Settings, stats: &Stats, r: Ready, v: Value) -> Completion {
  if let Value::ServerError(e) = &v {
    Stats::add(&stats.errors, 1);
    return Completion::error(r.id, &CacheError::from(redis::RedisError::from(e.clone())));
  }
  count_write(stats, &r);
  match (r.op, v) {
    (Op::Command { .. }, v) => command_reply(r.id, v),
    (Op::Get, Value::BulkString(stored)) => stored_value(settings, stats, r.id, stored),
    (Op::Get, _) => {
      Stats::add(&stats.misses, 1);
      Completion::miss(r.id)
    }
    (Op::Delete | Op::Exists, Value::Int(n)) => Completion::flag(r.id, n > 0),
    (Op::Set { .. }, Value::Okay) => Completion::ok(r.id),
    (_, other) => unexpected(r.id, &other),
  }
}
