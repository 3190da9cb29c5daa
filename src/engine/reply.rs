//! Turns Valkey replies into completions: stored values (checked and opened envelopes) and
//! generic command replies (integers, bulk strings, status, nested arrays as JSON).

use crate::boundary::frame::{
  Completion, REPLY_BULK, REPLY_INT, REPLY_JSON, REPLY_STATUS, STATUS_HIT, STATUS_STALE, TAGGED,
};
use crate::codec::{self, Opened};
use crate::engine::settings::Settings;
use crate::engine::stats::Stats;
use crate::error::{CacheError, ErrorKind};
use redis::Value;
use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_ms() -> u64 {
  SystemTime::now()
    .duration_since(UNIX_EPOCH)
    .map(|d| d.as_millis() as u64)
    .unwrap_or(0)
}

/// Checks a stored value's envelope. A foreign or corrupt value is `None`: a counted miss —
/// never an error in user code, never a wrong value.
pub fn open_stored(settings: &Settings, stats: &Stats, stored: &[u8]) -> Option<Opened> {
  Stats::add(&stats.bytes_read, stored.len() as u64);
  match codec::open(stored, settings.max_value_bytes) {
    Ok(o) => Some(o),
    Err(_) => {
      Stats::add(&stats.misses, 1);
      Stats::add(&stats.errors, 1);
      None
    }
  }
}

/// Finishes a read: a hit, a stale hit (past its fresh time, or invalidated by a tag while it
/// has grace), or a miss (invalidated without grace).
pub fn finish_read(
  stats: &Stats,
  id: u32,
  stored: Vec<u8>,
  opened: Opened,
  tags_valid: bool,
) -> Completion {
  let stale = !tags_valid || opened.fresh_until.is_some_and(|t| t <= now_ms());
  if !tags_valid && opened.fresh_until.is_none() {
    Stats::add(&stats.misses, 1);
    return Completion::miss(id);
  }
  let status = if stale {
    Stats::add(&stats.misses, 1);
    STATUS_STALE
  } else {
    Stats::add(&stats.hits, 1);
    STATUS_HIT
  };
  // The read trailer (see `frame`): how long the value may be kept in-process, until it expires
  // or turns stale.
  let until = match (opened.expires_at, opened.fresh_until) {
    (Some(a), Some(b)) => a.min(b),
    (Some(a), None) | (None, Some(a)) => a,
    (None, None) => 0,
  } as f64;
  let tag = opened.codec | if opened.tags.is_empty() { 0 } else { TAGGED };
  let (data, start) = match opened.unpacked {
    Some(v) => (v, 0),
    None => (stored, opened.start),
  };
  Completion::read(id, status, tag, data, start, until)
}

/// `open_stored` + `finish_read` for values without tags to check.
#[cfg(test)]
pub fn stored_value(settings: &Settings, stats: &Stats, id: u32, stored: Vec<u8>) -> Completion {
  match open_stored(settings, stats, &stored) {
    Some(opened) => finish_read(stats, id, stored, opened, true),
    None => Completion::miss(id),
  }
}

/// A generic command reply. Nil is a miss; server errors are errors.
pub fn command_reply(id: u32, v: Value) -> Completion {
  match v {
    Value::Nil => Completion::miss(id),
    Value::Int(n) => {
      Completion::with_status(id, STATUS_HIT, REPLY_INT, n.to_string().into_bytes(), 0)
    }
    Value::BulkString(b) => Completion::with_status(id, STATUS_HIT, REPLY_BULK, b, 0),
    Value::Okay => Completion::with_status(id, STATUS_HIT, REPLY_STATUS, b"OK".to_vec(), 0),
    Value::SimpleString(s) => {
      Completion::with_status(id, STATUS_HIT, REPLY_STATUS, s.into_bytes(), 0)
    }
    Value::ServerError(e) => Completion::error(id, &CacheError::from(redis::RedisError::from(e))),
    other => {
      let mut out = Vec::new();
      if !json(&other, &mut out, 0) {
        return Completion::error(
          id,
          &CacheError::new(
            ErrorKind::Server,
            format!("reply nested deeper than {MAX_DEPTH} levels"),
          ),
        );
      }
      Completion::with_status(id, STATUS_HIT, REPLY_JSON, out, 0)
    }
  }
}

