#![deny(clippy::all)]
//! N-API boundary only: `#[napi]` items that hand work to the plain Rust modules below.

// Layers, each importing only the ones after it (see docs/architecture.md):
// boundary (frames, completion queue) → engine (executor, replies) → features (tags, bus) →
// store (memory, standalone, cluster) → codec (envelope); `error` is shared by all.
mod boundary;
mod codec;
mod engine;
mod error;
mod features;
#[cfg(test)]
mod proptests;
mod store;

use boundary::js_error::{from_napi, to_js, ErrorCode, Settled};
use napi::bindgen_prelude::{Buffer, Function, PromiseRaw};
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::{Env, JsValue};
use napi_derive::napi;
use std::sync::Arc;
use std::time::Duration;

/// Settings of the native engine. The TypeScript `Cache` validates user options and fills in the
/// defaults (one place: `ts/core/defaults.ts`) before it builds one; every field is already checked.
#[napi(object)]
pub struct EngineOptions {
  /// `redis://` or `rediss://` URL; absent (and no `nodes`) = memory-only mode.
  pub url: Option<String>,
  /// Valkey Cluster seed URLs (`redis://` or `rediss://`), instead of `url`.
  pub nodes: Option<Vec<String>>,
  /// Connections to each node.
  pub pool_size: u32,
  /// Connect timeout in milliseconds.
  pub connect_timeout_ms: u32,
  /// Per-command timeout in milliseconds.
  pub command_timeout_ms: u32,
  /// Compress payloads of at least this many bytes with lz4; absent = no compression.
  pub compression_threshold: Option<u32>,
  /// Largest serialized value accepted, in bytes.
  pub max_value_bytes: u32,
  /// Largest key accepted, prefix included, in bytes.
  pub max_key_bytes: u32,
  /// Bound of memory-only mode, in bytes of keys + values.
  pub memory_max_bytes: f64,
  /// PEM of a CA to trust for `rediss://` (for private CAs).
  pub tls_ca: Option<String>,
  /// Microseconds the I/O thread keeps polling after a batch before it sleeps.
  pub io_poll_us: u32,
  /// Sequential requests, and a few in flight at a time, use a connection of the JS thread's own
  /// (standalone `redis://` only).
  pub direct_socket: bool,
}

/// Counters kept by the native engine since it started.
#[napi(object)]
pub struct EngineStats {
  pub hits: f64,
  pub misses: f64,
  pub sets: f64,
  pub deletes: f64,
  pub errors: f64,
  pub bytes_written: f64,
  pub bytes_read: f64,
  pub compressed_writes: f64,
  /// Batches that ran on the JS thread's own connection (`directSocket`).
  pub direct_batches: f64,
}

/// One page of `NativeEngine.scanKeys`.
#[napi(object)]
pub struct ScanPage {
  /// The node to scan next (cluster primaries are walked in turn; 0 otherwise).
  pub node: u32,
  /// The SCAN cursor to continue from, as a decimal string (64 bits do not fit a JS number).
  pub cursor: String,
  /// Full keys (prefix included) of this page.
  pub keys: Vec<String>,
  /// No more pages.
  pub done: bool,
}

/// The native engine. Requests go in as one binary batch (`submit`), results come back in chunks
/// after `onReady` wakes the JS side with the first chunk (`null` when another drain took it);
/// `drain` takes the rest. Internal: use the `Cache` class.
#[napi]
pub struct NativeEngine {
  inner: Arc<engine::Engine>,
  /// The JS thread's own connection, for sequential callers (`engine::direct`).
  #[cfg(unix)]
  direct: Option<engine::direct::Attached>,
}

