//! Memory-only mode: a bounded in-process store with the same semantics as Valkey for the
//! commands the engine uses (values carry the same envelope, TTLs in milliseconds).

use crate::error::Result;
use crate::store::backend::{Backend, BusClients, KeysPage, ScanPosition};
use crate::store::glob;
use crate::store::keyspace::is_internal;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Entry {
  value: Vec<u8>,
  expires: Option<Instant>,
  /// A tag marker: never evicted (only expired), see `evict`.
  pinned: bool,
}

impl Entry {
  fn live(&self, now: Instant) -> bool {
    self.expires.is_none_or(|t| t > now)
  }
}

#[derive(Default)]
struct Map {
  entries: HashMap<Vec<u8>, Entry>,
  bytes: usize,
}

impl Map {
  fn remove(&mut self, key: &[u8]) -> Option<Entry> {
    let e = self.entries.remove(key)?;
    self.bytes -= key.len() + e.value.len();
    Some(e)
  }
}

/// Bounded by `max_bytes` of keys + values; expired entries go first, then arbitrary ones.
pub struct MemoryStore {
  map: Mutex<Map>,
  max_bytes: usize,
}

impl MemoryStore {
  pub fn new(max_bytes: usize) -> Self {
    MemoryStore {
      map: Mutex::new(Map::default()),
      max_bytes,
    }
  }

  fn lock(&self) -> std::sync::MutexGuard<'_, Map> {
    self.map.lock().unwrap_or_else(|e| e.into_inner())
  }

  pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
    let now = Instant::now();
    let mut map = self.lock();
    match map.entries.get(key) {
      Some(e) if e.live(now) => Some(e.value.clone()),
      Some(_) => {
        map.remove(key);
        None
      }
      None => None,
    }
  }

  pub fn exists(&self, key: &[u8]) -> bool {
    let now = Instant::now();
    self.lock().entries.get(key).is_some_and(|e| e.live(now))
  }

  pub fn set(&self, key: &[u8], value: Vec<u8>, ttl_ms: Option<u64>) {
    self.put(key, value, ttl_ms, false);
  }

  /// Writes a tag marker: like `set`, but eviction never removes it (it only expires).
  pub fn set_marker(&self, key: &[u8], value: Vec<u8>, ttl_ms: u64) {
    self.put(key, value, Some(ttl_ms), true);
  }

  fn put(&self, key: &[u8], value: Vec<u8>, ttl_ms: Option<u64>, pinned: bool) {
    let expires = ttl_ms.map(|ms| Instant::now() + Duration::from_millis(ms));
    let mut map = self.lock();
    map.remove(key);
    map.bytes += key.len() + value.len();
    map.entries.insert(
      key.to_vec(),
      Entry {
        value,
        expires,
        pinned,
      },
    );
    if map.bytes > self.max_bytes {
      self.evict(&mut map, key);
    }
  }

  pub fn delete(&self, key: &[u8]) -> bool {
    let now = Instant::now();
    let mut map = self.lock();
    map.remove(key).is_some_and(|e| e.live(now))
  }

  /// The live keys matching a glob (a snapshot; memory mode holds them all anyway).
  pub fn keys_matching(&self, pattern: &[u8]) -> Vec<Vec<u8>> {
    let now = Instant::now();
    let map = self.lock();
    map
      .entries
      .iter()
      .filter(|(k, e)| e.live(now) && glob::matches(pattern, k))
      .map(|(k, _)| k.clone())
      .collect()
  }

  /// Deletes every live key matching a glob; returns how many.
  pub fn delete_matching(&self, pattern: &[u8]) -> usize {
    let now = Instant::now();
    let mut map = self.lock();
    let doomed: Vec<Vec<u8>> = map
      .entries
      .keys()
      .filter(|k| !is_internal(k) && glob::matches(pattern, k))
      .cloned()
      .collect();
    doomed
      .iter()
      .filter(|k| map.remove(k).is_some_and(|e| e.live(now)))
      .count()
  }

  #[cfg(test)]
  pub fn len(&self) -> usize {
    self.lock().entries.len()
  }

  /// Frees space down to 90% of the bound, never evicting `keep` (the entry just written) nor a
  /// live tag marker. A marker evicted before the entries it invalidated would read as "never
  /// invalidated" and bring them back; so markers only expire (after `tagTtl`, which bounds the
  /// life of every tagged entry). Their bytes count toward the bound: room for entries shrinks
  /// while many distinct tags are invalidated.
  fn evict(&self, map: &mut Map, keep: &[u8]) {
    let now = Instant::now();
    let expired: Vec<Vec<u8>> = map
      .entries
      .iter()
      .filter(|(_, e)| !e.live(now))
      .map(|(k, _)| k.clone())
      .collect();
    for k in expired {
      map.remove(&k);
    }
    let target = self.max_bytes - self.max_bytes / 10;
    let mut over = map.bytes.saturating_sub(target);
    let victims: Vec<Vec<u8>> = map
      .entries
      .iter()
      .filter(|(k, e)| !e.pinned && k.as_slice() != keep)
      .take_while(|(k, e)| {
        let more = over > 0;
        over = over.saturating_sub(k.len() + e.value.len());
        more
      })
      .map(|(k, _)| k.clone())
      .collect();
    for k in victims {
      map.remove(&k);
    }
  }
}

