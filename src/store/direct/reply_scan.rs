//! Where one RESP2 reply ends in a buffer that may hold less than a whole reply. The direct
//! connection reads whatever the socket has, and only a complete reply is read into a value
//! (`reply_value`, falling back to redis-rs's `parse_redis_value`, which has no notion of "not
//! yet").
//!
//! Only RESP2 is accepted (the handshake never asks for RESP3): simple strings, errors,
//! integers, bulk strings and arrays. Anything else, or a length no server sends, is a protocol
//! error: the connection is dropped, never guessed at.

/// A bulk string longer than this is not a reply (Valkey's `proto-max-bulk-len` is 512 MB).
const MAX_BULK: i64 = 1 << 30;
/// More array elements than this in one reply is not a reply either.
const MAX_ELEMENTS: i64 = 1 << 31;

/// The reply is not RESP2 as a server writes it.
#[derive(Debug, PartialEq)]
pub struct ProtocolError(pub &'static str);

/// The length of the first complete reply in `buf`, or `None` when `buf` holds only part of it.
pub fn reply_len(buf: &[u8]) -> Result<Option<usize>, ProtocolError> {
  let mut at = 0;
  // Values still to read: an array header adds its elements (pre-order, so no stack is needed).
  let mut pending: i64 = 1;
  while pending > 0 {
    let Some(kind) = buf.get(at).copied() else {
      return Ok(None);
    };
    let Some(eol) = line_end(buf, at + 1)? else {
      return Ok(None);
    };
    let line = &buf[at + 1..eol];
    at = eol + 2;
    pending -= 1;
    match kind {
      b'+' | b'-' | b':' => {}
      b'$' => {
        let n = number(line)?;
        if n == -1 {
          continue;
        }
        if !(0..=MAX_BULK).contains(&n) {
          return Err(ProtocolError("bulk string length out of range"));
        }
        let end = at + n as usize;
        if buf.len() < end + 2 {
          return Ok(None);
        }
        if &buf[end..end + 2] != b"\r\n" {
          return Err(ProtocolError("bulk string not terminated by CRLF"));
        }
        at = end + 2;
      }
      b'*' => {
        let n = number(line)?;
        if !(-1..=MAX_ELEMENTS).contains(&n) || pending + n.max(0) > MAX_ELEMENTS {
          return Err(ProtocolError("array length out of range"));
        }
        pending += n.max(0);
      }
      _ => return Err(ProtocolError("not a RESP2 reply type")),
    }
  }
  Ok(Some(at))
}

/// The index of the `\r` of the `\r\n` ending the line that starts at `from` (`None`: not
/// all there yet). A reply's header or status line never holds a `\r` of its own.
fn line_end(buf: &[u8], from: usize) -> Result<Option<usize>, ProtocolError> {
  let Some(rest) = buf.get(from..) else {
    return Ok(None);
  };
  let Some(cr) = rest.iter().position(|&b| b == b'\r') else {
    return Ok(None);
  };
  match rest.get(cr + 1) {
    Some(b'\n') => Ok(Some(from + cr)),
    Some(_) => Err(ProtocolError("a line holds a CR without LF")),
    None => Ok(None),
  }
}

/// A decimal length (`-1` allowed); anything else is a protocol error.
fn number(line: &[u8]) -> Result<i64, ProtocolError> {
  let text = std::str::from_utf8(line).map_err(|_| ProtocolError("length is not a number"))?;
  if text.is_empty() || text.len() > 20 {
    return Err(ProtocolError("length is not a number"));
  }
  text
    .parse::<i64>()
    .map_err(|_| ProtocolError("length is not a number"))
}

#[cfg(test)]
mod tests {
  use super::*;
  use proptest::prelude::*;

  #[test]
  fn finds_the_end_of_each_kind_of_reply() {
    assert_eq!(reply_len(b"+OK\r\n"), Ok(Some(5)));
    assert_eq!(reply_len(b"-ERR no\r\n+OK\r\n"), Ok(Some(9)));
    assert_eq!(reply_len(b":42\r\n"), Ok(Some(5)));
    assert_eq!(reply_len(b"$-1\r\n"), Ok(Some(5)));
    assert_eq!(reply_len(b"$3\r\nabc\r\n"), Ok(Some(9)));
    assert_eq!(reply_len(b"$0\r\n\r\n"), Ok(Some(6)));
    assert_eq!(reply_len(b"*-1\r\n"), Ok(Some(5)));
    assert_eq!(reply_len(b"*0\r\n"), Ok(Some(4)));
    let nested = b"*2\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n+next\r\n";
    assert_eq!(reply_len(nested), Ok(Some(nested.len() - 7)));
  }

  #[test]
  fn a_value_holding_crlf_is_read_by_its_length() {
    assert_eq!(reply_len(b"$4\r\n\r\n\r\n\r\n"), Ok(Some(10)));
  }

  #[test]
  fn rejects_what_no_server_sends() {
    for bad in [
      &b"$x\r\n"[..],
      b"$-2\r\n",
      b"$99999999999\r\n",
      b"$1\r\nab\r\n",
      b"*-5\r\n",
      b"%1\r\n",
      b">1\r\n",
      b"$\r\n",
      b"*99999999999999999999999\r\n",
    ] {
      assert!(
        reply_len(bad).is_err(),
        "{:?}",
        String::from_utf8_lossy(bad)
      );
    }
  }

  #[test]
  fn a_line_is_complete_only_with_its_lf() {
    assert_eq!(reply_len(b"+OK\r"), Ok(None));
    assert!(reply_len(b"+O\rK\r\n").is_err());
  }

  proptest! {
    /// Every prefix of a valid reply is incomplete, never an error nor a wrong length, and the
    /// whole reply parses with redis-rs to the value it encodes.
    #[test]
    fn prefixes_are_incomplete(values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..8)) {
      let mut wire = format!("*{}\r\n", values.len()).into_bytes();
      for v in &values {
        wire.extend(format!("${}\r\n", v.len()).as_bytes());
        wire.extend(v);
        wire.extend(b"\r\n");
      }
      for cut in 0..wire.len() {
        prop_assert_eq!(reply_len(&wire[..cut]), Ok(None));
      }
      prop_assert_eq!(reply_len(&wire), Ok(Some(wire.len())));
      let parsed = redis::parse_redis_value(&wire).unwrap();
      let want = redis::Value::Array(values.into_iter().map(redis::Value::BulkString).collect());
      prop_assert_eq!(parsed, want);
    }

    /// Arbitrary bytes never panic.
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
      let _ = reply_len(&bytes);
    }
  }
}