#[napi]
impl NativeEngine {
  /// Builds an engine; never connects synchronously (connections warm up in the background).
  #[napi(constructor)]
  pub fn new(
    env: Env,
    options: EngineOptions,
    on_ready: Function<Option<Buffer>, ()>,
  ) -> napi::Result<Self, ErrorCode> {
    let ms = |v: u32| Duration::from_millis(u64::from(v));
    let pool_size = options.pool_size as usize;
    let connect_timeout = ms(options.connect_timeout_ms);
    let command_timeout = ms(options.command_timeout_ms);
    let tls_ca = options.tls_ca.map(String::into_bytes);
    let cluster = options.nodes.map(|seeds| store::cluster::ClusterConfig {
      seeds,
      pool_size,
      connect_timeout,
      command_timeout,
      tls_ca: tls_ca.clone(),
    });
    let node = options.url.map(|url| store::standalone::NodeConfig {
      url,
      pool_size,
      connect_timeout,
      command_timeout,
      tls_ca,
    });
    let cfg = engine::EngineConfig {
      direct: options.direct_socket,
      node,
      cluster,
      memory_max_bytes: options.memory_max_bytes as usize,
      io_poll_us: u64::from(options.io_poll_us),
      settings: engine::settings::Settings {
        compression: options.compression_threshold.map(|t| codec::Compression {
          threshold: t as usize,
        }),
        max_value_bytes: options.max_value_bytes as usize,
        max_key_bytes: options.max_key_bytes as usize,
      },
    };
    let inner =
      engine::Engine::new(cfg, boundary::runtime::io_runtime().map_err(to_js)?).map_err(to_js)?;
    // SAFETY: the constructor runs on the JS thread of `env`; `on_ready` is its function.
    #[cfg(unix)]
    let direct = unsafe {
      engine::direct::Direct::attach(&inner, env.raw(), on_ready.value().value, DRAIN_CHUNK)
    }
    .map_err(from_napi)?;
    #[cfg(not(unix))]
    let _ = env;
    // The wake-up carries the first chunk: one crossing into JS per burst instead of a wake-up
    // followed by a `drain` call.
    let queue = inner.queue.clone();
    let wake = on_ready
      .build_threadsafe_function::<()>()
      .callee_handled::<false>()
      .weak::<true>()
      .build_callback(move |_| {
        Ok(
          queue
            .take_waking(DRAIN_CHUNK as usize)
            .map(|(c, more)| boundary::chunk::Chunk::new(c, more)),
        )
      })
      .map_err(from_napi)?;
    inner.queue.set_wake(Box::new(move || {
      wake.call((), ThreadsafeFunctionCallMode::NonBlocking);
    }));
    Ok(NativeEngine {
      inner,
      #[cfg(unix)]
      direct,
    })
  }

  /// Queues one request batch (binary frame built by the JS transport). Throws `E_CLOSED` after close.
  #[napi]
  pub fn submit(&self, batch: &[u8]) -> napi::Result<(), ErrorCode> {
    #[cfg(unix)]
    if let Some(direct) = self.direct.as_ref().and_then(|d| d.get()) {
      return direct.submit(batch.to_vec()).map_err(to_js);
    }
    self.inner.submit(batch.to_vec()).map_err(to_js)
  }

  /// Takes at most `max` completions as one binary chunk, or `null` when none are waiting.
  #[napi(ts_return_type = "Buffer | null")]
  pub fn drain(&self, max: u32) -> Option<boundary::chunk::Chunk> {
    self
      .inner
      .queue
      .take(max as usize)
      .map(|(c, more)| boundary::chunk::Chunk::new(c, more))
  }

  /// Counters since start.
  #[napi]
  pub fn stats(&self) -> EngineStats {
    let s = self.inner.stats.snapshot();
    EngineStats {
      hits: s.hits as f64,
      misses: s.misses as f64,
      sets: s.sets as f64,
      deletes: s.deletes as f64,
      errors: s.errors as f64,
      bytes_written: s.bytes_written as f64,
      bytes_read: s.bytes_read as f64,
      compressed_writes: s.compressed_writes as f64,
      direct_batches: s.direct_batches as f64,
    }
  }

  /// `'memory'`, `'standalone'` or `'cluster'`.
  #[napi(getter)]
  pub fn mode(&self) -> String {
    self.inner.mode().to_string()
  }

  /// Starts delivering messages published on `channel` to the JS side (bus events). Idempotent.
  #[napi]
  pub fn subscribe(&self, channel: String) -> napi::Result<(), ErrorCode> {
    self.inner.subscribe(channel.into_bytes()).map_err(to_js)
  }

  /// Invalidates tags given as full marker keys (internal keys: they hold a 0xFF byte, see
  /// `src/keyspace.rs`); markers live `markerTtlMs` milliseconds.
  #[napi(ts_return_type = "Promise<void>")]
  pub async fn invalidate_tags(&self, marker_keys: Vec<Buffer>, marker_ttl_ms: f64) -> Settled<()> {
    let keys: Vec<Vec<u8>> = marker_keys.iter().map(|b| b.to_vec()).collect();
    let ttl = Duration::from_millis(marker_ttl_ms.max(1.0) as u64);
    Settled(self.inner.invalidate_tags(&keys, ttl).await)
  }

