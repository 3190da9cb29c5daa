//! Tag invalidation with per-tag markers. `invalidateTags` writes a fresh random value into each
//! tag's marker key (O(1) per tag, whatever the number of entries). A tagged entry records the
//! marker values it saw when written; it is valid while every marker still holds that value.
//! Nothing is kept per entry beyond the entry itself, so expired entries leave nothing behind,
//! and markers expire on their own. Reading a tagged entry costs one more pipeline, batched for
//! all tagged entries of the batch. Markers are compared, not timestamps: no clock skew, and a
//! write racing an invalidation is conservatively invalid.

use crate::error::Result;
use crate::store::command::{checked, Routed};
use crate::store::{Sink, Store};
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

pub type Markers = HashMap<Vec<u8>, Vec<u8>>;

/// Reads the current value of each marker key (empty when the marker does not exist).
pub async fn read_markers<S: Sink>(store: &S, keys: Vec<&[u8]>) -> Result<Markers> {
  let mut unique: Vec<&[u8]> = keys;
  unique.sort_unstable();
  unique.dedup();
  let mut out = Markers::with_capacity(unique.len());
  match store.memory() {
    Some(m) => {
      for k in unique {
        out.insert(k.to_vec(), m.get(k).unwrap_or_default());
      }
    }
    None => {
      // One GET per marker (never MGET: on a cluster the markers live in different slots).
      let cmds = unique
        .iter()
        .map(|k| Routed {
          key: k,
          cmd: redis::cmd("GET").arg(*k).clone(),
        })
        .collect();
      let values = store.send(cmds).await;
      for (k, v) in unique.into_iter().zip(values) {
        let current = match checked(v)? {
          redis::Value::BulkString(b) => b,
          _ => Vec::new(),
        };
        out.insert(k.to_vec(), current);
      }
    }
  }
  Ok(out)
}

/// Whether every (marker, seen) pair still matches.
pub fn still_valid<'a>(
  markers: &Markers,
  mut tags: impl Iterator<Item = (&'a [u8], &'a [u8])>,
) -> bool {
  tags.all(|(key, seen)| markers.get(key).is_some_and(|now| now.as_slice() == seen))
}

/// A marker value no earlier invalidation used: 16 hex chars from a per-process random seed and
/// a counter.
pub fn new_marker_value() -> Vec<u8> {
  static COUNTER: AtomicU64 = AtomicU64::new(0);
  let mut h = RandomState::new().build_hasher();
  h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
  h.write_u128(
    std::time::SystemTime::now()
      .duration_since(std::time::UNIX_EPOCH)
      .map(|d| d.as_nanos())
      .unwrap_or(0),
  );
  format!("{:016x}", h.finish()).into_bytes()
}

/// Invalidates tags: one new value per marker key, each living `ttl_ms`.
pub async fn invalidate(store: &Store, keys: &[Vec<u8>], ttl_ms: u64) -> Result<()> {
  match store {
    Store::Memory(m) => {
      for k in keys {
        m.set_marker(k, new_marker_value(), ttl_ms);
      }
      Ok(())
    }
    _ => {
      let cmds = keys
        .iter()
        .map(|k| {
          let mut cmd = redis::cmd("SET");
          cmd.arg(k).arg(new_marker_value()).arg("PX").arg(ttl_ms);
          Routed { key: k, cmd }
        })
        .collect();
      for r in store.send(cmds).await {
        checked(r)?;
      }
      Ok(())
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::store::memory::MemoryStore;

  #[test]
  fn markers_validate_and_invalidate() {
    let rt = tokio::runtime::Builder::new_current_thread()
      .enable_all()
      .build()
      .unwrap();
    let store = Store::Memory(MemoryStore::new(1 << 20));
    rt.block_on(async {
      let before = read_markers(&store, vec![b"t:a", b"t:b", b"t:a"])
        .await
        .unwrap();
      assert_eq!(before.len(), 2);
      let seen: Vec<(&[u8], &[u8])> = vec![(b"t:a", b""), (b"t:b", b"")];
      assert!(still_valid(&before, seen.iter().copied()));
      invalidate(&store, &[b"t:b".to_vec()], 60_000)
        .await
        .unwrap();
      let after = read_markers(&store, vec![b"t:a", b"t:b"]).await.unwrap();
      assert!(!still_valid(&after, seen.iter().copied()));
      let a_only: Vec<(&[u8], &[u8])> = vec![(b"t:a", b"")];
      assert!(still_valid(&after, a_only.iter().copied()));
    });
    assert_ne!(new_marker_value(), new_marker_value());
  }

  /// Memory-only mode: eviction pressure after an invalidation never brings the entries back.
  #[test]
  fn eviction_never_resurrects_invalidated_entries() {
    let rt = tokio::runtime::Builder::new_current_thread()
      .enable_all()
      .build()
      .unwrap();
    let store = Store::Memory(MemoryStore::new(4_000));
    let marker: &[u8] = b"p:\xFFtag:t";
    rt.block_on(async {
      let seen_at_write = read_markers(&store, vec![marker]).await.unwrap();
      let seen: Vec<(&[u8], &[u8])> = vec![(marker, seen_at_write[marker].as_slice())];
      invalidate(&store, &[marker.to_vec()], 60_000)
        .await
        .unwrap();
      let Store::Memory(m) = &store else {
        unreachable!()
      };
      for i in 0..200 {
        m.set(format!("filler{i}").as_bytes(), vec![0u8; 300], None);
      }
      let now = read_markers(&store, vec![marker]).await.unwrap();
      assert!(
        !still_valid(&now, seen.iter().copied()),
        "invalidated entry came back"
      );
    });
  }
}