/// Deepest nesting of a reply turned into JSON: a hostile reply must not exhaust the stack.
const MAX_DEPTH: usize = 64;

/// Appends `v` as JSON; false when it nests too deeply.
fn json(v: &Value, out: &mut Vec<u8>, depth: usize) -> bool {
  if depth > MAX_DEPTH {
    return false;
  }
  match v {
    Value::Nil => out.extend_from_slice(b"null"),
    Value::Int(n) => out.extend_from_slice(n.to_string().as_bytes()),
    Value::Double(d) if d.is_finite() => out.extend_from_slice(d.to_string().as_bytes()),
    Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
    Value::BulkString(b) => string(&String::from_utf8_lossy(b), out),
    Value::SimpleString(s) => string(s, out),
    Value::Okay => string("OK", out),
    Value::Array(items) | Value::Set(items) => {
      out.push(b'[');
      for (i, item) in items.iter().enumerate() {
        if i > 0 {
          out.push(b',');
        }
        if !json(item, out, depth + 1) {
          return false;
        }
      }
      out.push(b']');
    }
    Value::Map(pairs) => {
      out.push(b'[');
      for (i, (k, val)) in pairs.iter().enumerate() {
        if i > 0 {
          out.push(b',');
        }
        out.push(b'[');
        if !json(k, out, depth + 1) {
          return false;
        }
        out.push(b',');
        if !json(val, out, depth + 1) {
          return false;
        }
        out.push(b']');
      }
      out.push(b']');
    }
    other => string(&format!("{other:?}"), out),
  }
  true
}

fn string(s: &str, out: &mut Vec<u8>) {
  out.extend_from_slice(
    serde_json::Value::String(s.to_owned())
      .to_string()
      .as_bytes(),
  );
}

/// The error for a reply that does not fit the command that was sent.
pub fn unexpected(id: u32, v: &Value) -> Completion {
  Completion::error(
    id,
    &CacheError::new(
      ErrorKind::Server,
      format!("unexpected reply from Valkey: {v:?}"),
    ),
  )
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::boundary::frame::{STATUS_ERROR, STATUS_MISS};

  #[test]
  fn converts_command_replies() {
    assert_eq!(command_reply(1, Value::Nil).status, STATUS_MISS);
    let c = command_reply(1, Value::Int(-5));
    assert_eq!((c.tag, c.data.as_slice()), (REPLY_INT, &b"-5"[..]));
    let arr = Value::Array(vec![
      Value::Int(1),
      Value::BulkString(b"a\"b".to_vec()),
      Value::Nil,
    ]);
    let c = command_reply(2, arr);
    assert_eq!(
      (c.tag, String::from_utf8(c.data).unwrap()),
      (REPLY_JSON, r#"[1,"a\"b",null]"#.to_string())
    );
  }

  #[test]
  fn stale_values_are_flagged_and_foreign_values_are_misses() {
    let settings = Settings {
      compression: None,
      max_value_bytes: 1 << 20,
      max_key_bytes: 100,
    };
    let stats = Stats::default();
    let (old, _) = codec::seal(
      1,
      b"1",
      None,
      codec::Meta {
        fresh_until: Some(now_ms() - 10),
        expires_at: None,
        tags: &[],
      },
    )
    .unwrap();
    assert_eq!(stored_value(&settings, &stats, 1, old).status, STATUS_STALE);
    let (fresh, _) = codec::seal(
      1,
      b"1",
      None,
      codec::Meta {
        fresh_until: Some(now_ms() + 60_000),
        expires_at: None,
        tags: &[],
      },
    )
    .unwrap();
    assert_eq!(stored_value(&settings, &stats, 1, fresh).status, STATUS_HIT);
    assert_eq!(
      stored_value(&settings, &stats, 1, b"plain".to_vec()).status,
      STATUS_MISS
    );
    assert_eq!(stats.snapshot().errors, 1);
    assert_ne!(STATUS_ERROR, STATUS_STALE);
  }
}