  /// PING round trip in milliseconds (0 in memory mode). Rejects when the server is unreachable.
  #[napi(ts_return_type = "Promise<number>")]
  pub async fn ping(&self) -> Settled<f64> {
    Settled(
      self
        .inner
        .ping()
        .await
        .map(|rtt| rtt.as_secs_f64() * 1000.0),
    )
  }

  /// Deletes the keys matching a glob over full keys (the caller escapes its prefix).
  /// Returns how many were deleted.
  #[napi(ts_return_type = "Promise<number>")]
  pub async fn delete_matching(&self, pattern: String) -> Settled<f64> {
    Settled(
      self
        .inner
        .delete_matching(pattern.as_bytes())
        .await
        .map(|n| n as f64),
    )
  }

  /// One page of the keys matching `pattern` (a glob over full keys; the caller escapes its
  /// prefix): SCAN with a bounded COUNT, one node at a time (every cluster primary in turn).
  /// Start with `node` 0 and `cursor` "0"; pass back the page's `node`/`cursor` until `done`.
  /// Keys that are not UTF-8 are left out (this cache writes only string keys).
  ///
  /// @example
  /// ```ts
  /// let page = await engine.scanKeys(0, '0', 'app:*')
  /// while (!page.done) page = await engine.scanKeys(page.node, page.cursor, 'app:*')
  /// ```
  #[napi(ts_return_type = "Promise<ScanPage>")]
  pub async fn scan_keys(&self, node: u32, cursor: String, pattern: String) -> Settled<ScanPage> {
    let Ok(cursor) = cursor.parse::<u64>() else {
      return Settled(Err(error::CacheError::new(
        error::ErrorKind::InvalidOption,
        format!("scanKeys: bad cursor {cursor:?}"),
      )));
    };
    let at = store::backend::ScanPosition { node, cursor };
    let page = self.inner.scan_keys(at, pattern.as_bytes()).await;
    Settled(page.map(|page| {
      ScanPage {
        node: page.next.node,
        cursor: page.next.cursor.to_string(),
        keys: page
          .keys
          .into_iter()
          .filter_map(|k| String::from_utf8(k).ok())
          .collect(),
        done: page.done,
      }
    }))
  }

  /// Stops accepting work, waits up to `waitMs` milliseconds for in-flight requests, then drops
  /// the connections.
  #[napi(ts_return_type = "Promise<void>")]
  pub fn close<'env>(&self, env: &'env Env, wait_ms: u32) -> napi::Result<PromiseRaw<'env, ()>> {
    #[cfg(unix)]
    if let Some(direct) = self.direct.as_ref().and_then(|d| d.get()) {
      direct.close();
    }
    let inner = self.inner.clone();
    env.spawn_future(async move {
      inner.close(Duration::from_millis(wait_ms as u64)).await;
      Ok(())
    })
  }
}

/// Escapes glob metacharacters so a literal (a key prefix) can be used in a SCAN MATCH pattern.
#[napi]
pub fn escape_glob(literal: String) -> String {
  String::from_utf8_lossy(&store::glob::escape(literal.as_bytes())).into_owned()
}

/// Which of `keys` match a Valkey glob, with Valkey's own rules over the keys' UTF-8 bytes (`?`
/// is one byte, `[z-a]` is `[a-z]`, an unterminated `[` is not an error). Returns the indices of
/// the matching keys, in order. The in-process tier uses it so it drops exactly what Valkey
/// deletes.
///
/// @example
/// ```ts
/// globMatch('caf??', ['café', 'cafe']) // [0]: 'é' is two bytes
/// ```
#[napi]
pub fn glob_match(pattern: String, keys: Vec<String>) -> Vec<u32> {
  let pattern = pattern.as_bytes();
  (0u32..)
    .zip(keys.iter())
    .filter(|(_, k)| store::glob::matches(pattern, k.as_bytes()))
    .map(|(i, _)| i)
    .collect()
}

/// The Valkey Cluster hash slot (0–16383) of a key: CRC16 of its `{hash tag}` when it has one.
/// Keys with the same slot can share one multi-key command or script.
#[napi]
pub fn key_slot(key: String) -> u32 {
  u32::from(store::cluster::slots::slot_of(key.as_bytes()))
}

// What crosses the boundary, defined once in the modules that use it (`boundary/frame.rs` describes
// the frame format, `features/bus.rs` the bus events, `error.rs` the error kinds) and exported here
// so the TypeScript transport reads the same numbers instead of keeping a copy.

