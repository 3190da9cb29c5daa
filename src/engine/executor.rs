//! Executes a parsed batch against the store: Valkey (one pipeline, one round trip; on a
//! cluster one pipeline per primary, all at once) or the in-process memory store. Seals values
//! on the way in; checks envelopes (and tag markers) on the way out.

use crate::boundary::frame::{Completion, Op, Request};
use crate::codec::{self, Meta, Opened};
use crate::engine::reply::{command_reply, finish_read, now_ms, open_stored, unexpected};
use crate::engine::settings::Settings;
use crate::engine::stats::Stats;
use crate::error::{CacheError, ErrorKind};
use crate::features::tags::{read_markers, still_valid, Markers};
use crate::store::command::Routed;
use crate::store::keyspace::is_internal;
use crate::store::memory::MemoryStore;
use crate::store::Sink;
use redis::Value;

/// A request that passed validation, with its sealed value for SETs.
struct Ready<'a> {
  id: u32,
  key: &'a [u8],
  op: &'a Op,
  sealed: Vec<u8>,
}

/// A result, or a read whose tags still have to be checked.
enum Outcome {
  Done(Completion),
  Tagged {
    id: u32,
    stored: Vec<u8>,
    opened: Opened,
  },
}

pub async fn execute<S: Sink>(
  store: &S,
  settings: &Settings,
  stats: &Stats,
  buf: &[u8],
  reqs: &[Request],
) -> Vec<Completion> {
  let tag_keys: Vec<&[u8]> = reqs
    .iter()
    .flat_map(|r| match &r.op {
      Op::Set { tags, .. } => tags.iter().map(|t| &buf[t.clone()]).collect(),
      _ => Vec::new(),
    })
    .collect();
  let seen = if tag_keys.is_empty() {
    Ok(Markers::new())
  } else {
    read_markers(store, tag_keys).await
  };
  // One slot per request, so completions come back in request order (`group_completions`
  // relies on it) and a request that somehow got no reply still gets a completion.
  let mut slots: Vec<Option<Completion>> = Vec::with_capacity(reqs.len());
  let mut ready = Vec::with_capacity(reqs.len());
  let mut at = Vec::with_capacity(reqs.len());
  for (i, r) in reqs.iter().enumerate() {
    match prepare(settings, stats, buf, r, &seen) {
      Ok(p) => {
        ready.push(p);
        at.push(i);
        slots.push(None);
      }
      Err(e) => {
        Stats::add(&stats.errors, 1);
        slots.push(Some(Completion::error(r.id, &e)));
      }
    }
  }
  let outcomes = match store.memory() {
    Some(m) => ready
      .into_iter()
      .map(|r| run_memory(m, settings, stats, r))
      .collect(),
    None => run_remote(store, settings, stats, buf, ready).await,
  };
  let mut done = Vec::with_capacity(at.len());
  check_tags(store, stats, outcomes, &mut done).await;
  for (i, c) in at.into_iter().zip(done) {
    slots[i] = Some(c);
  }
  slots
    .into_iter()
    .zip(reqs)
    .map(|(c, r)| {
      c.unwrap_or_else(|| {
        let err = CacheError::new(ErrorKind::Internal, "no reply for this request");
        Completion::error(r.id, &err)
      })
    })
    .collect()
}

