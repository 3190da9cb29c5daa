//! The joined text of a `getMany` completion: the group's plain JSON hits concatenated into one
//! JSON array, so JS calls `JSON.parse` once per call instead of once per value. Parsing is about
//! half of a `getMany`'s time; one call saves the per-call part of it (measured: ~25% of the parse
//! time for ~35-byte values, ~5% for ~1 KB ones). Format in `frame`; JS side in
//! `ts/boundary/many.ts`.
//!
//! The values are joined as they are stored, never checked here: a stored value that is not one
//! JSON value would shift or break the array. So the values are separated by a string holding a
//! per-call random nonce, `[v1,"<nonce>",v2,…,vN]`, and JS takes the parsed array only when it
//! has exactly `2N − 1` slots and every odd slot is the nonce; anything else (a parse error
//! included) and JS decodes each value on its own, as if nothing had been joined. A value cannot
//! forge the structure: it would have to contain the nonce, drawn after it was stored.

use crate::boundary::frame::{Completion, JOINED, STATUS_HIT, TAGGED};
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

/// Codec id of JSON text payloads (`CodecId.JSON` in `ts/core/codec.ts`): the only ones joined.
const CODEC_JSON: u8 = 1;
/// ASCII bytes of the nonce (16 random bytes as lowercase hex).
pub const NONCE_BYTES: usize = 32;
/// Bytes between two joined values: `,"` nonce `",`.
const SEPARATOR_BYTES: usize = NONCE_BYTES + 4;
/// Fewest hits worth joining: one value parses just as fast on its own.
const MIN_JOINED: usize = 2;
/// Largest joined text, in bytes. Past it the group is sent per value: one JS string this large
/// is already far more than one parse call costs, and a fallback (a bad value) parses it twice.
pub const MAX_JOINED_BYTES: usize = 8 << 20;
/// Bytes of a joined hit's record body: value length u32 | read trailer f64.
const JOINED_RECORD_BYTES: usize = 12;

/// Whether a per-key completion goes into the joined text: a fresh hit of the JSON codec whose
/// bytes look like one JSON value. Compressed values arrive here unpacked, and the tags bit stays
/// in the record, so neither needs excluding. The look is only a cheap first and last byte check
/// (ASCII at both ends also keeps the text's UTF-8 decoding equal to the values' own): it spares
/// JS a doomed parse of the whole group for values no JSON encoder wrote.
fn joinable(c: &Completion) -> bool {
  c.status == STATUS_HIT
    && c.tag & !TAGGED == CODEC_JSON
    && c.trailer.is_some()
    && u32::try_from(c.payload().len()).is_ok()
    && looks_like_json(c.payload())
}

/// First and last bytes (JSON whitespace aside) that one JSON value can start and end with.
fn looks_like_json(v: &[u8]) -> bool {
  let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
  let (Some(first), Some(last)) = (v.iter().find(|b| !ws(b)), v.iter().rfind(|b| !ws(b))) else {
    return false;
  };
  matches!(
    first,
    b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n'
  ) && matches!(last, b'}' | b']' | b'"' | b'0'..=b'9' | b'e' | b'l')
}

/// A fresh nonce: SipHash, under std's randomly seeded keys (a new key per `RandomState`), of
/// two constants. Unpredictable to whoever stored the values, which is all it has to be; no
/// system call per `getMany`.
fn nonce() -> [u8; NONCE_BYTES] {
  const HEX: &[u8; 16] = b"0123456789abcdef";
  let keys = RandomState::new();
  let mut out = [0; NONCE_BYTES];
  let halves = [keys.hash_one(0u8), keys.hash_one(1u8)];
  for (i, half) in halves.iter().enumerate() {
    for (j, byte) in half.to_le_bytes().iter().enumerate() {
      out[i * 16 + j * 2] = HEX[usize::from(byte >> 4)];
      out[i * 16 + j * 2 + 1] = HEX[usize::from(byte & 0xF)];
    }
  }
  out
}

/// The group completion with a joined text, or `None` when joining does not pay (fewer than
/// `MIN_JOINED` joinable hits, or a text over `MAX_JOINED_BYTES`): then the caller writes every
/// value in its record, as without this module.
pub fn join(id: u32, parts: &[Completion]) -> Option<Completion> {
  join_with(id, parts, MAX_JOINED_BYTES, nonce())
}

