//! How a parsed batch is run: whole, or (reads only, several `getMany` calls) one batch per call.

use crate::boundary::frame::{Group, Op, Request};

/// A batch of reads only with several `getMany` calls runs as one batch per call: each call's
/// completion then reaches JS as soon as its MGET is answered, and JS decodes it while Valkey
/// answers the next (one batch for all would hand JS everything at once, after the last reply).
/// Reads need no order among themselves; a batch with any write stays whole (it keeps the order
/// of its requests, see docs/architecture.md).
pub fn split_reads(reqs: Vec<Request>, groups: Vec<Group>) -> Vec<(Vec<Request>, Vec<Group>)> {
  if groups.len() < 2 || !reqs.iter().all(|r| r.op == Op::Get) {
    return vec![(reqs, groups)];
  }
  let mut out = Vec::with_capacity(groups.len() + 1);
  let mut rest = Vec::new();
  let mut reqs = reqs.into_iter().enumerate().peekable();
  for g in &groups {
    while let Some((_, r)) = reqs.next_if(|(i, _)| *i < g.first) {
      rest.push(r);
    }
    let part: Vec<Request> = reqs.by_ref().take(g.count).map(|(_, r)| r).collect();
    let count = part.len();
    out.push((part, vec![Group { first: 0, count }]));
  }
  rest.extend(reqs.map(|(_, r)| r));
  if !rest.is_empty() {
    out.push((rest, Vec::new()));
  }
  out
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn read_only_batches_split_per_get_many_and_writes_keep_theirs_whole() {
    let get = |id: u32| Request {
      id,
      key: 0..1,
      op: Op::Get,
    };
    let reqs = vec![get(1), get(2), get(2), get(3), get(4), get(4), get(4)];
    let groups = vec![Group { first: 1, count: 2 }, Group { first: 4, count: 3 }];
    let parts = split_reads(reqs.clone(), groups.clone());
    let ids: Vec<Vec<u32>> = parts
      .iter()
      .map(|(r, _)| r.iter().map(|r| r.id).collect())
      .collect();
    assert_eq!(ids, vec![vec![2, 2], vec![4, 4, 4], vec![1, 3]]);
    assert_eq!(parts[1].1, vec![Group { first: 0, count: 3 }]);
    assert!(parts[2].1.is_empty());
    let mut with_write = reqs;
    with_write[0].op = Op::Delete;
    assert_eq!(split_reads(with_write, groups).len(), 1);
  }
}
