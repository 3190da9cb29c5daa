//! The envelope every stored value carries: magic, format version, codec id, compression flag and
//! a checksum, so a foreign, corrupt or future-format value is recognised as such and never
//! decoded into a wrong value.

/// First two bytes of every value we write. 0xFE never starts valid UTF-8, so JSON or text written
/// by another client can never look like ours.
pub const MAGIC: [u8; 2] = [0xFE, 0xCA];
pub const FORMAT_VERSION: u8 = 1;
pub const HEADER_LEN: usize = 8;
const FLAG_LZ4: u8 = 0x10;
/// The header is followed by 8 bytes: epoch milliseconds until which the value is fresh (after
/// that it is stale: servable only within grace).
const FLAG_FRESH_UNTIL: u8 = 0x20;
/// Then the entry's tags: count u16, and per tag: marker key (len u16 + bytes) and the marker
/// value seen when the entry was written (len u8 + bytes; empty = no marker). The entry is valid
/// while every marker still holds that value.
const FLAG_TAGS: u8 = 0x40;
/// Then 8 bytes: epoch ms when the entry expires (lets an in-process tier never outlive it).
const FLAG_EXPIRES_AT: u8 = 0x80;

/// A tag of an entry: the marker key and the marker value seen at write time.
pub type TagSnapshot<'a> = (&'a [u8], &'a [u8]);
const CODEC_MASK: u8 = 0x0F;

/// Compression settings: `None` turns compression off.
#[derive(Clone, Copy, Debug)]
pub struct Compression {
  pub threshold: usize,
}

/// Why a stored value was not decoded.
#[derive(Debug, PartialEq, Eq)]
pub enum Rejected {
  Foreign,
  FutureVersion(u8),
  Checksum,
  Corrupt(&'static str),
}

/// Everything the envelope carries besides the payload.
#[derive(Default, Clone, Copy)]
pub struct Meta<'a> {
  /// Epoch ms when the value turns stale (servable only within grace after that).
  pub fresh_until: Option<u64>,
  /// Epoch ms when the entry expires.
  pub expires_at: Option<u64>,
  pub tags: &'a [TagSnapshot<'a>],
}

/// Wraps a serialized payload into the stored form; compresses it when worthwhile.
/// Returns the stored bytes and whether they were compressed.
pub fn seal(
  codec: u8,
  payload: &[u8],
  compression: Option<Compression>,
  meta: Meta,
) -> (Vec<u8>, bool) {
  if let Some(c) = compression {
    if payload.len() >= c.threshold {
      let packed = lz4_flex::block::compress_prepend_size(payload);
      // Only keep it when it saves at least 1/8: otherwise reading pays for nothing.
      if packed.len() + packed.len() / 8 < payload.len() {
        return (frame(codec | FLAG_LZ4, &packed, meta), true);
      }
    }
  }
  (frame(codec, payload, meta), false)
}

fn frame(mut flags: u8, body: &[u8], meta: Meta) -> Vec<u8> {
  let tag_bytes: usize = meta.tags.iter().map(|(k, v)| 3 + k.len() + v.len()).sum();
  let mut out = Vec::with_capacity(HEADER_LEN + 10 + tag_bytes + body.len());
  out.extend_from_slice(&MAGIC);
  out.push(FORMAT_VERSION);
  out.push(0);
  out.extend_from_slice(&[0; 4]);
  if let Some(t) = meta.fresh_until {
    flags |= FLAG_FRESH_UNTIL;
    out.extend_from_slice(&t.to_le_bytes());
  }
  if let Some(t) = meta.expires_at {
    flags |= FLAG_EXPIRES_AT;
    out.extend_from_slice(&t.to_le_bytes());
  }
  if !meta.tags.is_empty() {
    flags |= FLAG_TAGS;
    out.extend_from_slice(&(meta.tags.len() as u16).to_le_bytes());
    for (key, seen) in meta.tags {
      out.extend_from_slice(&(key.len() as u16).to_le_bytes());
      out.extend_from_slice(key);
      out.push(seen.len() as u8);
      out.extend_from_slice(seen);
    }
  }
  out.extend_from_slice(body);
  out[3] = flags;
  let crc = crc32fast::hash(&out[HEADER_LEN..]);
  out[4..8].copy_from_slice(&crc.to_le_bytes());
  out
}

