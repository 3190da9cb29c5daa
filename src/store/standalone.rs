//! Connections to one Valkey node: `pool_size` multiplexed connections, TCP_NODELAY, fail-fast
//! timeouts, lazy (re)connect with exponential backoff. While the server is down, callers get
//! `E_CONNECTION` at once instead of waiting for a connect per request.
//!
//! A call never waits longer than `command_timeout` in all, connecting included: a connect runs in
//! its own task (bounded by `connect_timeout`), callers wait for it only as long as their own
//! deadline allows, and the connect lives on to serve the next call when the server answers late.

use crate::error::{CacheError, ErrorKind, Result};
use crate::store::backend::{Backend, BusClients, KeysPage, ScanPosition};
use crate::store::backoff::Backoff;
use crate::store::command::{scan_command, unlink_scanned, ScanReply};
use futures_util::future::join_all;
use redis::aio::MultiplexedConnection;
use redis::io::tcp::TcpSettings;
use redis::{AsyncConnectionConfig, ConnectionInfo, IntoConnectionInfo, Pipeline, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

#[derive(Clone, Debug)]
pub struct NodeConfig {
  pub url: String,
  pub pool_size: usize,
  pub connect_timeout: Duration,
  pub command_timeout: Duration,
  /// PEM of the CA that signs the server certificate (`rediss://` with a private CA).
  pub tls_ca: Option<Vec<u8>>,
}

type Connected = Result<MultiplexedConnection>;

#[derive(Default)]
struct Slot {
  conn: Mutex<Option<MultiplexedConnection>>,
  /// The connect under way, if any; its result arrives on the channel.
  pending: Mutex<Option<watch::Receiver<Option<Connected>>>>,
}

pub struct NodePool {
  client: redis::Client,
  config: AsyncConnectionConfig,
  connect_timeout: Duration,
  command_timeout: Duration,
  slots: Vec<Arc<Slot>>,
  next: AtomicUsize,
  backoff: Arc<Mutex<Backoff>>,
}

/// A command was sent and no reply came within `commandTimeoutMs`.
pub fn command_timed_out(limit: Duration) -> CacheError {
  CacheError::new(
    ErrorKind::Timeout,
    format!(
      "Valkey did not answer within commandTimeoutMs ({} ms): the server is stalled, overloaded or \
       unreachable; raise commandTimeoutMs only if it is merely slow",
      limit.as_millis()
    ),
  )
}

/// No connection could be made within the call's `commandTimeoutMs` (the connect goes on).
fn not_connected_in_time(command: Duration, connect: Duration) -> CacheError {
  CacheError::new(
    ErrorKind::Timeout,
    format!(
      "no connection to Valkey within commandTimeoutMs ({} ms): the server accepts no connection or \
       does not answer it (stalled?); still trying in the background (connectTimeoutMs {} ms)",
      command.as_millis(),
      connect.as_millis()
    ),
  )
}

/// A connect attempt that did not complete within `connectTimeoutMs`.
pub fn connect_timed_out(limit: Duration) -> CacheError {
  CacheError::new(
    ErrorKind::Connection,
    format!(
      "cannot reach Valkey: the connection was not ready within connectTimeoutMs ({} ms). Is the \
       server running, not stalled, and the url right?",
      limit.as_millis()
    ),
  )
}

pub fn invalid_url(e: impl std::fmt::Display) -> CacheError {
  CacheError::new(
    ErrorKind::InvalidOption,
    format!("url is not a valid redis:// or rediss:// address: {e}"),
  )
}

/// A client for one node URL (TCP_NODELAY; `tls_ca` trusted for `rediss://`).
pub fn open_client(url: &str, tls_ca: Option<&[u8]>) -> Result<redis::Client> {
  client_for(url.into_connection_info().map_err(invalid_url)?, tls_ca)
}

/// A client for parsed connection details (TCP_NODELAY; `tls_ca` trusted for TLS).
pub fn client_for(info: ConnectionInfo, tls_ca: Option<&[u8]>) -> Result<redis::Client> {
  let info = info.set_tcp_settings(TcpSettings::default().set_nodelay(true));
  match tls_ca {
    Some(ca) => redis::Client::build_with_tls(
      info,
      redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(ca.to_vec()),
      },
    ),
    None => redis::Client::open(info),
  }
  .map_err(invalid_url)
}

impl NodePool {
  pub fn new(cfg: &NodeConfig) -> Result<Self> {
    Ok(Self::with_client(
      open_client(&cfg.url, cfg.tls_ca.as_deref())?,
      cfg,
    ))
  }