/// Request op (frame byte 0): read a value.
#[napi]
pub const OP_GET: u32 = boundary::frame::OP_GET as u32;
/// Request op: write a value (ttl, fresh time, codec, value, tag markers follow).
#[napi]
pub const OP_SET: u32 = boundary::frame::OP_SET as u32;
/// Request op: delete a key.
#[napi]
pub const OP_DELETE: u32 = boundary::frame::OP_DELETE as u32;
/// Request op: whether a key exists.
#[napi]
pub const OP_EXISTS: u32 = boundary::frame::OP_EXISTS as u32;
/// Request op: a raw command (arguments follow; the key routes it).
#[napi]
pub const OP_COMMAND: u32 = boundary::frame::OP_COMMAND as u32;
/// Request op: many GETs answered by one completion (keys follow; per-key results inside).
#[napi]
pub const OP_GET_MANY: u32 = boundary::frame::OP_GET_MANY as u32;
/// Completion status: nothing stored.
#[napi]
pub const STATUS_MISS: u32 = boundary::frame::STATUS_MISS as u32;
/// Completion status: a value (its codec in the tag) or a command reply (its `REPLY_*` in the tag).
#[napi]
pub const STATUS_HIT: u32 = boundary::frame::STATUS_HIT as u32;
/// Completion status: failed; the tag is the error kind, index into `errorCodes()` plus one.
#[napi]
pub const STATUS_ERROR: u32 = boundary::frame::STATUS_ERROR as u32;
/// Completion status: a value past its fresh time, within grace.
#[napi]
pub const STATUS_STALE: u32 = boundary::frame::STATUS_STALE as u32;
/// Command reply tag: an integer, as decimal text.
#[napi]
pub const REPLY_INT: u32 = boundary::frame::REPLY_INT as u32;
/// Command reply tag: a bulk string (bytes).
#[napi]
pub const REPLY_BULK: u32 = boundary::frame::REPLY_BULK as u32;
/// Command reply tag: a status reply (text).
#[napi]
pub const REPLY_STATUS: u32 = boundary::frame::REPLY_STATUS as u32;
/// Command reply tag: a nested reply, as JSON text.
#[napi]
pub const REPLY_JSON: u32 = boundary::frame::REPLY_JSON as u32;
/// Bit of a read's codec tag: the entry carries tags (the codec id is in the low 4 bits).
#[napi]
pub const TAGGED: u32 = boundary::frame::TAGGED as u32;
/// Bit of a `getMany` completion's tag (and of its records' tags): the plain JSON values come
/// joined into one text, parsed by one `JSON.parse` (format in `src/boundary/frame.rs`).
#[napi]
pub const JOINED: u32 = boundary::frame::JOINED as u32;
/// ASCII bytes of the nonce that separates the values of a joined text.
#[napi]
pub const JOINED_NONCE_BYTES: u32 = boundary::joined::NONCE_BYTES as u32;
/// Bytes at the end of every read's payload: f64 epoch ms until which the value may be kept
/// in-process (0 = unknown).
#[napi]
pub const READ_TRAILER_BYTES: u32 = boundary::frame::READ_TRAILER_BYTES as u32;
/// Completions per chunk handed to JS (the wake-up's chunk and each `drain`): 8 was measured
/// best on 2 cores, JS decoding one chunk while the I/O thread and Valkey work on the next.
#[napi]
pub const DRAIN_CHUNK: u32 = 8;
/// Completion id reserved for bus events.
#[napi]
pub const BUS_ID: u32 = features::bus::BUS_ID;
/// Bus event tag: a message (payload = message bytes).
#[napi]
pub const BUS_MESSAGE: u32 = features::bus::BUS_MESSAGE as u32;
/// Bus event tag: (re)subscribed (payload = channel); messages may have been missed before it.
#[napi]
pub const BUS_SUBSCRIBED: u32 = features::bus::BUS_SUBSCRIBED as u32;
/// Bus event tag: subscription lost (messages may be missed until the next `BUS_SUBSCRIBED`).
#[napi]
pub const BUS_LOST: u32 = features::bus::BUS_LOST as u32;
/// Bus event tag: the server refuses the subscription (payload = the error kind as one byte, as
/// in `errorCodes()`, then the message), sent once per streak of refusals.
#[napi]
pub const BUS_REFUSED: u32 = features::bus::BUS_REFUSED as u32;

/// The `code` of each error kind the engine reports, in the order of their numbers: an error
/// completion with tag `n` has code `errorCodes()[n - 1]`.
#[napi]
pub fn error_codes() -> Vec<&'static str> {
  error::ErrorKind::ALL.iter().map(|k| k.code()).collect()
}
