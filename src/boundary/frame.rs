//! The two binary frames that cross the JS boundary: a batch of requests (JS → Rust) and a chunk
//! of completions (Rust → JS). One Buffer per crossing instead of one object per command.
//!
//! Request, repeated:  op u8 | id u32 | body_len u32 | body
//!   body:    key_len u32 | key | op fields
//!   SET:     ttl_ms f64 | fresh_ms f64 | codec u8 | len u32 | value | tags u16 | (len u32 | marker key) * tags
//!   COMMAND: argc u32 | (len u32 | arg) * argc      (key = routing key, may be empty)
//!   GET_MANY: (key empty) count u32 | (len u32 | key) * count — one GET per key, one completion
//! Completion chunk:   count u32 | more u8 | then per item: id u32 | status u8 | tag u8 | len u32 | bytes
//!   read (HIT/STALE of GET): tag = codec | TAGGED if the entry carries tags;
//!            bytes = payload | until f64 (READ_TRAILER_BYTES: epoch ms it may be kept in-process, 0 = unknown)
//!   COMMAND (HIT): tag = REPLY_*;  ERROR: tag = error kind (`ErrorKind` number), bytes = message
//!   GET_MANY (HIT): bytes = per key, in order: status u8 | tag u8 | len u32 | bytes (as a GET's)
//!   GET_MANY (HIT) with tag JOINED (`joined`: ≥ 2 plain JSON hits, text under a cap): bytes =
//!            joined_count u32 | nonce (NONCE_BYTES ascii) | text_len u32 | text | the per-key
//!            records as above, except that a joined hit's record has tag | JOINED and bytes =
//!            value_len u32 | until f64, its value being the next one in the text;
//!            text = `[v1,"<nonce>",v2,…,"<nonce>",vN]` (the joined values, in record order)
//!   bus event (id BUS_ID, see `features::bus`): tag = BUS_*, bytes = payload
//! Every request carries its own length, so one that cannot be read fails alone (an error
//! completion for its id) and the next one is still found: a bad request never poisons its batch.
//! All integers little-endian. `ttl_ms` ≤ 0 means "no expiry"; `fresh_ms` > 0 marks the value
//! stale after that many ms (it stays stored until `ttl_ms`: the grace period).

use crate::error::{CacheError, ErrorKind, Result};
use std::ops::Range;

pub const OP_GET: u8 = 1;
pub const OP_SET: u8 = 2;
pub const OP_DELETE: u8 = 3;
pub const OP_EXISTS: u8 = 4;
pub const OP_COMMAND: u8 = 5;
/// Many GETs answered by one completion (`getMany`): one wake-up and one decode pass for all.
pub const OP_GET_MANY: u8 = 6;
/// Keys one GET_MANY request may carry.
pub const MAX_GET_MANY: usize = 1 << 20;

/// Completion statuses. A `HIT` carries the codec id in `tag` and the payload in the bytes.
pub const STATUS_MISS: u8 = 0;
pub const STATUS_HIT: u8 = 1;
pub const STATUS_ERROR: u8 = 2;
/// A value past its fresh time but still stored (within grace); carries codec and payload.
pub const STATUS_STALE: u8 = 3;

/// Bit of a read's codec tag: the entry carries tags.
pub const TAGGED: u8 = 0x80;
/// Bit of a GET_MANY completion's tag: its plain JSON values come joined into one text (`joined`);
/// and of a record's tag inside it: this value is in that text. Codec ids take the low 4 bits.
pub const JOINED: u8 = 0x40;
/// Bytes of the trailer every read's payload ends with (f64: until when it may be kept in-process).
pub const READ_TRAILER_BYTES: usize = 8;

/// Reply tags of a `COMMAND` completion with `STATUS_HIT`.
pub const REPLY_INT: u8 = 1;
pub const REPLY_BULK: u8 = 2;
pub const REPLY_STATUS: u8 = 3;
pub const REPLY_JSON: u8 = 4;

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
  Get,
  Set {
    ttl_ms: Option<u64>,
    fresh_ms: Option<u64>,
    codec: u8,
    value: Range<usize>,
    /// Marker keys of the entry's tags.
    tags: Vec<Range<usize>>,
  },
  Delete,
  Exists,
  Command {
    args: Vec<Range<usize>>,
  },
}

/// One request; key and value are ranges into the batch buffer (no copies).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
  pub id: u32,
  pub key: Range<usize>,
  pub op: Op,
}