  /// A pool over `client` (`cfg.url` is not used).
  pub fn with_client(client: redis::Client, cfg: &NodeConfig) -> Self {
    let config = AsyncConnectionConfig::new()
      .set_connection_timeout(Some(cfg.connect_timeout))
      .set_response_timeout(Some(cfg.command_timeout))
      .set_pipeline_buffer_size(1024);
    let slots = (0..cfg.pool_size.max(1))
      .map(|_| Arc::new(Slot::default()))
      .collect();
    NodePool {
      client,
      config,
      connect_timeout: cfg.connect_timeout,
      command_timeout: cfg.command_timeout,
      slots,
      next: AtomicUsize::new(0),
      backoff: Arc::new(Mutex::new(Backoff::default())),
    }
  }

  pub fn size(&self) -> usize {
    self.slots.len()
  }

  /// Picks a connection round-robin, connecting it if needed; waits at most `command_timeout`.
  pub async fn connection(&self) -> Result<(usize, MultiplexedConnection)> {
    let idx = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
    match tokio::time::timeout(self.command_timeout, self.connection_at(idx)).await {
      Ok(result) => result.map(|c| (idx, c)),
      Err(_) => Err(not_connected_in_time(
        self.command_timeout,
        self.connect_timeout,
      )),
    }
  }

  /// The connection of slot `idx`, waiting for a connect (at most `connect_timeout`) if needed.
  pub async fn connection_at(&self, idx: usize) -> Result<MultiplexedConnection> {
    let slot = &self.slots[idx];
    if let Some(c) = lock(&slot.conn).clone() {
      return Ok(c);
    }
    let mut rx = self.connecting(slot)?;
    loop {
      if let Some(result) = rx.borrow_and_update().clone() {
        return result;
      }
      if rx.changed().await.is_err() {
        return Err(CacheError::new(
          ErrorKind::Internal,
          "the connect task ended without a result (a bug: please report it)",
        ));
      }
    }
  }

  /// Joins the connect under way for `slot`, or starts one in its own task (unless backing off).
  fn connecting(&self, slot: &Arc<Slot>) -> Result<watch::Receiver<Option<Connected>>> {
    let mut pending = lock(&slot.pending);
    if let Some(rx) = pending.as_ref() {
      return Ok(rx.clone());
    }
    // The task stores the connection before it clears `pending`: look again under the lock.
    if let Some(c) = lock(&slot.conn).clone() {
      return Ok(watch::channel(Some(Ok(c))).1);
    }
    lock(&self.backoff).check()?;
    let (tx, rx) = watch::channel(None);
    *pending = Some(rx.clone());
    let (client, config, limit) = (
      self.client.clone(),
      self.config.clone(),
      self.connect_timeout,
    );
    let (slot, backoff) = (slot.clone(), self.backoff.clone());
    tokio::spawn(async move {
      let attempt = client.get_multiplexed_async_connection_with_config(&config);
      let result = match tokio::time::timeout(limit, attempt).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) if e.is_timeout() => Err(connect_timed_out(limit)),
        Ok(Err(e)) => Err(CacheError::from(e)),
        Err(_) => Err(connect_timed_out(limit)),
      };
      lock(&backoff).record(&result);
      if let Ok(c) = &result {
        *lock(&slot.conn) = Some(c.clone());
      }
      lock(&slot.pending).take();
      let _ = tx.send(Some(result));
    });
    Ok(rx)
  }

  /// Forgets a connection that failed, so the next use reconnects.
  pub fn discard(&self, idx: usize) {
    lock(&self.slots[idx].conn).take();
  }

  /// Sends a pipeline and returns one reply per command (server errors inline). Settles within
  /// `command_timeout`, connecting included.
  pub async fn pipeline(&self, pipe: &Pipeline, count: usize) -> Result<Vec<Value>> {
    let deadline = tokio::time::Instant::now() + self.command_timeout;
    let (idx, mut conn) = self.connection().await?;
    let send = conn.send_packed_commands(pipe, 0, count);
    match tokio::time::timeout_at(deadline, send).await {
      Ok(Ok(values)) => Ok(values),
      Ok(Err(e)) => Err(self.failed(idx, e)),
      Err(_) => {
        // Same as a response timeout: the connection may be stuck, make a fresh one.
        self.discard(idx);
        Err(command_timed_out(self.command_timeout))
      }
    }
  }

  /// Classifies a failure and drops the connection when it is broken.
  pub fn failed(&self, idx: usize, e: redis::RedisError) -> CacheError {
    if e.is_unrecoverable_error() || e.is_connection_dropped() || e.is_io_error() {
      self.discard(idx);
    }
    if e.is_timeout() {
      return command_timed_out(self.command_timeout);
    }
    CacheError::from(e)
  }
}

