//! The envelope every stored value carries: magic, format version, codec id, compression flag and
//! a checksum, so a foreign, corrupt or future-format value is recognised as such and never
//! decoded into a wrong value.
//!
//! Layout (format 2): magic u16 | version u8 | flags u8 | crc32 u32 | optional fields | body.
//! The checksum covers every byte but its own four: magic, version and flags (which say how the
//! rest is read: codec, compression, which fields follow) as well as the fields and the body.
//! Format 1 left the flags byte out (one flipped flag bit could turn a value into another one):
//! format-1 values are never decoded, they read as misses and are rewritten by the next `set`.

use crate::error::{CacheError, ErrorKind};

/// First two bytes of every value we write. 0xFE never starts valid UTF-8, so JSON or text written
/// by another client can never look like ours.
pub const MAGIC: [u8; 2] = [0xFE, 0xCA];
pub const FORMAT_VERSION: u8 = 2;
pub const HEADER_LEN: usize = 8;
const FLAG_LZ4: u8 = 0x10;
/// The header is followed by 8 bytes: epoch milliseconds until which the value is fresh (after
/// that it is stale: servable only within grace).
const FLAG_FRESH_UNTIL: u8 = 0x20;
/// Then the entry's tags: count u16, and per tag: marker key (len u32 + bytes) and the marker
/// value seen when the entry was written (len u16 + bytes; empty = no marker). The entry is valid
/// while every marker still holds that value. Lengths that do not fit are refused when sealing,
/// never truncated.
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
  /// Written by an older format this version does not decode (a miss, rewritten by the next set).
  OldVersion(u8),
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
/// Returns the stored bytes and whether they were compressed; refuses what the envelope cannot
/// represent (too many tags, a marker key or marker value too long) instead of truncating it.
pub fn seal(
  codec: u8,
  payload: &[u8],
  compression: Option<Compression>,
  meta: Meta,
) -> Result<(Vec<u8>, bool), CacheError> {
  check_tags(meta.tags)?;
  if let Some(c) = compression {
    if payload.len() >= c.threshold {
      let packed = lz4_flex::block::compress_prepend_size(payload);
      // Only keep it when it saves at least 1/8: otherwise reading pays for nothing.
      if packed.len() + packed.len() / 8 < payload.len() {
        return Ok((frame(codec | FLAG_LZ4, &packed, meta), true));
      }
    }
  }
  Ok((frame(codec, payload, meta), false))
}

fn check_tags(tags: &[TagSnapshot]) -> Result<(), CacheError> {
  if u16::try_from(tags.len()).is_err() {
    return Err(CacheError::new(
      ErrorKind::InvalidOption,
      format!(
        "an entry takes at most {} tags, got {}",
        u16::MAX,
        tags.len()
      ),
    ));
  }
  for (key, seen) in tags {
    if u32::try_from(key.len()).is_err() {
      return Err(CacheError::new(
        ErrorKind::InvalidKey,
        format!(
          "a tag's marker key is {} bytes, over {}",
          key.len(),
          u32::MAX
        ),
      ));
    }
    if u16::try_from(seen.len()).is_err() {
      return Err(CacheError::new(
        ErrorKind::Server,
        format!(
          "the marker of a tag holds {} bytes, not a value this cache wrote; invalidate the tag to reset it",
          seen.len()
        ),
      ));
    }
  }
  Ok(())
}

/// CRC32 of everything but the checksum itself (bytes 4..8).
fn checksum(stored: &[u8]) -> u32 {
  let mut h = crc32fast::Hasher::new();
  h.update(&stored[..4]);
  h.update(&stored[HEADER_LEN..]);
  h.finalize()
}

/// Lengths were checked by `check_tags`.
fn frame(mut flags: u8, body: &[u8], meta: Meta) -> Vec<u8> {
  let tag_bytes: usize = meta.tags.iter().map(|(k, v)| 6 + k.len() + v.len()).sum();
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
      out.extend_from_slice(&(key.len() as u32).to_le_bytes());
      out.extend_from_slice(key);
      out.extend_from_slice(&(seen.len() as u16).to_le_bytes());
      out.extend_from_slice(seen);
    }
  }
  out.extend_from_slice(body);
  out[3] = flags;
  let crc = checksum(&out);
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
  if stored[2] < FORMAT_VERSION {
    return Err(Rejected::OldVersion(stored[2]));
  }
  if stored[2] != FORMAT_VERSION {
    return Err(Rejected::FutureVersion(stored[2]));
  }
  // The checksum first: nothing (not even the flags) is trusted before it matches.
  let crc = u32::from_le_bytes([stored[4], stored[5], stored[6], stored[7]]);
  if checksum(stored) != crc {
    return Err(Rejected::Checksum);
  }
  let flags = stored[3];
  let codec = flags & CODEC_MASK;
  // Every flag bit has a meaning in format 2; new ones need a new format version.
  if codec == 0 {
    return Err(Rejected::Corrupt("no codec"));
  }
  let mut at = HEADER_LEN;
  let mut take = |n: usize| -> Result<std::ops::Range<usize>, Rejected> {
    let end = at.saturating_add(n);
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
      let r = take(4)?;
      let len = u32::from_le_bytes([
        stored[r.start],
        stored[r.start + 1],
        stored[r.start + 2],
        stored[r.start + 3],
      ]);
      let key = take(len as usize)?;
      let r = take(2)?;
      let seen = take(u16::from_le_bytes([stored[r.start], stored[r.start + 1]]) as usize)?;
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
#[path = "envelope_tests.rs"]
mod envelope_tests;