struct Reader<'a> {
  buf: &'a [u8],
  at: usize,
}

impl Reader<'_> {
  fn take(&mut self, n: usize) -> Result<Range<usize>> {
    let end = self
      .at
      .checked_add(n)
      .filter(|e| *e <= self.buf.len())
      .ok_or_else(malformed)?;
    let r = self.at..end;
    self.at = end;
    Ok(r)
  }
  fn u8(&mut self) -> Result<u8> {
    Ok(self.buf[self.take(1)?.start])
  }
  fn u16(&mut self) -> Result<u16> {
    let r = self.take(2)?;
    Ok(u16::from_le_bytes([
      self.buf[r.start],
      self.buf[r.start + 1],
    ]))
  }
  fn u32(&mut self) -> Result<u32> {
    let r = self.take(4)?;
    Ok(u32::from_le_bytes(self.buf[r].try_into().unwrap_or([0; 4])))
  }
  fn f64(&mut self) -> Result<f64> {
    let r = self.take(8)?;
    Ok(f64::from_le_bytes(self.buf[r].try_into().unwrap_or([0; 8])))
  }
}

fn malformed() -> CacheError {
  CacheError::new(
    ErrorKind::Internal,
    "malformed request frame (binding and engine out of step)",
  )
}

fn millis(v: f64) -> Option<u64> {
  if v.is_finite() && v > 0.0 {
    Some(v.ceil() as u64)
  } else {
    None
  }
}

/// A parsed batch: the requests that could be read, and the ids of those that could not.
#[derive(Debug, Default)]
pub struct Batch {
  pub requests: Vec<Request>,
  pub rejected: Vec<(u32, CacheError)>,
  /// The GET_MANY requests, each expanded into `count` GETs at `requests[first..first + count]`.
  pub groups: Vec<Group>,
}

/// The GETs of one GET_MANY request: answered by one completion (see `group_completions`).
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
  pub first: usize,
  pub count: usize,
}

/// Parses a request batch. Only a broken outer frame (a header or length running past the end,
/// which only a binding bug can write) fails the whole batch.
pub fn parse_requests(buf: &[u8]) -> Result<Batch> {
  let mut r = Reader { buf, at: 0 };
  let mut out = Batch {
    requests: Vec::with_capacity(16),
    rejected: Vec::new(),
    groups: Vec::new(),
  };
  while r.at < buf.len() {
    let op = r.u8()?;
    let id = r.u32()?;
    let len = r.u32()? as usize;
    let body = r.take(len)?;
    // The body is read on its own: it may not run past its declared length.
    let mut b = Reader {
      buf: &buf[..body.end],
      at: body.start,
    };
    if op == OP_GET_MANY {
      match parse_get_many(&mut b) {
        Ok(keys) if b.at == body.end => {
          out.groups.push(Group {
            first: out.requests.len(),
            count: keys.len(),
          });
          let gets = keys.into_iter().map(|key| Request {
            id,
            key,
            op: Op::Get,
          });
          out.requests.extend(gets);
        }
        Ok(_) => out.rejected.push((id, malformed())),
        Err(e) => out.rejected.push((id, e)),
      }
      continue;
    }
    match parse_body(&mut b, op) {
      Ok((key, op)) if b.at == body.end => out.requests.push(Request { id, key, op }),
      Ok(_) => out.rejected.push((id, malformed())),
      Err(e) => out.rejected.push((id, e)),
    }
  }
  Ok(out)
}

/// The keys of a GET_MANY body (its own key is empty).
fn parse_get_many(r: &mut Reader) -> Result<Vec<Range<usize>>> {
  if r.u32()? != 0 {
    return Err(malformed());
  }
  let count = r.u32()? as usize;
  if count == 0 || count > MAX_GET_MANY {
    return Err(malformed());
  }
  let mut keys = Vec::with_capacity(count.min(r.buf.len() / 4));
  for _ in 0..count {
    let len = r.u32()? as usize;
    keys.push(r.take(len)?);
  }
  Ok(keys)
}

