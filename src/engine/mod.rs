//! The engine behind one `Cache` family: a store, settings, counters and the completion queue.
//! `submit` is synchronous and cheap (parse + spawn); the work runs on tokio.
//!
//! Layer: `engine` runs what the boundary parsed against a store and turns the replies into
//! completions. The executor (`executor`) prepares and runs a batch, `reply` reads Valkey's
//! replies (envelopes, tag checks, generic replies), `settings` and `stats` are what every batch
//! shares. May import `boundary`, `store`, `codec`, `features` and `error`; nothing below imports
//! the engine.

pub mod anchor;
#[cfg(unix)]
pub mod direct;
pub mod executor;
pub mod reply;
pub mod settings;
pub mod split;
pub mod stats;

use crate::boundary::completion::CompletionQueue;
use crate::boundary::frame::{parse_requests, Completion, Group, Request};
use crate::boundary::group::group_completions;
use crate::boundary::poll_window::PollWindow;
use crate::engine::anchor::TimerAnchor;
use crate::engine::executor::execute;
use crate::engine::settings::Settings;
use crate::engine::split::split_reads;
use crate::engine::stats::Stats;
use crate::error::{CacheError, ErrorKind, Result};
use crate::store::backend::{Backend, BusClients, KeysPage, ScanPosition};
use crate::store::cluster::{ClusterConfig, ClusterPool};
use crate::store::direct::handshake::DirectTarget;
use crate::store::keyspace::is_internal;
use crate::store::memory::MemoryStore;
use crate::store::standalone::{command_timed_out, NodeConfig, NodePool};
use crate::store::Store;
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;

pub struct EngineConfig {
  /// `None` (and no `cluster`) = memory-only mode.
  pub node: Option<NodeConfig>,
  /// Sequential requests may take the JS thread's own connection (`direct`).
  pub direct: bool,
  /// A Valkey Cluster instead of one node.
  pub cluster: Option<ClusterConfig>,
  pub memory_max_bytes: usize,
  pub settings: Settings,
  /// Microseconds the I/O thread keeps polling after a batch (0 = sleep at once).
  pub io_poll_us: u64,
}

pub struct Engine {
  store: Store,
  pub settings: Settings,
  pub stats: Stats,
  pub queue: Arc<CompletionQueue>,
  bus_started: AtomicBool,
  stop: tokio::sync::watch::Sender<bool>,
  closed: AtomicBool,
  inflight: AtomicUsize,
  /// Jobs on the JS thread's direct connection (`direct`), which `close` waits for too.
  direct_jobs: AtomicUsize,
  idle: tokio::sync::Notify,
  pub handle: Handle,
  started: Instant,
  last_batch: std::sync::atomic::AtomicU64,
  polling: AtomicBool,
  poll_window: PollWindow,
  /// commandTimeoutMs: a batch settles within it in all (tag markers, then the pipeline).
  deadline: Option<Duration>,
  /// Keeps the batches' deadline timers from waking the I/O driver (see `anchor`).
  anchor: Option<Arc<TimerAnchor>>,
  /// The node a direct connection may be opened to, and its connect timeout.
  pub direct_target: Option<(DirectTarget, Duration)>,
}

/// A parsed batch with requests to run.
pub struct Accepted {
  pub batch: Arc<Vec<u8>>,
  pub requests: Vec<Request>,
  pub groups: Vec<Group>,
}

const SCAN_COUNT: usize = 500;

