//! One completion for the GETs of one GET_MANY request (`getMany`): JS is handed every key's
//! result at once and decodes them in one pass (format in `frame`); when enough of them are
//! plain JSON, their values also come joined into one text that JS parses once (`joined`).

use crate::boundary::frame::{Completion, Group, STATUS_HIT};
use crate::boundary::joined;

/// Folds the completions of each group's GETs into one completion for the group's id.
/// `done` holds one completion per request, in request order; groups are in request order too.
pub fn group_completions(done: Vec<Completion>, groups: &[Group]) -> Vec<Completion> {
  if groups.is_empty() {
    return done;
  }
  let mut out = Vec::with_capacity(done.len());
  let mut items = done.into_iter().enumerate().peekable();
  for g in groups {
    while let Some((_, c)) = items.next_if(|(i, _)| *i < g.first) {
      out.push(c);
    }
    let parts: Vec<Completion> = items.by_ref().take(g.count).map(|(_, c)| c).collect();
    let Some(id) = parts.first().map(|c| c.id) else {
      continue;
    };
    if let Some(c) = joined::join(id, &parts) {
      out.push(c);
      continue;
    }
    let size = parts.iter().map(|c| 6 + c.len()).sum::<usize>();
    let mut data = Vec::with_capacity(size);
    for c in &parts {
      data.push(c.status);
      data.push(c.tag);
      data.extend_from_slice(&(c.len() as u32).to_le_bytes());
      c.write_body(&mut data);
    }
    out.push(Completion::with_status(id, STATUS_HIT, 0, data, 0));
  }
  out.extend(items.map(|(_, c)| c));
  out
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::boundary::frame::tests::Writer;
  use crate::boundary::frame::{
    parse_requests, JOINED, OP_DELETE, OP_GET, OP_GET_MANY, STATUS_MISS,
  };

  #[test]
  fn get_many_expands_into_gets_answered_by_one_completion() {
    let mut w = Writer::default();
    w.start(OP_GET, 1, b"alone");
    w.start(OP_GET_MANY, 2, b"").u32(2);
    for k in [&b"k1"[..], b"k2"] {
      w.u32(k.len() as u32).bytes(k);
    }
    w.start(OP_GET_MANY, 3, b"").u32(0);
    w.start(OP_DELETE, 4, b"after");
    let batch = parse_requests(&w.buf).unwrap();
    let ids: Vec<u32> = batch.requests.iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![1, 2, 2, 4]);
    assert_eq!(&w.buf[batch.requests[2].key.clone()], b"k2");
    assert_eq!(batch.groups, vec![Group { first: 1, count: 2 }]);
    assert_eq!(batch.rejected.len(), 1, "an empty GET_MANY is malformed");
    let done = vec![
      Completion::miss(1),
      Completion::with_status(2, STATUS_HIT, 1, b"HDRab".to_vec(), 3),
      Completion::miss(2),
      Completion::ok(4),
    ];
    let out = group_completions(done, &batch.groups);
    let ids: Vec<u32> = out.iter().map(|c| c.id).collect();
    assert_eq!(ids, vec![1, 2, 4]);
    let mut want = vec![STATUS_HIT, 1, 2, 0, 0, 0, b'a', b'b'];
    want.extend([STATUS_MISS, 0, 0, 0, 0, 0]);
    assert_eq!(out[1].payload(), &want[..]);
  }

  #[test]
  fn a_group_of_json_hits_comes_joined_and_the_others_around_it_stay_apart() {
    let json = |v: &[u8]| Completion::read(2, STATUS_HIT, 1, v.to_vec(), 0, 0.0);
    let done = vec![
      Completion::miss(1),
      json(b"1"),
      json(b"[2]"),
      Completion::ok(4),
    ];
    let out = group_completions(done, &[Group { first: 1, count: 2 }]);
    let tags: Vec<(u32, u8)> = out.iter().map(|c| (c.id, c.tag)).collect();
    assert_eq!(tags, vec![(1, 0), (2, JOINED), (4, 0)]);
  }
}