/// An opened value: codec id, where the payload starts in the stored bytes (or the decompressed
/// payload), and until when it is fresh.
#[derive(Debug, PartialEq, Eq)]
pub struct Opened {
  pub codec: u8,
  pub fresh_until: Option<u64>,
  pub expires_at: Option<u64>,
  /// (marker key, marker value seen) ranges into the stored bytes.
  pub tags: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>,
  /// `Some` when the payload had to be decompressed; otherwise it is `stored[start..]`.
  pub unpacked: Option<Vec<u8>>,
  pub start: usize,
}

/// Checks and unwraps a stored value. `max_len` bounds the decompressed size (no zip bombs).
pub fn open(stored: &[u8], max_len: usize) -> Result<Opened, Rejected> {
  if stored.len() < HEADER_LEN || stored[0..2] != MAGIC {
    return Err(Rejected::Foreign);
  }
  if stored[2] != FORMAT_VERSION {
    return Err(Rejected::FutureVersion(stored[2]));
  }
  let flags = stored[3];
  let codec = flags & CODEC_MASK;
  // Every flag bit has a meaning in format 1; new ones need a new format version.
  if codec == 0 {
    return Err(Rejected::Corrupt("no codec"));
  }
  let crc = u32::from_le_bytes([stored[4], stored[5], stored[6], stored[7]]);
  if crc32fast::hash(&stored[HEADER_LEN..]) != crc {
    return Err(Rejected::Checksum);
  }
  let mut at = HEADER_LEN;
  let mut take = |n: usize| -> Result<std::ops::Range<usize>, Rejected> {
    let end = at + n;
    if end > stored.len() {
      return Err(Rejected::Corrupt("short header"));
    }
    let r = at..end;
    at = end;
    Ok(r)
  };
  let mut fresh_until = None;
  if flags & FLAG_FRESH_UNTIL != 0 {
    let r = take(8)?;
    fresh_until = Some(u64::from_le_bytes(stored[r].try_into().unwrap_or([0; 8])));
  }
  let mut expires_at = None;
  if flags & FLAG_EXPIRES_AT != 0 {
    let r = take(8)?;
    expires_at = Some(u64::from_le_bytes(stored[r].try_into().unwrap_or([0; 8])));
  }
  let mut tags = Vec::new();
  if flags & FLAG_TAGS != 0 {
    let r = take(2)?;
    let count = u16::from_le_bytes([stored[r.start], stored[r.start + 1]]);
    for _ in 0..count {
      let r = take(2)?;
      let key = take(u16::from_le_bytes([stored[r.start], stored[r.start + 1]]) as usize)?;
      let r = take(1)?;
      let seen = take(stored[r.start] as usize)?;
      tags.push((key, seen));
    }
  }
  let start = at;
  let body = &stored[start..];
  let mut opened = Opened {
    codec,
    fresh_until,
    expires_at,
    tags,
    unpacked: None,
    start,
  };
  if flags & FLAG_LZ4 == 0 {
    return Ok(opened);
  }
  if body.len() < 4 {
    return Err(Rejected::Corrupt("short compressed body"));
  }
  let declared = u32::from_le_bytes([body[0], body[1], body[2], body[3]]) as usize;
  if declared > max_len {
    return Err(Rejected::Corrupt("declared size over the limit"));
  }
  let unpacked = lz4_flex::block::decompress_size_prepended(body)
    .map_err(|_| Rejected::Corrupt("lz4 data does not decode"))?;
  opened.unpacked = Some(unpacked);
  opened.start = 0;
  Ok(opened)
}

impl Opened {
  #[cfg(test)]
  pub fn payload<'a>(&'a self, stored: &'a [u8]) -> &'a [u8] {
    match &self.unpacked {
      Some(v) => v,
      None => &stored[self.start..],
    }
  }
}

#[cfg(test)]
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
    );
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
    );
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
    );
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
    );
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
    );
    let last = stored.len() - 1;
    stored[last] ^= 1;
    assert_eq!(open(&stored, 100), Err(Rejected::Checksum));
    let (mut future, _) = seal(1, b"x", None, Meta::default());
    future[2] = 9;
    assert_eq!(open(&future, 100), Err(Rejected::FutureVersion(9)));
    let big = json_like(100);
    let (stored, _) = seal(
      1,
      &big,
      Some(Compression { threshold: 10 }),
      Meta::default(),
    );
    assert_eq!(
      open(&stored, 100),
      Err(Rejected::Corrupt("declared size over the limit"))
    );
  }
}
