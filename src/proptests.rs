//! Property tests for everything the engine decodes: stored envelopes (from Valkey), request
//! frames (from JS) and replies (from the network). Random and mutated inputs never panic, and an
//! envelope never opens to anything but exactly what was sealed.

use crate::boundary::frame::tests::Writer;
use crate::boundary::frame::{parse_requests, Op, OP_COMMAND, OP_DELETE, OP_EXISTS, OP_GET};
use crate::codec::{open, seal, Compression, Meta};
use crate::engine::reply::command_reply;
use crate::store::cluster::nodes::parse_slot_ranges;
use proptest::prelude::*;
use redis::Value;

/// What a sealed value says, read back into owned parts.
#[derive(Debug, PartialEq)]
struct Decoded {
  codec: u8,
  fresh_until: Option<u64>,
  expires_at: Option<u64>,
  tags: Vec<(Vec<u8>, Vec<u8>)>,
  payload: Vec<u8>,
}

fn decode(stored: &[u8]) -> Option<Decoded> {
  let o = open(stored, 1 << 20).ok()?;
  Some(Decoded {
    codec: o.codec,
    fresh_until: o.fresh_until,
    expires_at: o.expires_at,
    tags: o
      .tags
      .iter()
      .map(|(k, v)| (stored[k.clone()].to_vec(), stored[v.clone()].to_vec()))
      .collect(),
    payload: o.payload(stored).to_vec(),
  })
}

/// An envelope as stored, and what opening it must give back.
#[derive(Debug)]
struct Sealed {
  stored: Vec<u8>,
  want: Decoded,
}

fn sealed() -> impl Strategy<Value = Sealed> {
  (
    1u8..16,
    prop_oneof![
      proptest::collection::vec(any::<u8>(), 0..300),
      // Compressible payloads, so the lz4 path is covered too.
      (any::<u8>(), 0usize..3000).prop_map(|(b, n)| vec![b; n]),
    ],
    proptest::option::of(any::<u64>()),
    proptest::option::of(any::<u64>()),
    proptest::collection::vec(
      (
        proptest::collection::vec(any::<u8>(), 0..40),
        proptest::collection::vec(any::<u8>(), 0..20),
      ),
      0..4,
    ),
    any::<bool>(),
  )
    .prop_map(
      |(codec, payload, fresh_until, expires_at, tags, compress)| {
        let snap: Vec<(&[u8], &[u8])> = tags
          .iter()
          .map(|(k, v)| (k.as_slice(), v.as_slice()))
          .collect();
        let meta = Meta {
          fresh_until,
          expires_at,
          tags: &snap,
        };
        let compression = compress.then_some(Compression { threshold: 16 });
        let (stored, _) = seal(codec, &payload, compression, meta).unwrap();
        let want = Decoded {
          codec,
          fresh_until,
          expires_at,
          tags: tags.clone(),
          payload,
        };
        Sealed { stored, want }
      },
    )
}

/// A request as the binding writes it, and what parsing must give back.
#[derive(Debug, Clone)]
enum Req {
  Simple(u8, u32, Vec<u8>),
  Set(u32, Vec<u8>, Vec<u8>, Vec<Vec<u8>>),
  Command(u32, Vec<u8>, Vec<Vec<u8>>),
}

fn request() -> impl Strategy<Value = Req> {
  let bytes = |n| proptest::collection::vec(any::<u8>(), 0..n);
  prop_oneof![
    (
      prop_oneof![Just(OP_GET), Just(OP_DELETE), Just(OP_EXISTS)],
      any::<u32>(),
      bytes(20)
    )
      .prop_map(|(op, id, k)| Req::Simple(op, id, k)),
    (
      any::<u32>(),
      bytes(20),
      bytes(50),
      proptest::collection::vec(bytes(20), 0..3)
    )
      .prop_map(|(id, k, v, t)| Req::Set(id, k, v, t)),
    (
      any::<u32>(),
      bytes(10),
      proptest::collection::vec(bytes(10), 1..4)
    )
      .prop_map(|(id, k, a)| Req::Command(id, k, a)),
  ]
}

fn write(reqs: &[Req]) -> Vec<u8> {
  let mut w = Writer::default();
  for r in reqs {
    match r {
      Req::Simple(op, id, k) => {
        w.start(*op, *id, k);
      }
      Req::Set(id, k, v, tags) => {
        let tags: Vec<&[u8]> = tags.iter().map(Vec::as_slice).collect();
        w.set(*id, k, v, &tags);
      }
      Req::Command(id, k, args) => {
        w.start(OP_COMMAND, *id, k).u32(args.len() as u32);
        for a in args {
          w.u32(a.len() as u32).bytes(a);
        }
      }
    }
  }
  w.buf
}

fn value(depth: u32) -> BoxedStrategy<Value> {
  let leaf = prop_oneof![
    Just(Value::Nil),
    any::<i64>().prop_map(Value::Int),
    (-20000i64..20000).prop_map(Value::Int),
    proptest::collection::vec(any::<u8>(), 0..12).prop_map(Value::BulkString),
    "[a-z0-9.?]{0,8}".prop_map(Value::SimpleString),
    Just(Value::Okay),
    any::<f64>().prop_map(Value::Double),
  ];
  if depth == 0 {
    return leaf.boxed();
  }
  prop_oneof![
    leaf,
    proptest::collection::vec(value(depth - 1), 0..5).prop_map(Value::Array),
    proptest::collection::vec((value(depth - 1), value(depth - 1)), 0..3).prop_map(Value::Map),
  ]
  .boxed()
}