fn join_with(
  id: u32,
  parts: &[Completion],
  max_text: usize,
  nonce: [u8; NONCE_BYTES],
) -> Option<Completion> {
  let mask: Vec<bool> = parts.iter().map(joinable).collect();
  let joined = mask.iter().filter(|j| **j).count();
  if joined < MIN_JOINED {
    return None;
  }
  let values: usize = parts
    .iter()
    .zip(&mask)
    .filter(|(_, j)| **j)
    .map(|(c, _)| c.payload().len())
    .sum();
  let text_len = 2 + values + (joined - 1) * SEPARATOR_BYTES;
  if text_len > max_text {
    return None;
  }
  let records: usize = parts
    .iter()
    .zip(&mask)
    .map(|(c, j)| 6 + if *j { JOINED_RECORD_BYTES } else { c.len() })
    .sum();
  let mut data = Vec::with_capacity(8 + NONCE_BYTES + text_len + records);
  data.extend_from_slice(&(joined as u32).to_le_bytes());
  data.extend_from_slice(&nonce);
  data.extend_from_slice(&(text_len as u32).to_le_bytes());
  data.push(b'[');
  for (n, c) in parts
    .iter()
    .zip(&mask)
    .filter(|(_, j)| **j)
    .map(|(c, _)| c)
    .enumerate()
  {
    if n > 0 {
      data.extend_from_slice(b",\"");
      data.extend_from_slice(&nonce);
      data.extend_from_slice(b"\",");
    }
    data.extend_from_slice(c.payload());
  }
  data.push(b']');
  for (c, j) in parts.iter().zip(&mask) {
    data.push(c.status);
    if *j {
      data.push(c.tag | JOINED);
      data.extend_from_slice(&(JOINED_RECORD_BYTES as u32).to_le_bytes());
      data.extend_from_slice(&(c.payload().len() as u32).to_le_bytes());
      data.extend_from_slice(c.trailer.as_ref().map_or(&[0; 8], |t| t));
    } else {
      data.push(c.tag);
      data.extend_from_slice(&(c.len() as u32).to_le_bytes());
      c.write_body(&mut data);
    }
  }
  Some(Completion::with_status(id, STATUS_HIT, JOINED, data, 0))
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::boundary::frame::{STATUS_ERROR, STATUS_MISS, STATUS_STALE};

  const N: [u8; NONCE_BYTES] = *b"0123456789abcdef0123456789abcdef";

  fn hit(codec: u8, value: &[u8], until: f64) -> Completion {
    Completion::read(7, STATUS_HIT, codec, value.to_vec(), 0, until)
  }

  /// A record of a group completion: status, tag, body.
  type Record = (u8, u8, Vec<u8>);

  /// The parts of a joined completion: count, nonce, text, records.
  fn split(c: &Completion) -> (u32, String, String, Vec<Record>) {
    let d = c.payload();
    let u32_at = |at: usize| u32::from_le_bytes(d[at..at + 4].try_into().unwrap());
    let count = u32_at(0);
    let nonce = String::from_utf8(d[4..4 + NONCE_BYTES].to_vec()).unwrap();
    let text_len = u32_at(4 + NONCE_BYTES) as usize;
    let from = 8 + NONCE_BYTES;
    let text = String::from_utf8(d[from..from + text_len].to_vec()).unwrap();
    let mut records = Vec::new();
    let mut p = from + text_len;
    while p < d.len() {
      let len = u32_at(p + 2) as usize;
      records.push((d[p], d[p + 1], d[p + 6..p + 6 + len].to_vec()));
      p += 6 + len;
    }
    (count, nonce, text, records)
  }

  fn joined_body(len: u32, until: f64) -> Vec<u8> {
    let mut b = len.to_le_bytes().to_vec();
    b.extend(until.to_le_bytes());
    b
  }

  #[test]
  fn nothing_to_join_is_none() {
    assert!(join(1, &[]).is_none());
    assert!(join(1, &[Completion::miss(1), Completion::miss(1)]).is_none());
  }

  #[test]
  fn one_hit_is_not_worth_joining() {
    let parts = [hit(CODEC_JSON, b"{\"a\":1}", 0.0), Completion::miss(7)];
    assert!(join(7, &parts).is_none());
  }

  #[test]
  fn hits_joined_with_the_nonce_misses_and_others_kept_in_their_records() {
    let err = Completion::with_status(7, STATUS_ERROR, 3, b"boom".to_vec(), 0);
    let stale = Completion::read(7, STATUS_STALE, CODEC_JSON, b"\"old\"".to_vec(), 0, 5.0);
    let v8 = hit(2, b"\xff\x0fbin", 6.0);
    let tagged = Completion::read(
      7,
      STATUS_HIT,
      CODEC_JSON | TAGGED,
      b"HDR[1,2]".to_vec(),
      3,
      9.0,
    );
    let parts = [
      hit(CODEC_JSON, b"{\"a\":1}", 1.5),
      Completion::miss(7),
      v8,
      tagged,
      err,
      stale,
      hit(CODEC_JSON, b" \"x\" ", 0.0),
    ];
    let c = join_with(7, &parts, MAX_JOINED_BYTES, N).unwrap();
    assert_eq!((c.id, c.status, c.tag), (7, STATUS_HIT, JOINED));
    let (count, nonce, text, records) = split(&c);
    assert_eq!(count, 3);
    assert_eq!(nonce.as_bytes(), N);
    let sep = format!(",\"{nonce}\",");
    assert_eq!(text, format!("[{{\"a\":1}}{sep}[1,2]{sep} \"x\" ]"));
    let mut until = 5.0f64.to_le_bytes().to_vec();
    until.splice(0..0, b"\"old\"".iter().copied());
    let want = vec![
      (STATUS_HIT, CODEC_JSON | JOINED, joined_body(7, 1.5)),
      (STATUS_MISS, 0, vec![]),
      (
        STATUS_HIT,
        2,
        [&b"\xff\x0fbin"[..], &6.0f64.to_le_bytes()].concat(),
      ),
      (
        STATUS_HIT,
        CODEC_JSON | TAGGED | JOINED,
        joined_body(5, 9.0),
      ),
      (STATUS_ERROR, 3, b"boom".to_vec()),
      (STATUS_STALE, CODEC_JSON, until),
      (STATUS_HIT, CODEC_JSON | JOINED, joined_body(5, 0.0)),
    ];
    assert_eq!(records, want);
  }

  #[test]
  fn values_that_cannot_be_json_stay_in_their_records() {
    let parts = [
      hit(CODEC_JSON, b"1", 0.0),
      hit(CODEC_JSON, b"not json", 0.0),
      hit(CODEC_JSON, b"", 0.0),
      hit(CODEC_JSON, b"  \n", 0.0),
      hit(CODEC_JSON, b"{\"open\":", 0.0),
      hit(CODEC_JSON, b"\xc3\xa9", 0.0),
      hit(CODEC_JSON, b"true", 0.0),
    ];
    let c = join_with(7, &parts, MAX_JOINED_BYTES, N).unwrap();
    let (count, _, text, records) = split(&c);
    assert_eq!(count, 2);
    assert_eq!(
      text,
      format!("[1,\"{}\",true]", std::str::from_utf8(&N).unwrap())
    );
    let joined: Vec<bool> = records.iter().map(|r| r.1 & JOINED != 0).collect();
    assert_eq!(joined, [true, false, false, false, false, false, true]);
    assert_eq!(records[1].2[..8], *b"not json");
  }

  #[test]
  fn a_text_over_the_cap_is_not_joined() {
    let parts = [
      hit(CODEC_JSON, b"[1,2,3]", 0.0),
      hit(CODEC_JSON, b"[4]", 0.0),
    ];
    let exact = 2 + 7 + 3 + SEPARATOR_BYTES;
    assert!(join_with(7, &parts, exact, N).is_some());
    assert!(join_with(7, &parts, exact - 1, N).is_none());
  }

  #[test]
  fn nonces_differ_and_are_hex() {
    let (a, b) = (nonce(), nonce());
    assert_ne!(a, b);
    assert!(a
      .iter()
      .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
  }
}
