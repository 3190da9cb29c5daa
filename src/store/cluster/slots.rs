//! Hash slots: which slot a key belongs to, and whether a reply says the cluster wants a command
//! elsewhere (MOVED/ASK) or later (TRYAGAIN…).

use redis::{RedisError, RetryMethod, Value};

/// Hash slots of a Valkey Cluster.
pub const SLOTS: u16 = 16384;

/// The hash slot of a key: CRC16 (XMODEM) of its `{hash tag}` if it has a non-empty one.
pub fn slot_of(key: &[u8]) -> u16 {
  let tagged = key.iter().position(|b| *b == b'{').and_then(|open| {
    let rest = &key[open + 1..];
    let close = rest.iter().position(|b| *b == b'}')?;
    (close > 0).then(|| &rest[..close])
  });
  let mut crc: u16 = 0;
  for b in tagged.unwrap_or(key) {
    crc ^= u16::from(*b) << 8;
    for _ in 0..8 {
      crc = if crc & 0x8000 != 0 {
        (crc << 1) ^ 0x1021
      } else {
        crc << 1
      };
    }
  }
  crc % SLOTS
}

/// Whether a reply says the command was not run and the cluster wants it elsewhere or later
/// (MOVED, ASK, TRYAGAIN, CLUSTERDOWN, READONLY, LOADING…).
pub fn redirected(v: &Value) -> Option<RetryMethod> {
  let Value::ServerError(e) = v else {
    return None;
  };
  match RedisError::from(e.clone()).retry_method() {
    RetryMethod::NoRetry => None,
    m => Some(m),
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn computes_hash_slots_like_valkey() {
    // Values from CLUSTER KEYSLOT.
    assert_eq!(slot_of(b"foo"), 12182);
    assert_eq!(slot_of(b"123456789"), 12739);
    assert_eq!(slot_of(b"{user1000}.following"), slot_of(b"user1000"));
    assert_eq!(slot_of(b"foo{}{bar}"), slot_of(b"foo{}{bar}"));
    assert_ne!(slot_of(b"foo{}{bar}"), slot_of(b"bar"));
    assert_eq!(slot_of(b"foo{{bar}}zap"), slot_of(b"{bar"));
    assert_eq!(slot_of(b""), 0);
  }

  #[test]
  fn recognizes_redirections() {
    let reply = |resp: &[u8]| redis::parse_redis_value(resp).unwrap();
    let moved = reply(b"-MOVED 3999 127.0.0.1:6381\r\n");
    assert!(matches!(
      redirected(&moved),
      Some(RetryMethod::MovedRedirect)
    ));
    let ask = reply(b"-ASK 3999 127.0.0.1:6381\r\n");
    assert!(matches!(redirected(&ask), Some(RetryMethod::AskRedirect)));
    assert!(redirected(&reply(b"-TRYAGAIN keys moving\r\n")).is_some());
    assert!(redirected(&reply(b"-ERR wrong number of arguments\r\n")).is_none());
    assert!(redirected(&reply(b"-CROSSSLOT keys\r\n")).is_none());
    assert!(redirected(&Value::Okay).is_none());
  }
}