impl Engine {
  pub fn new(cfg: EngineConfig, handle: Handle) -> Result<Arc<Self>> {
    let deadline = match (&cfg.node, &cfg.cluster) {
      (_, Some(cluster)) => Some(cluster.command_timeout),
      (Some(node), None) => Some(node.command_timeout),
      (None, None) => None,
    };
    let direct_target = match (&cfg.node, &cfg.cluster, cfg.direct) {
      (Some(node), None, true) if node.tls_ca.is_none() => {
        DirectTarget::from_url(&node.url).map(|t| (t, node.connect_timeout))
      }
      _ => None,
    };
    let store = match (&cfg.node, &cfg.cluster) {
      (_, Some(cluster)) => Store::Cluster(Box::new(ClusterPool::new(cluster)?)),
      (Some(node), None) => Store::Standalone(Box::new(NodePool::new(node)?)),
      (None, None) => Store::Memory(MemoryStore::new(cfg.memory_max_bytes)),
    };
    let engine = Arc::new(Engine {
      store,
      settings: cfg.settings,
      stats: Stats::default(),
      queue: Arc::new(CompletionQueue::default()),
      bus_started: AtomicBool::new(false),
      stop: tokio::sync::watch::channel(false).0,
      closed: AtomicBool::new(false),
      inflight: AtomicUsize::new(0),
      direct_jobs: AtomicUsize::new(0),
      idle: tokio::sync::Notify::new(),
      handle,
      started: Instant::now(),
      last_batch: std::sync::atomic::AtomicU64::new(0),
      polling: AtomicBool::new(false),
      poll_window: PollWindow::new(cfg.io_poll_us * 1000),
      deadline,
      anchor: deadline.map(TimerAnchor::new),
      direct_target,
    });
    let me = engine.clone();
    engine.handle.spawn(async move { me.store.warm_up().await });
    Ok(engine)
  }

