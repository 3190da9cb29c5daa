//! The value of one complete RESP2 reply (as `reply_scan::reply_len` delimited it), built in one
//! pass over the bytes for the shapes the data path gets back: bulk strings, nils, integers,
//! `+OK` and arrays of them (an `MGET` of 100 values, a pipeline's replies). redis-rs's parser
//! builds the same values through a general combinator parser: ~25 µs of a sequential 100-key
//! `getMany` (~4%, as much as reading the reply off the socket; docs/architecture.md, "The
//! direct path"), ~3× what this takes.
//!
//! Anything outside those shapes (errors, other simple strings, deep nesting, a number written
//! in a way this does not expect) is handed to redis-rs's parser as before, so every reply reads
//! exactly as redis-rs reads it: the property tests compare the two on arbitrary replies.

use redis::{RedisResult, Value};

/// Arrays nested deeper than this go to redis-rs (its own limit is 100); the data path's replies
/// are one or two levels deep.
const MAX_FAST_DEPTH: usize = 8;

/// The value of the complete reply `reply`, exactly as `redis::parse_redis_value` reads it.
pub fn parse_reply(reply: &[u8]) -> RedisResult<Value> {
  let mut at = 0;
  match value(reply, &mut at, 0) {
    Some(v) if at == reply.len() => Ok(v),
    _ => redis::parse_redis_value(reply),
  }
}

/// The value starting at `buf[*at]`, moving `at` past it; `None` = not a shape read here (or
/// not well formed): the caller falls back to redis-rs for the whole reply.
fn value(buf: &[u8], at: &mut usize, depth: usize) -> Option<Value> {
  let kind = *buf.get(*at)?;
  let line = line(buf, *at + 1)?;
  let text = &buf[*at + 1..line];
  *at = line + 2;
  match kind {
    b'$' => {
      let n = number(text)?;
      if n == -1 {
        return Some(Value::Nil);
      }
      let n = usize::try_from(n).ok()?;
      let end = at.checked_add(n)?;
      if buf.get(end..end + 2)? != b"\r\n" {
        return None;
      }
      let bytes = buf[*at..end].to_vec();
      *at = end + 2;
      Some(Value::BulkString(bytes))
    }
    b':' => number(text).map(Value::Int),
    b'+' if text == b"OK" => Some(Value::Okay),
    b'*' if depth < MAX_FAST_DEPTH => {
      let n = number(text)?;
      if n == -1 {
        return Some(Value::Nil);
      }
      let n = usize::try_from(n).ok()?;
      // Never trust a length for an allocation: each element takes at least 4 bytes.
      let mut items = Vec::with_capacity(n.min((buf.len() - *at) / 4));
      for _ in 0..n {
        items.push(value(buf, at, depth + 1)?);
      }
      Some(Value::Array(items))
    }
    _ => None,
  }
}

/// The index of the `\r\n` ending the line that starts at `from`.
fn line(buf: &[u8], from: usize) -> Option<usize> {
  let rest = buf.get(from..)?;
  let cr = rest.iter().position(|&b| b == b'\r')?;
  (rest.get(cr + 1) == Some(&b'\n')).then_some(from + cr)
}

