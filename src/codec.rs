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

/// Wraps a serialized payload into the stored form; compresses it when worthwhile.
/// Returns the stored bytes and whether they were compressed.
/// `fresh_until` (epoch ms), when set, marks the moment the value turns stale.
pub fn seal(
  codec: u8,
  payload: &[u8],
  compression: Option<Compression>,
  fresh_until: Option<u64>,
) -> (Vec<u8>, bool) {
  if let Some(c) = compression {
    if payload.len() >= c.threshold {
      let packed = lz4_flex::block::compress_prepend_size(payload);
      // Only keep it when it saves at least 1/8: otherwise reading pays for nothing.
      if packed.len() + packed.len() / 8 < payload.len() {
        return (frame(codec | FLAG_LZ4, &packed, fresh_until), true);
      }
    }
  }
  (frame(codec, payload, fresh_until), false)
}

fn frame(mut flags: u8, body: &[u8], fresh_until: Option<u64>) -> Vec<u8> {
  let mut out = Vec::with_capacity(HEADER_LEN + 8 + body.len());
  if fresh_until.is_some() {
    flags |= FLAG_FRESH_UNTIL;
  }
  out.extend_from_slice(&MAGIC);
  out.push(FORMAT_VERSION);
  out.push(flags);
  out.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
  if let Some(t) = fresh_until {
    out.extend_from_slice(&t.to_le_bytes());
  }
  out.extend_from_slice(body);
  out
}

/// An opened value: codec id, where the payload starts in the stored bytes (or the decompressed
/// payload), and until when it is fresh.
#[derive(Debug, PartialEq, Eq)]
pub struct Opened {
  pub codec: u8,
  pub fresh_until: Option<u64>,
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
  if codec == 0 || flags & !(CODEC_MASK | FLAG_LZ4 | FLAG_FRESH_UNTIL) != 0 {
    return Err(Rejected::Corrupt("unknown flags"));
  }
  let crc = u32::from_le_bytes([stored[4], stored[5], stored[6], stored[7]]);
  let mut start = HEADER_LEN;
  let mut fresh_until = None;
  if flags & FLAG_FRESH_UNTIL != 0 {
    let t = stored
      .get(HEADER_LEN..HEADER_LEN + 8)
      .ok_or(Rejected::Corrupt("short header"))?;
    fresh_until = Some(u64::from_le_bytes(t.try_into().unwrap_or([0; 8])));
    start += 8;
  }
  let body = &stored[start..];
  if crc32fast::hash(body) != crc {
    return Err(Rejected::Checksum);
  }
  let mut opened = Opened {
    codec,
    fresh_until,
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
    let (stored, packed) = seal(1, &small, Some(Compression { threshold: 1024 }), None);
    assert!(!packed);
    let opened = open(&stored, 1 << 20).unwrap();
    assert_eq!((opened.codec, opened.fresh_until), (1, None));
    assert_eq!(opened.payload(&stored), small.as_slice());

    let big = json_like(500);
    let (stored, packed) = seal(2, &big, Some(Compression { threshold: 1024 }), Some(1234));
    assert!(packed);
    assert!(
      stored.len() * 3 < big.len(),
      "json-like data should compress well"
    );
    let opened = open(&stored, 1 << 20).unwrap();
    assert_eq!((opened.codec, opened.fresh_until), (2, Some(1234)));
    assert_eq!(opened.payload(&stored), big.as_slice());
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
    let (stored, packed) = seal(1, &noise, Some(Compression { threshold: 16 }), None);
    assert!(!packed);
    assert_eq!(stored.len(), noise.len() + HEADER_LEN);
  }

  #[test]
  fn rejects_foreign_corrupt_and_future_values() {
    assert_eq!(open(b"{\"plain\":\"json\"}", 100), Err(Rejected::Foreign));
    assert_eq!(open(b"", 100), Err(Rejected::Foreign));
    let (mut stored, _) = seal(1, b"hello world", None, Some(7));
    let last = stored.len() - 1;
    stored[last] ^= 1;
    assert_eq!(open(&stored, 100), Err(Rejected::Checksum));
    let (mut future, _) = seal(1, b"x", None, None);
    future[2] = 9;
    assert_eq!(open(&future, 100), Err(Rejected::FutureVersion(9)));
    let big = json_like(100);
    let (stored, _) = seal(1, &big, Some(Compression { threshold: 10 }), None);
    assert_eq!(
      open(&stored, 100),
      Err(Rejected::Corrupt("declared size over the limit"))
    );
  }
}