impl Backend for MemoryStore {
  async fn warm_up(&self) {}

  async fn ping(&self) -> Result<()> {
    Ok(())
  }

  async fn delete_matching(&self, pattern: &[u8], _count: usize) -> Result<u64> {
    Ok(MemoryStore::delete_matching(self, pattern) as u64)
  }

  fn close(&self) {}

  /// Every key at once: memory mode holds them all anyway.
  async fn scan_keys(&self, _at: ScanPosition, pattern: &[u8], _count: usize) -> Result<KeysPage> {
    Ok(KeysPage {
      next: ScanPosition::default(),
      keys: self.keys_matching(pattern),
      done: true,
    })
  }

  fn bus_clients(&self) -> Option<BusClients> {
    None
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn get_set_delete_and_expiry() {
    let m = MemoryStore::new(1 << 20);
    m.set(b"a", b"1".to_vec(), None);
    m.set(b"b", b"2".to_vec(), Some(1));
    assert_eq!(m.get(b"a"), Some(b"1".to_vec()));
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(m.get(b"b"), None);
    assert!(m.exists(b"a"));
    assert!(m.delete(b"a"));
    assert!(!m.delete(b"a"));
  }

  #[test]
  fn stays_within_its_byte_bound() {
    let m = MemoryStore::new(10_000);
    for i in 0..1000 {
      m.set(format!("k{i}").as_bytes(), vec![0u8; 100], None);
    }
    assert!(m.len() < 100, "evicted down to the bound, has {}", m.len());
    assert_eq!(
      m.get(b"k999"),
      Some(vec![0u8; 100]),
      "the newest write survives"
    );
  }

  #[test]
  fn markers_are_never_evicted() {
    let m = MemoryStore::new(2_000);
    m.set_marker(b"p\xFFtag:t", b"v1".to_vec(), 60_000);
    for i in 0..100 {
      m.set(format!("k{i}").as_bytes(), vec![0u8; 500], None);
    }
    m.set(b"huge", vec![0u8; 5_000], None);
    assert_eq!(m.get(b"p\xFFtag:t"), Some(b"v1".to_vec()));
    assert_eq!(m.len(), 2, "only the marker and the newest write are left");
  }

  #[test]
  fn deleting_by_pattern_spares_internal_keys() {
    let m = MemoryStore::new(1 << 20);
    m.set_marker(b"p:\xFFtag:t", b"v1".to_vec(), 60_000);
    m.set(b"p:user", b"x".to_vec(), None);
    assert_eq!(m.delete_matching(b"p:*"), 1);
    assert!(m.exists(b"p:\xFFtag:t"));
  }

  #[test]
  fn deletes_by_pattern() {
    let m = MemoryStore::new(1 << 20);
    for k in ["p:a", "p:b", "q:a"] {
      m.set(k.as_bytes(), b"x".to_vec(), None);
    }
    assert_eq!(m.delete_matching(b"p:*"), 2);
    assert!(m.exists(b"q:a"));
  }
}