/// A decimal written as servers write it (`-?[0-9]+`, no `+` or spaces), or `None`.
fn number(text: &[u8]) -> Option<i64> {
  let digits = text.strip_prefix(b"-").unwrap_or(text);
  if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
    return None;
  }
  // Out of range (or absurdly long) is an error here, then redis-rs's to report.
  std::str::from_utf8(text).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
  use super::*;
  use proptest::prelude::*;

  fn fast(reply: &[u8]) -> Option<Value> {
    let mut at = 0;
    value(reply, &mut at, 0).filter(|_| at == reply.len())
  }

  #[test]
  fn reads_the_data_path_shapes_itself() {
    let mget = b"*3\r\n$3\r\nabc\r\n$-1\r\n$0\r\n\r\n";
    let want = Value::Array(vec![
      Value::BulkString(b"abc".to_vec()),
      Value::Nil,
      Value::BulkString(Vec::new()),
    ]);
    assert_eq!(fast(mget), Some(want.clone()));
    assert_eq!(parse_reply(mget).unwrap(), want);
    assert_eq!(fast(b":-42\r\n"), Some(Value::Int(-42)));
    assert_eq!(fast(b"+OK\r\n"), Some(Value::Okay));
    assert_eq!(fast(b"*-1\r\n"), Some(Value::Nil));
    assert_eq!(
      fast(b"$4\r\n\r\n\r\n\r\n"),
      Some(Value::BulkString(b"\r\n\r\n".to_vec()))
    );
  }

  #[test]
  fn hands_everything_else_to_redis_rs() {
    for other in [
      &b"-ERR wrong type\r\n"[..],
      b"+PONG\r\n",
      b"*2\r\n+OK\r\n-ERR x\r\n",
      b":+5\r\n",
      b": 5\r\n",
      b":99999999999999999999\r\n",
    ] {
      assert_eq!(fast(other), None, "{:?}", String::from_utf8_lossy(other));
      assert_eq!(
        format!("{:?}", parse_reply(other)),
        format!("{:?}", redis::parse_redis_value(other))
      );
    }
  }

  #[test]
  fn integers_at_the_edges_of_i64() {
    assert_eq!(
      fast(b":9223372036854775807\r\n"),
      Some(Value::Int(i64::MAX))
    );
    assert_eq!(
      fast(b":-9223372036854775808\r\n"),
      Some(Value::Int(i64::MIN))
    );
    assert_eq!(fast(b":9223372036854775808\r\n"), None);
  }

  #[test]
  fn a_huge_declared_length_allocates_nothing() {
    assert_eq!(fast(b"*2000000000\r\n:1\r\n"), None);
    assert_eq!(fast(b"$2000000000\r\nab\r\n"), None);
  }

  #[test]
  fn deep_nesting_goes_to_redis_rs() {
    let mut wire = Vec::new();
    for _ in 0..MAX_FAST_DEPTH + 1 {
      wire.extend_from_slice(b"*1\r\n");
    }
    wire.extend_from_slice(b":1\r\n");
    assert_eq!(fast(&wire), None);
    assert_eq!(
      parse_reply(&wire).unwrap(),
      redis::parse_redis_value(&wire).unwrap()
    );
  }

  /// RESP2 replies of every kind a server sends, nested.
  fn reply() -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop_oneof![
      proptest::collection::vec(any::<u8>(), 0..24).prop_map(|b| {
        let mut w = format!("${}\r\n", b.len()).into_bytes();
        w.extend(b);
        w.extend(b"\r\n");
        w
      }),
      Just(b"$-1\r\n".to_vec()),
      Just(b"*-1\r\n".to_vec()),
      any::<i64>().prop_map(|n| format!(":{n}\r\n").into_bytes()),
      Just(b"+OK\r\n".to_vec()),
      "[a-zA-Z ]{0,12}".prop_map(|s| format!("+{s}\r\n").into_bytes()),
      "[A-Z]{1,6} [a-z ]{0,12}".prop_map(|s| format!("-{s}\r\n").into_bytes()),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
      proptest::collection::vec(inner, 0..6).prop_map(|items| {
        let mut w = format!("*{}\r\n", items.len()).into_bytes();
        for i in items {
          w.extend(i);
        }
        w
      })
    })
  }

  proptest! {
    /// Every reply reads exactly as redis-rs reads it.
    #[test]
    fn same_value_as_redis_rs(wire in reply()) {
      let ours = parse_reply(&wire);
      let theirs = redis::parse_redis_value(&wire);
      prop_assert_eq!(format!("{ours:?}"), format!("{theirs:?}"));
    }

    /// Arbitrary bytes never panic, and what the fast path accepts redis-rs reads the same way.
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
      if let Some(v) = fast(&bytes) {
        prop_assert_eq!(redis::parse_redis_value(&bytes).ok(), Some(v));
      }
    }
  }
}