fn prepare<'a>(
  settings: &Settings,
  stats: &Stats,
  buf: &'a [u8],
  r: &'a Request,
  seen: &std::result::Result<Markers, CacheError>,
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
  if !keyless && is_internal(key) {
    return Err(CacheError::new(
      ErrorKind::InvalidKey,
      "keys are UTF-8 text: byte 0xFF is reserved for the cache's own keys",
    ));
  }
  let mut sealed = Vec::new();
  if let Op::Set {
    codec,
    value,
    fresh_ms,
    tags,
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
    let mut snapshot: Vec<(&[u8], &[u8])> = Vec::with_capacity(tags.len());
    if !tags.is_empty() {
      let markers = seen.as_ref().map_err(Clone::clone)?;
      for t in tags {
        let k = &buf[t.clone()];
        snapshot.push((k, markers.get(k).map(Vec::as_slice).unwrap_or_default()));
      }
    }
    let expires_at = match &r.op {
      Op::Set { ttl_ms, .. } => ttl_ms.map(|ms| now_ms() + ms),
      _ => None,
    };
    let meta = Meta {
      expires_at,
      fresh_until: fresh_ms.map(|ms| now_ms() + ms),
      tags: &snapshot,
    };
    let (bytes, packed) = codec::seal(*codec, payload, settings.compression, meta)?;
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

/// A read value: done when untagged (or unreadable), deferred when its tags need checking.
fn read(settings: &Settings, stats: &Stats, id: u32, stored: Vec<u8>) -> Outcome {
  match open_stored(settings, stats, &stored) {
    None => Outcome::Done(Completion::miss(id)),
    Some(opened) if opened.tags.is_empty() => {
      Outcome::Done(finish_read(stats, id, stored, opened, true))
    }
    Some(opened) => Outcome::Tagged { id, stored, opened },
  }
}

fn run_memory(m: &MemoryStore, settings: &Settings, stats: &Stats, r: Ready) -> Outcome {
  count_write(stats, &r);
  Outcome::Done(match r.op {
    Op::Get => match m.get(r.key) {
      Some(stored) => return read(settings, stats, r.id, stored),
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
  })
}

async fn run_remote<S: Sink>(
  store: &S,
  settings: &Settings,
  stats: &Stats,
  buf: &[u8],
  ready: Vec<Ready<'_>>,
) -> Vec<Outcome> {
  let cmds = ready
    .iter()
    .map(|r| Routed {
      key: r.key,
      cmd: command(buf, r),
    })
    .collect();
  let replies = store.send(cmds).await;
  ready
    .into_iter()
    .zip(replies)
    .map(|(r, v)| match v {
      Ok(v) => reply(settings, stats, r, v),
      Err(err) => failed(stats, r, &err),
    })
    .collect()
}

/// The Valkey command of a request (a command's routing key is its `key`, not an argument).
fn command(buf: &[u8], r: &Ready) -> redis::Cmd {
  let mut cmd = redis::Cmd::new();
  match r.op {
    Op::Get => cmd.arg("GET").arg(r.key),
    Op::Set { ttl_ms, .. } => {
      cmd.arg("SET").arg(r.key).arg(&r.sealed);
      match ttl_ms {
        Some(ms) => cmd.arg("PX").arg(*ms),
        None => &mut cmd,
      }
    }
    Op::Delete => cmd.arg("UNLINK").arg(r.key),
    Op::Exists => cmd.arg("EXISTS").arg(r.key),
    Op::Command { args } => {
      args.iter().for_each(|a| {
        cmd.arg(&buf[a.clone()]);
      });
      &mut cmd
    }
  };
  cmd
}

fn failed(stats: &Stats, r: Ready<'_>, err: &CacheError) -> Outcome {
  Stats::add(&stats.errors, 1);
  if matches!(r.op, Op::Get) {
    Stats::add(&stats.misses, 1);
  }
  Outcome::Done(Completion::error(r.id, &err.clone().refused("key", r.key)))
}

fn reply(settings: &Settings, stats: &Stats, r: Ready, v: Value) -> Outcome {
  if let Value::ServerError(e) = &v {
    Stats::add(&stats.errors, 1);
    // A read that answers nothing is a miss, whatever the reason (as in `failed`).
    if matches!(r.op, Op::Get) {
      Stats::add(&stats.misses, 1);
    }
    let err = CacheError::from(redis::RedisError::from(e.clone())).refused("key", r.key);
    return Outcome::Done(Completion::error(r.id, &err));
  }
  count_write(stats, &r);
  Outcome::Done(match (r.op, v) {
    (Op::Command { .. }, v) => command_reply(r.id, v),
    (Op::Get, Value::BulkString(stored)) => return read(settings, stats, r.id, stored),
    (Op::Get, _) => {
      Stats::add(&stats.misses, 1);
      Completion::miss(r.id)
    }
    (Op::Delete | Op::Exists, Value::Int(n)) => Completion::flag(r.id, n > 0),
    (Op::Set { .. }, Value::Okay) => Completion::ok(r.id),
    (_, other) => unexpected(r.id, &other),
  })
}

/// Reads the markers of all tagged reads in one go and finishes them. Markers that cannot be
/// read make the entry invalid: never serve what might have been invalidated.
async fn check_tags<S: Sink>(
  store: &S,
  stats: &Stats,
  outcomes: Vec<Outcome>,
  done: &mut Vec<Completion>,
) {
  let mut keys: Vec<&[u8]> = Vec::new();
  for o in &outcomes {
    if let Outcome::Tagged { stored, opened, .. } = o {
      keys.extend(opened.tags.iter().map(|(k, _)| &stored[k.clone()]));
    }
  }
  let markers = if keys.is_empty() {
    Ok(Markers::new())
  } else {
    read_markers(store, keys).await
  };
  if markers.is_err() {
    Stats::add(&stats.errors, 1);
  }
  for o in outcomes {
    match o {
      Outcome::Done(c) => done.push(c),
      Outcome::Tagged { id, stored, opened } => {
        let valid = markers.as_ref().is_ok_and(|m| {
          still_valid(
            m,
            opened
              .tags
              .iter()
              .map(|(k, v)| (&stored[k.clone()], &stored[v.clone()])),
          )
        });
        done.push(finish_read(stats, id, stored, opened, valid));
      }
    }
  }
}