impl Backend for NodePool {
  async fn warm_up(&self) {
    // Every connection at once; a failure is retried lazily by the first request.
    let _ = join_all((0..self.size()).map(|idx| self.connection_at(idx))).await;
  }

  async fn ping(&self) -> Result<()> {
    let (idx, conn) = self.connection().await?;
    self
      .query::<String>(idx, &conn, &redis::cmd("PING"))
      .await?;
    Ok(())
  }

  async fn delete_matching(&self, pattern: &[u8], count: usize) -> Result<u64> {
    let (idx, conn) = self.connection().await?;
    let conn = &conn;
    unlink_scanned(
      |cursor| self.scan(idx, conn, scan_command(cursor, pattern, count)),
      |keys| async move {
        let mut unlink = redis::cmd("UNLINK");
        unlink.arg(keys);
        self.query::<u64>(idx, conn, &unlink).await
      },
    )
    .await
  }

  async fn scan_keys(&self, at: ScanPosition, pattern: &[u8], count: usize) -> Result<KeysPage> {
    let (idx, conn) = self.connection().await?;
    let page = self
      .scan(idx, &conn, scan_command(at.cursor, pattern, count))
      .await?;
    Ok(KeysPage {
      next: ScanPosition {
        node: 0,
        cursor: page.next,
      },
      keys: page.keys,
      done: page.next == 0,
    })
  }

  fn close(&self) {
    (0..self.size()).for_each(|i| self.discard(i));
  }

  fn bus_clients(&self) -> Option<BusClients> {
    Some(BusClients {
      clients: vec![self.client.clone()],
      connect_timeout: self.connect_timeout,
    })
  }
}

impl NodePool {
  /// Runs one command on connection `idx` (a failure is classified by `failed`).
  async fn query<T: redis::FromRedisValue>(
    &self,
    idx: usize,
    conn: &MultiplexedConnection,
    cmd: &redis::Cmd,
  ) -> Result<T> {
    cmd
      .query_async(&mut conn.clone())
      .await
      .map_err(|e| self.failed(idx, e))
  }

  async fn scan(
    &self,
    idx: usize,
    conn: &MultiplexedConnection,
    cmd: redis::Cmd,
  ) -> Result<ScanReply> {
    ScanReply::read(self.query::<Value>(idx, conn, &cmd).await)
  }
}

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
  m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::store::test_support::{closed_port, runtime};
  use std::time::Instant;

  fn cfg(url: &str) -> NodeConfig {
    NodeConfig {
      url: url.into(),
      pool_size: 2,
      connect_timeout: Duration::from_millis(200),
      command_timeout: Duration::from_millis(200),
      tls_ca: None,
    }
  }

  #[test]
  fn rejects_bad_urls() {
    let err = NodePool::new(&cfg("http://nope")).err().unwrap();
    assert_eq!(err.kind, ErrorKind::InvalidOption);
  }

  #[test]
  fn a_peer_that_never_answers_settles_within_the_command_timeout() {
    let rt = tokio::runtime::Builder::new_multi_thread()
      .worker_threads(1)
      .enable_all()
      .build()
      .unwrap();
    // Accepts connections (the kernel does) and never says a word: a stalled or half-open server.
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hole.local_addr().unwrap().port();
    let mut c = cfg(&format!("redis://127.0.0.1:{port}"));
    c.command_timeout = Duration::from_millis(100);
    c.connect_timeout = Duration::from_secs(20);
    let pool = NodePool::new(&c).unwrap();
    rt.block_on(async {
      let mut pipe = redis::pipe();
      pipe.cmd("PING");
      for _ in 0..3 {
        let started = Instant::now();
        let err = pool.pipeline(&pipe, 1).await.err().unwrap();
        // Bounded by the command timeout, far below the 20 s connect timeout.
        assert!(
          started.elapsed() < Duration::from_secs(5),
          "{:?}",
          started.elapsed()
        );
        assert_eq!(err.kind, ErrorKind::Timeout);
        assert!(err.message.contains("commandTimeoutMs"), "{}", err.message);
        assert!(err.message.contains("connectTimeoutMs"), "{}", err.message);
      }
    });
    drop(hole);
  }

  #[test]
  fn fails_fast_and_backs_off_when_nothing_listens() {
    let rt = runtime();
    let port = closed_port();
    let pool = NodePool::new(&cfg(&format!("redis://127.0.0.1:{port}"))).unwrap();
    rt.block_on(async {
      let first = pool.connection().await.err().unwrap();
      assert_eq!(first.kind, ErrorKind::Connection);
      let second = pool.connection().await.err().unwrap();
      assert_eq!(second.kind, ErrorKind::Connection);
      assert!(
        second.message.contains("next reconnect attempt"),
        "{}",
        second.message
      );
    });
  }
}