  pub fn mode(&self) -> &'static str {
    self.store.mode()
  }

  fn check_open(&self) -> Result<()> {
    if self.closed.load(Ordering::Acquire) {
      return Err(CacheError::closed());
    }
    Ok(())
  }

  /// Accepts a request batch; completions arrive on the queue.
  pub fn submit(self: &Arc<Self>, batch: Vec<u8>) -> Result<()> {
    if let Some(accepted) = self.accept(batch)? {
      self.dispatch(accepted);
    }
    Ok(())
  }

  /// Parses a batch and queues the errors of the requests that could not be read; `None` when
  /// no request is left to run.
  pub fn accept(&self, batch: Vec<u8>) -> Result<Option<Accepted>> {
    self.check_open()?;
    let parsed = parse_requests(&batch)?;
    if !parsed.rejected.is_empty() {
      Stats::add(&self.stats.errors, parsed.rejected.len() as u64);
      let failed = parsed
        .rejected
        .iter()
        .map(|(id, e)| Completion::error(*id, e))
        .collect();
      self.queue.push_all(failed);
    }
    if parsed.requests.is_empty() {
      return Ok(None);
    }
    Ok(Some(Accepted {
      batch: Arc::new(batch),
      requests: parsed.requests,
      groups: parsed.groups,
    }))
  }

  /// Runs an accepted batch on the I/O thread (reads of several `getMany` calls as one batch each).
  pub fn dispatch(self: &Arc<Self>, accepted: Accepted) {
    for (reqs, groups) in split_reads(accepted.requests, accepted.groups) {
      self.run(accepted.batch.clone(), reqs, groups);
    }
  }

  /// Batches running on the I/O thread.
  pub fn inflight(&self) -> usize {
    self.inflight.load(Ordering::Acquire)
  }

  /// The deadline every batch settles within (`None` in memory mode).
  pub fn deadline(&self) -> Option<Duration> {
    self.deadline
  }

  /// A job started on the direct connection (`close` waits for it).
  pub fn direct_started(&self) {
    self.direct_jobs.fetch_add(1, Ordering::AcqRel);
    Stats::add(&self.stats.direct_batches, 1);
  }

  /// A job on the direct connection settled.
  pub fn direct_finished(&self) {
    if self.direct_jobs.fetch_sub(1, Ordering::AcqRel) == 1 {
      self.idle.notify_waiters();
    }
  }

  fn busy(&self) -> bool {
    self.inflight.load(Ordering::Acquire) + self.direct_jobs.load(Ordering::Acquire) > 0
  }

  /// Runs one batch on the I/O thread and queues its completions.
  fn run(self: &Arc<Self>, batch: Arc<Vec<u8>>, reqs: Vec<Request>, groups: Vec<Group>) {
    if self.inflight.fetch_add(1, Ordering::AcqRel) == 0 {
      self.poll_window.woke(self.now_ns());
    }
    if let Some(anchor) = &self.anchor {
      anchor.hold(&self.handle);
    }
    let me = self.clone();
    self.handle.spawn(async move {
      // A panic must never strand a request: every id still gets a completion.
      let run = AssertUnwindSafe(execute(&me.store, &me.settings, &me.stats, &batch, &reqs));
      let run = run.catch_unwind();
      let settled = match me.deadline {
        Some(limit) => tokio::time::timeout(limit, run).await.unwrap_or_else(|_| {
          Stats::add(&me.stats.errors, reqs.len() as u64);
          let err = command_timed_out(limit);
          Ok(reqs.iter().map(|r| Completion::error(r.id, &err)).collect())
        }),
        None => run.await,
      };
      let done = settled.unwrap_or_else(|_| {
        let err = CacheError::new(
          ErrorKind::Internal,
          "the engine failed on this request (a bug: please report it)",
        );
        reqs.iter().map(|r| Completion::error(r.id, &err)).collect()
      });
      me.queue.push_all(group_completions(done, &groups));
      if me.inflight.fetch_sub(1, Ordering::AcqRel) == 1 {
        if me.direct_jobs.load(Ordering::Acquire) == 0 {
          me.idle.notify_waiters();
        }
        // Only the last batch in flight opens the window (under load, other batches keep this
        // thread busy), and only for callers that usually come back within it.
        me.poll_window.went_idle(me.now_ns());
        if me.poll_window.worth_polling() {
          me.keep_polling();
        }
      }
    });
  }

  /// Nanoseconds since the engine started (never 0 after the first microsecond).
  fn now_ns(&self) -> u64 {
    self.started.elapsed().as_nanos() as u64
  }

  /// After the last batch in flight, keeps the I/O thread awake (polling, yielding) for a short
  /// window: the next request of a sequential caller then needs no thread wake-up, nor its reply.
  fn keep_polling(self: &Arc<Self>) {
    self.last_batch.store(self.now_ns(), Ordering::Relaxed);
    if self.polling.swap(true, Ordering::AcqRel) {
      return;
    }
    let me = self.clone();
    self.handle.spawn(async move {
      loop {
        let idle = me
          .now_ns()
          .saturating_sub(me.last_batch.load(Ordering::Relaxed));
        if idle > me.poll_window.window_ns() || me.closed.load(Ordering::Relaxed) {
          me.polling.store(false, Ordering::Release);
          return;
        }
        tokio::task::yield_now().await;
      }
    });
  }

  /// Starts delivering the messages of `channel` to JS (once; later calls do nothing). Memory
  /// mode has no bus: one process, nothing to hear.
  pub fn subscribe(&self, channel: Vec<u8>) -> Result<()> {
    self.check_open()?;
    let Some(BusClients {
      clients,
      connect_timeout,
    }) = self.store.bus_clients()
    else {
      return Ok(());
    };
    if self.bus_started.swap(true, Ordering::AcqRel) {
      return Ok(());
    }
    let task = crate::features::bus::run(
      clients,
      channel,
      self.queue.clone(),
      connect_timeout,
      self.stop.subscribe(),
    );
    self.handle.spawn(task);
    Ok(())
  }

  /// Invalidates tags (full marker keys): every entry carrying one of them stops being fresh.
  pub async fn invalidate_tags(&self, marker_keys: &[Vec<u8>], marker_ttl: Duration) -> Result<()> {
    self.check_open()?;
    if !marker_keys.iter().all(|k| is_internal(k)) {
      return Err(CacheError::new(
        ErrorKind::Internal,
        "a tag marker key outside the internal keyspace (binding and engine out of step)",
      ));
    }
    crate::features::tags::invalidate(&self.store, marker_keys, marker_ttl.as_millis() as u64).await
  }

  /// Round-trip time of a PING (zero in memory mode).
  pub async fn ping(&self) -> Result<Duration> {
    self.check_open()?;
    let started = Instant::now();
    self.store.ping().await?;
    Ok(started.elapsed())
  }

  /// Deletes every key matching `pattern` (a glob over full keys) with SCAN + UNLINK in bounded
  /// batches; never KEYS, never one giant command.
  pub async fn delete_matching(&self, pattern: &[u8]) -> Result<u64> {
    self.check_open()?;
    let deleted = self.store.delete_matching(pattern, SCAN_COUNT).await?;
    Stats::add(&self.stats.deletes, deleted);
    Ok(deleted)
  }

  /// One page of the keys matching `pattern` (a glob over full keys), for `keys()`: SCAN with a
  /// bounded COUNT on one node at a time (every primary of a cluster, in turn). Start at
  /// `ScanPosition::default()`; continue from the page's `next` until `done`.
  pub async fn scan_keys(&self, at: ScanPosition, pattern: &[u8]) -> Result<KeysPage> {
    self.check_open()?;
    self.store.scan_keys(at, pattern, SCAN_COUNT).await
  }

  /// Stops accepting work and waits (bounded) for in-flight batches to finish.
  pub async fn close(&self, wait: Duration) {
    self.closed.store(true, Ordering::Release);
    let _ = self.stop.send(true);
    let deadline = Instant::now() + wait;
    while self.busy() {
      let notified = self.idle.notified();
      if !self.busy() {
        break;
      }
      let left = deadline.saturating_duration_since(Instant::now());
      if left.is_zero() || tokio::time::timeout(left, notified).await.is_err() {
        break;
      }
    }
    self.store.close();
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::boundary::frame::{OP_GET, OP_SET, STATUS_HIT};

  fn request(op: u8, id: u32, key: &[u8], value: Option<&[u8]>) -> Vec<u8> {
    let mut w = crate::boundary::frame::tests::Writer::default();
    w.start(op, id, key);
    if let Some(v) = value {
      w.f64(60_000.0).f64(0.0).bytes(&[1]);
      w.u32(v.len() as u32).bytes(v).u16(0);
    }
    w.buf
  }

  #[test]
  fn memory_engine_round_trips_through_the_queue() {
    let rt = tokio::runtime::Builder::new_current_thread()
      .enable_all()
      .build()
      .unwrap();
    let cfg = EngineConfig {
      node: None,
      cluster: None,
      memory_max_bytes: 1 << 20,
      settings: Settings {
        compression: None,
        max_value_bytes: 1024,
        max_key_bytes: 64,
      },
      io_poll_us: 100,
      direct: false,
    };
    let engine = Engine::new(cfg, rt.handle().clone()).unwrap();
    let mut batch = request(OP_SET, 1, b"k", Some(b"{\"a\":1}"));
    batch.extend(request(OP_GET, 2, b"k", None));
    batch.extend(request(OP_SET, 3, b"big", Some(&[b'x'; 2000])));
    engine.submit(batch).unwrap();
    rt.block_on(engine.close(Duration::from_secs(1)));
    let chunk = engine.queue.drain(8).unwrap();
    assert_eq!(u32::from_le_bytes(chunk[0..4].try_into().unwrap()), 3);
    // The GET (id 2) is a hit with codec 1 and the exact payload.
    let text = String::from_utf8_lossy(&chunk);
    assert!(text.contains("{\"a\":1}"));
    assert!(chunk.windows(6).any(|w| w == [2, 0, 0, 0, STATUS_HIT, 1]));
    assert!(
      text.contains("maxValueBytes"),
      "oversized value is rejected with advice"
    );
    assert_eq!(engine.stats.snapshot().errors, 1);
    assert_eq!(engine.submit(vec![]).unwrap_err().kind, ErrorKind::Closed);
  }
}
