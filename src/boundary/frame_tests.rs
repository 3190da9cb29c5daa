//! Unit tests of the request frame (and the writer the property tests use), apart from frame.rs to
//! keep it short.

use super::*;

/// Writes requests the way the binding does (tests and property tests).
#[derive(Default)]
pub struct Writer {
  pub buf: Vec<u8>,
  open: usize,
}

impl Writer {
  pub fn start(&mut self, op: u8, id: u32, key: &[u8]) -> &mut Self {
    self.buf.push(op);
    self.buf.extend_from_slice(&id.to_le_bytes());
    self.open = self.buf.len();
    self.buf.extend_from_slice(&[0; 4]);
    self.u32(key.len() as u32).bytes(key).end()
  }
  pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
    self.buf.extend_from_slice(b);
    self.end()
  }
  pub fn u32(&mut self, v: u32) -> &mut Self {
    self.bytes(&v.to_le_bytes())
  }
  pub fn u16(&mut self, v: u16) -> &mut Self {
    self.bytes(&v.to_le_bytes())
  }
  pub fn f64(&mut self, v: f64) -> &mut Self {
    self.bytes(&v.to_le_bytes())
  }
  /// Rewrites the open request's body length.
  fn end(&mut self) -> &mut Self {
    let len = (self.buf.len() - self.open - 4) as u32;
    self.buf[self.open..self.open + 4].copy_from_slice(&len.to_le_bytes());
    self
  }
  pub fn set(&mut self, id: u32, key: &[u8], value: &[u8], tags: &[&[u8]]) -> &mut Self {
    self.start(OP_SET, id, key).f64(1500.0).f64(0.0).bytes(&[1]);
    self
      .u32(value.len() as u32)
      .bytes(value)
      .u16(tags.len() as u16);
    for t in tags {
      self.u32(t.len() as u32).bytes(t);
    }
    self
  }
}

#[test]
fn parses_a_mixed_batch() {
  let mut w = Writer::default();
  w.start(OP_GET, 7, b"a:1");
  w.set(8, b"a:2", b"{1}", &[b"t1"]);
  w.start(OP_DELETE, 9, b"a:3");
  w.start(OP_COMMAND, 10, b"").u32(2);
  for arg in [&b"PTTL"[..], b"a:1"] {
    w.u32(arg.len() as u32).bytes(arg);
  }
  let buf = w.buf;
  let batch = parse_requests(&buf).unwrap();
  assert!(batch.rejected.is_empty());
  let reqs = batch.requests;
  assert_eq!(reqs.len(), 4);
  match &reqs[3].op {
    Op::Command { args } => assert_eq!(&buf[args[1].clone()], b"a:1"),
    other => panic!("unexpected {other:?}"),
  }
  assert_eq!(
    reqs[0],
    Request {
      id: 7,
      key: 13..16,
      op: Op::Get
    }
  );
  match &reqs[1].op {
    Op::Set {
      ttl_ms,
      fresh_ms,
      codec,
      value,
      tags,
    } => {
      assert_eq!(&buf[tags[0].clone()], b"t1");
      assert_eq!(*ttl_ms, Some(1500));
      assert_eq!(*fresh_ms, None);
      assert_eq!(*codec, 1);
      assert_eq!(&buf[value.clone()], b"{1}");
    }
    other => panic!("unexpected {other:?}"),
  }
  assert_eq!(&buf[reqs[2].key.clone()], b"a:3");
}

#[test]
fn rejects_truncated_frames() {
  let mut w = Writer::default();
  w.start(OP_GET, 1, b"abc");
  let mut buf = w.buf;
  buf.truncate(buf.len() - 1);
  assert_eq!(parse_requests(&buf).unwrap_err().kind, ErrorKind::Internal);
}

/// A request whose body cannot be read fails alone; its batch-mates go ahead.
#[test]
fn a_bad_request_fails_alone() {
  let mut w = Writer::default();
  w.start(OP_GET, 1, b"before");
  w.start(99, 2, b"unknown op");
  w.start(OP_SET, 3, b"no fields");
  w.set(4, b"long marker", b"1", &[&vec![b'p'; 70_000]]);
  w.start(OP_GET, 5, b"after").bytes(b"trailing junk");
  w.start(OP_GET, 6, b"last");
  let batch = parse_requests(&w.buf).unwrap();
  let ids: Vec<u32> = batch.requests.iter().map(|r| r.id).collect();
  assert_eq!(ids, vec![1, 4, 6]);
  let rejected: Vec<u32> = batch.rejected.iter().map(|(id, _)| *id).collect();
  assert_eq!(rejected, vec![2, 3, 5]);
  assert!(batch
    .rejected
    .iter()
    .all(|(_, e)| e.kind == ErrorKind::Internal));
}

#[test]
fn encodes_completions() {
  let items = [
    Completion::with_status(5, STATUS_HIT, 1, b"HDRpayload".to_vec(), 3),
    Completion::miss(6),
    Completion::read(7, STATUS_HIT, 1, b"HDRv".to_vec(), 3, 2.5),
  ];
  let out = encode_completions(&items, true);
  assert_eq!(out.len(), encoded_len(&items));
  assert_eq!(&out[0..4], &3u32.to_le_bytes());
  assert_eq!(out[4], 1);
  assert_eq!(&out[5..9], &5u32.to_le_bytes());
  assert_eq!((out[9], out[10]), (STATUS_HIT, 1));
  assert_eq!(&out[11..15], &7u32.to_le_bytes());
  assert_eq!(&out[15..22], b"payload");
  assert_eq!(&out[22..26], &6u32.to_le_bytes());
  // The read's trailer follows its payload, counted in its length.
  assert_eq!(&out[32..36], &7u32.to_le_bytes());
  assert_eq!(&out[38..42], &9u32.to_le_bytes());
  assert_eq!(out[42], b'v');
  assert_eq!(&out[43..51], &2.5f64.to_le_bytes());
}