fn parse_body(r: &mut Reader, op: u8) -> Result<(Range<usize>, Op)> {
  let key_len = r.u32()? as usize;
  let key = r.take(key_len)?;
  let op = match op {
    OP_GET => Op::Get,
    OP_DELETE => Op::Delete,
    OP_EXISTS => Op::Exists,
    OP_SET => {
      let ttl_ms = millis(r.f64()?);
      let fresh_ms = millis(r.f64()?);
      let codec = r.u8()?;
      let len = r.u32()? as usize;
      let value = r.take(len)?;
      let count = r.u16()? as usize;
      let mut tags = Vec::with_capacity(count.min(r.buf.len() / 4));
      for _ in 0..count {
        let len = r.u32()? as usize;
        tags.push(r.take(len)?);
      }
      Op::Set {
        ttl_ms,
        fresh_ms,
        codec,
        value,
        tags,
      }
    }
    OP_COMMAND => {
      let argc = r.u32()? as usize;
      if argc == 0 || argc > r.buf.len() {
        return Err(malformed());
      }
      let mut args = Vec::with_capacity(argc.min(r.buf.len() / 4));
      for _ in 0..argc {
        let len = r.u32()? as usize;
        args.push(r.take(len)?);
      }
      Op::Command { args }
    }
    _ => return Err(malformed()),
  };
  Ok((key, op))
}

/// A finished request waiting for JS. `data[start..]`, then the trailer if any, is what JS
/// receives.
#[derive(Debug)]
pub struct Completion {
  pub id: u32,
  pub status: u8,
  pub tag: u8,
  pub data: Vec<u8>,
  pub start: usize,
  /// A read's trailer, kept apart so a value is never copied just to append 8 bytes to it.
  pub trailer: Option<[u8; READ_TRAILER_BYTES]>,
}

impl Completion {
  pub fn miss(id: u32) -> Self {
    Self::with_status(id, STATUS_MISS, 0, Vec::new(), 0)
  }
  pub fn ok(id: u32) -> Self {
    Self::with_status(id, STATUS_HIT, 0, Vec::new(), 0)
  }
  pub fn flag(id: u32, yes: bool) -> Self {
    if yes {
      Self::ok(id)
    } else {
      Self::miss(id)
    }
  }
  pub fn with_status(id: u32, status: u8, tag: u8, data: Vec<u8>, start: usize) -> Self {
    Completion {
      id,
      status,
      tag,
      data,
      start,
      trailer: None,
    }
  }
  /// A read (HIT/STALE): `data[start..]` then the read trailer, `until` (see the format above).
  pub fn read(id: u32, status: u8, tag: u8, data: Vec<u8>, start: usize, until: f64) -> Self {
    Completion {
      trailer: Some(until.to_le_bytes()),
      ..Self::with_status(id, status, tag, data, start)
    }
  }
  pub fn error(id: u32, err: &CacheError) -> Self {
    Self::with_status(
      id,
      STATUS_ERROR,
      err.kind as u8,
      err.message.clone().into_bytes(),
      0,
    )
  }
  /// The bytes before the trailer.
  pub fn payload(&self) -> &[u8] {
    &self.data[self.start..]
  }
  /// Bytes JS receives for this completion (payload and trailer).
  pub fn len(&self) -> usize {
    self.payload().len() + self.trailer.map_or(0, |t| t.len())
  }
  /// Appends what JS receives for this completion (payload and trailer).
  pub fn write_body(&self, out: &mut Vec<u8>) {
    out.extend_from_slice(self.payload());
    if let Some(t) = &self.trailer {
      out.extend_from_slice(t);
    }
  }
}

/// Size of the chunk `encode_into` writes for `items`.
pub fn encoded_len(items: &[Completion]) -> usize {
  5 + items.iter().map(|c| 10 + c.len()).sum::<usize>()
}

/// Encodes a chunk of completions into `out`, exactly `encoded_len(items)` bytes long (the JS
/// Buffer itself, so the chunk is written once, in place).
pub fn encode_into(items: &[Completion], more: bool, out: &mut [u8]) {
  let mut at = 0;
  let mut put = |bytes: &[u8]| {
    out[at..at + bytes.len()].copy_from_slice(bytes);
    at += bytes.len();
  };
  put(&(items.len() as u32).to_le_bytes());
  put(&[more as u8]);
  for c in items {
    put(&c.id.to_le_bytes());
    put(&[c.status, c.tag]);
    put(&(c.len() as u32).to_le_bytes());
    put(c.payload());
    if let Some(t) = &c.trailer {
      put(t);
    }
  }
}

/// Encodes a chunk of completions into one buffer.
#[cfg(test)]
pub fn encode_completions(items: &[Completion], more: bool) -> Vec<u8> {
  let mut out = vec![0; encoded_len(items)];
  encode_into(items, more, &mut out);
  out
}

#[cfg(test)]
#[path = "frame_tests.rs"]
pub mod tests;