proptest! {
  #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

  #[test]
  fn envelopes_round_trip(Sealed { stored, want } in sealed()) {
    prop_assert_eq!(decode(&stored), Some(want));
  }

  /// Any flipped bits, anywhere: an error, never another value.
  #[test]
  fn mutated_envelopes_never_open_to_another_value(
    Sealed { stored, want } in sealed(),
    flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255, any::<bool>()), 1..4),
  ) {
    let mut bad = stored.clone();
    for (at, mask, header) in &flips {
      // Half the flips land in the header and its fields, where a byte changes what follows.
      let i = at.index(if *header { bad.len().min(12) } else { bad.len() });
      bad[i] ^= mask;
    }
    if bad != stored {
      if let Some(got) = decode(&bad) {
        prop_assert_eq!(got, want);
      }
    }
  }

  #[test]
  fn truncated_envelopes_never_open(
    Sealed { stored, .. } in sealed(),
    cut in any::<prop::sample::Index>(),
  ) {
    let n = cut.index(stored.len());
    prop_assert_eq!(decode(&stored[..n]), None);
  }

  #[test]
  fn random_bytes_never_panic_the_envelope(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
    let _ = decode(&bytes);
    let mut framed = vec![0xFE, 0xCA, 2];
    framed.extend_from_slice(&bytes);
    let _ = decode(&framed);
  }

  #[test]
  fn request_frames_round_trip(reqs in proptest::collection::vec(request(), 0..8)) {
    let buf = write(&reqs);
    let batch = parse_requests(&buf).unwrap();
    prop_assert!(batch.rejected.is_empty());
    prop_assert_eq!(batch.requests.len(), reqs.len());
    for (got, want) in batch.requests.iter().zip(&reqs) {
      let key = &buf[got.key.clone()];
      match (want, &got.op) {
        (Req::Simple(op, id, k), parsed) => {
          let same_op = matches!(
            (*op, parsed),
            (OP_GET, Op::Get) | (OP_DELETE, Op::Delete) | (OP_EXISTS, Op::Exists)
          );
          prop_assert!(same_op);
          prop_assert_eq!((got.id, key), (*id, k.as_slice()));
        }
        (Req::Set(id, k, v, tags), Op::Set { value, tags: got_tags, .. }) => {
          prop_assert_eq!((got.id, key, &buf[value.clone()]), (*id, k.as_slice(), v.as_slice()));
          let got_tags: Vec<&[u8]> = got_tags.iter().map(|t| &buf[t.clone()]).collect();
          let want_tags: Vec<&[u8]> = tags.iter().map(Vec::as_slice).collect();
          prop_assert_eq!(got_tags, want_tags);
        }
        (Req::Command(id, k, args), Op::Command { args: got_args }) => {
          prop_assert_eq!((got.id, key), (*id, k.as_slice()));
          let got_args: Vec<&[u8]> = got_args.iter().map(|a| &buf[a.clone()]).collect();
          let want_args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
          prop_assert_eq!(got_args, want_args);
        }
        (want, got) => prop_assert!(false, "{:?} parsed as {:?}", want, got),
      }
    }
  }

  /// Mutated frames never panic; whatever parses stays inside the buffer.
  #[test]
  fn mutated_request_frames_never_panic(
    reqs in proptest::collection::vec(request(), 1..6),
    flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    cut in proptest::option::of(any::<prop::sample::Index>()),
  ) {
    let mut buf = write(&reqs);
    for (at, b) in &flips {
      let i = at.index(buf.len());
      buf[i] = *b;
    }
    if let Some(c) = cut {
      buf.truncate(c.index(buf.len()));
    }
    if let Ok(batch) = parse_requests(&buf) {
      for r in &batch.requests {
        prop_assert!(r.key.end <= buf.len());
      }
    }
  }

  #[test]
  fn random_frames_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
    let _ = parse_requests(&bytes);
  }

  /// Any CLUSTER SLOTS reply: an error or ranges inside the slot space, never a panic.
  #[test]
  fn cluster_slots_replies_never_panic(reply in value(4)) {
    if let Ok(ranges) = parse_slot_ranges(reply) {
      for r in ranges {
        prop_assert!(r.first <= r.last && r.last < 16384);
      }
    }
  }

  #[test]
  fn slot_shaped_replies_never_panic(
    ranges in proptest::collection::vec((-5i64..16390, -5i64..16390, value(2)), 0..6),
  ) {
    let reply = Value::Array(
      ranges
        .into_iter()
        .map(|(a, b, node)| {
          Value::Array(vec![
            Value::Int(a),
            Value::Int(b),
            Value::Array(vec![Value::BulkString(b"127.0.0.1".to_vec()), Value::Int(7000), node]),
          ])
        })
        .collect(),
    );
    if let Ok(ranges) = parse_slot_ranges(reply) {
      for r in ranges {
        prop_assert!(r.first <= r.last && r.last < 16384);
      }
    }
  }

  /// Command replies of any shape, and raw RESP bytes off the wire, never panic.
  #[test]
  fn command_replies_never_panic(reply in value(4), raw in proptest::collection::vec(any::<u8>(), 0..64)) {
    let _ = command_reply(1, reply);
    if let Ok(v) = redis::parse_redis_value(&raw) {
      let _ = command_reply(2, v.clone());
      let _ = parse_slot_ranges(v);
    }
  }
}

#[test]
fn deeply_nested_replies_are_an_error_not_a_crash() {
  let mut v = Value::Nil;
  for _ in 0..10_000 {
    v = Value::Array(vec![v]);
  }
  let c = command_reply(1, v);
  assert_eq!(c.status, crate::boundary::frame::STATUS_ERROR);
}
