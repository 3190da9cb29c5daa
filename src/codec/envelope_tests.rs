//! Unit tests of the envelope (a test per rejection), apart from envelope.rs to keep it short.

use super::*;

mod tests {
  use super::*;

  fn json_like(n: usize) -> Vec<u8> {
    let mut s = String::from("[");
    for i in 0..n {
      s.push_str(&format!(
        "{{\"id\":{i},\"name\":\"item {i}\",\"tags\":[\"a\",\"b\"],\"active\":true}},"
      ));
    }
    s.push_str("null]");
    s.into_bytes()
  }

  #[test]
  fn round_trips_plain_and_compressed() {
    let small = b"{\"a\":1}".to_vec();
    let (stored, packed) = seal(
      1,
      &small,
      Some(Compression { threshold: 1024 }),
      Meta::default(),
    )
    .unwrap();
    assert!(!packed);
    let opened = open(&stored, 1 << 20).unwrap();
    assert_eq!((opened.codec, opened.fresh_until), (1, None));
    assert_eq!(opened.payload(&stored), small.as_slice());

    let big = json_like(500);
    let (stored, packed) = seal(
      2,
      &big,
      Some(Compression { threshold: 1024 }),
      Meta {
        fresh_until: Some(1234),
        expires_at: Some(5678),
        tags: &[(b"tag:a", b"v1"), (b"tag:b", b"")],
      },
    )
    .unwrap();
    assert!(packed);
    assert!(
      stored.len() * 3 < big.len(),
      "json-like data should compress well"
    );
    let opened = open(&stored, 1 << 20).unwrap();
    assert_eq!(
      (opened.codec, opened.fresh_until, opened.expires_at),
      (2, Some(1234), Some(5678))
    );
    let tags: Vec<(&[u8], &[u8])> = opened
      .tags
      .iter()
      .map(|(k, v)| (&stored[k.clone()], &stored[v.clone()]))
      .collect();
    assert_eq!(
      tags,
      vec![(&b"tag:a"[..], &b"v1"[..]), (&b"tag:b"[..], &b""[..])]
    );
    assert_eq!(opened.payload(&stored), big.as_slice());
  }

  #[test]
  fn a_flipped_header_byte_is_caught() {
    let (mut stored, _) = seal(
      1,
      b"{}",
      None,
      Meta {
        fresh_until: Some(99),
        expires_at: None,
        tags: &[(b"k", b"v")],
      },
    )
    .unwrap();
    stored[HEADER_LEN] ^= 1; // inside fresh_until
    assert_eq!(open(&stored, 100), Err(Rejected::Checksum));
  }

  #[test]
  fn incompressible_data_is_stored_raw() {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let noise: Vec<u8> = (0..4096)
      .map(|_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 24) as u8
      })
      .collect();
    let (stored, packed) = seal(
      1,
      &noise,
      Some(Compression { threshold: 16 }),
      Meta::default(),
    )
    .unwrap();
    assert!(!packed);
    assert_eq!(stored.len(), noise.len() + HEADER_LEN);
  }

  #[test]
  fn rejects_foreign_corrupt_and_future_values() {
    assert_eq!(open(b"{\"plain\":\"json\"}", 100), Err(Rejected::Foreign));
    assert_eq!(open(b"", 100), Err(Rejected::Foreign));
    let (mut stored, _) = seal(
      1,
      b"hello world",
      None,
      Meta {
        fresh_until: Some(7),
        expires_at: None,
        tags: &[],
      },
    )
    .unwrap();
    let last = stored.len() - 1;
    stored[last] ^= 1;
    assert_eq!(open(&stored, 100), Err(Rejected::Checksum));
    let (mut future, _) = seal(1, b"x", None, Meta::default()).unwrap();
    future[2] = 9;
    assert_eq!(open(&future, 100), Err(Rejected::FutureVersion(9)));
    let big = json_like(100);
    let (stored, _) = seal(
      1,
      &big,
      Some(Compression { threshold: 10 }),
      Meta::default(),
    )
    .unwrap();
    assert_eq!(
      open(&stored, 100),
      Err(Rejected::Corrupt("declared size over the limit"))
    );
  }
}

mod coverage {
  use super::*;

  fn sample() -> Vec<u8> {
    seal(
      1,
      b"1234567890",
      None,
      Meta {
        fresh_until: Some(1),
        expires_at: None,
        tags: &[(b"m", b"v")],
      },
    )
    .unwrap()
    .0
  }

  /// Flipping any bit of any byte — flags included — is an error, never another value.
  #[test]
  fn every_bit_of_every_byte_is_covered() {
    let stored = sample();
    for i in 0..stored.len() {
      for bit in 0..8 {
        let mut bad = stored.clone();
        bad[i] ^= 1 << bit;
        assert!(
          open(&bad, 1 << 20).is_err(),
          "byte {i} bit {bit} went unnoticed"
        );
      }
    }
  }

  #[test]
  fn format_1_values_are_never_decoded() {
    let mut old = sample();
    old[2] = 1;
    assert_eq!(open(&old, 1 << 20), Err(Rejected::OldVersion(1)));
  }

  #[test]
  fn fields_that_do_not_fit_are_refused_not_truncated() {
    let long = vec![b'v'; 70_000];
    let tags = [(&b"m"[..], long.as_slice())];
    let meta = Meta {
      tags: &tags,
      ..Meta::default()
    };
    assert_eq!(
      seal(1, b"x", None, meta).unwrap_err().kind,
      ErrorKind::Server
    );
    let many: Vec<TagSnapshot> = (0..70_000).map(|_| (&b"m"[..], &b""[..])).collect();
    let meta = Meta {
      tags: &many,
      ..Meta::default()
    };
    assert_eq!(
      seal(1, b"x", None, meta).unwrap_err().kind,
      ErrorKind::InvalidOption
    );
    // A marker key over 64 KiB (long prefix) is kept whole.
    let key = vec![b'p'; 70_000];
    let tags = [(key.as_slice(), &b"v1"[..])];
    let meta = Meta {
      tags: &tags,
      ..Meta::default()
    };
    let stored = seal(1, b"x", None, meta).unwrap().0;
    let opened = open(&stored, 100).unwrap();
    assert_eq!(&stored[opened.tags[0].0.clone()], key.as_slice());
  }
}
