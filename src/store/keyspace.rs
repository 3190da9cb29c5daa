//! The internal keyspace: keys the engine and the TypeScript layer keep for themselves (tag
//! markers `<root prefix> 0xFF "tag:" <tag>`, getOrSet leases `<key with hash tag> 0xFF "fc-lock"`).
//!
//! Why a 0xFF byte: user keys are JavaScript strings sent as UTF-8, and UTF-8 never contains the
//! byte 0xFF, so no user key — whatever it holds, NUL or the text of a marker included — can be
//! equal to an internal key. Escaping user keys instead would change every stored key (and its
//! cluster slot); a reserved byte changes nothing for them. Internal keys still start with the
//! cache's prefix (ACL key patterns keep working) and lease keys keep their key's hash slot. The
//! engine also refuses a 0xFF byte in the key of a get/set/delete/exists and never lets
//! `deleteMatching` remove an internal key (a pattern such as `[^u]*` matches markers too:
//! deleting a marker would bring back what its invalidation hid).

/// The byte that marks a key as internal.
pub const INTERNAL: u8 = 0xFF;

/// Whether a key belongs to the internal keyspace.
pub fn is_internal(key: &[u8]) -> bool {
  key.contains(&INTERNAL)
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn no_utf8_text_is_internal() {
    for s in [
      "",
      "fc:\u{0}tag:x",
      "\u{FFFF}",
      "\u{10FFFF}",
      "\u{FFFD}",
      "ÿ",
    ] {
      assert!(!is_internal(s.as_bytes()), "{s:?}");
    }
    assert!(is_internal(b"fc:\xFFtag:x"));
  }
}
