//! The JS thread's own connection to one node. A sequential caller's request is written to this
//! socket by the JS thread itself and its reply read there when the event loop says the socket
//! is readable: no hop to the I/O thread and back (see docs/architecture.md, "The direct path").
//!
//! Everything here is single-threaded (`Rc`, `RefCell`) and never blocks: writes go as far as
//! the socket takes them (the rest waits for writability), reads take what is there. Replies are
//! matched to requests by position, like any connection's; a reply that cannot be read, or that
//! nobody asked for, breaks the connection rather than being guessed at.
//!
//! Layer: `store` (imports `error` and the rest of `store` only). `handshake` opens the socket
//! on the I/O thread, `reply_scan` finds where a reply ends and `reply_value` reads it.

pub mod handshake;
pub mod reply_scan;
mod reply_value;

use crate::error::{CacheError, ErrorKind, Result};
use crate::store::command::Routed;
use crate::store::memory::MemoryStore;
use crate::store::node_send::{send_to_node, Pipelines};
use crate::store::Sink;
use redis::{Pipeline, Value};
use reply_scan::reply_len;
use reply_value::parse_reply;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::io::{ErrorKind as IoKind, Read, Write};
use std::net::TcpStream;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// Bytes read from the socket at most per `read` call; the buffer grows for larger replies.
const READ_CHUNK: usize = 64 * 1024;
/// A buffer grown past this for a large reply goes back to `READ_CHUNK` once it is all parsed:
/// one 16 MiB value must not pin 32 MiB per cache for good, while values of up to a few hundred
/// KiB (the common large case) keep their buffer and never pay for growing it again.
const KEPT_BUFFER: usize = 1 << 20;

/// The replies one pipeline waits for.
#[derive(Default)]
pub struct Expect {
  want: usize,
  got: RefCell<Vec<Value>>,
  done: RefCell<Option<Result<Vec<Value>>>>,
}

pub struct DirectConn {
  stream: TcpStream,
  out: Vec<u8>,
  written: usize,
  /// `input[start..end]` is read and not yet parsed; the rest is spare room (zeroed once).
  input: Vec<u8>,
  start: usize,
  end: usize,
  waiting: VecDeque<Rc<Expect>>,
  broken: Option<CacheError>,
}

/// The connection broke (or was never there): what the executor answers its requests with.
pub fn connection_lost(why: &str) -> CacheError {
  CacheError::new(
    ErrorKind::Connection,
    format!("the connection to Valkey was lost ({why}); it reconnects by itself"),
  )
}

impl DirectConn {
  pub fn new(stream: TcpStream) -> Self {
    DirectConn {
      stream,
      out: Vec::new(),
      written: 0,
      input: vec![0; READ_CHUNK],
      start: 0,
      end: 0,
      waiting: VecDeque::new(),
      broken: None,
    }
  }

  #[cfg(unix)]
  pub fn fd(&self) -> std::os::fd::RawFd {
    use std::os::fd::AsRawFd;
    self.stream.as_raw_fd()
  }

  /// No pipeline waits for replies.
  #[cfg(test)]
  pub fn idle(&self) -> bool {
    self.waiting.is_empty()
  }

  /// Bytes of the read buffer, parsed or not.
  #[cfg(test)]
  pub fn buffer_len(&self) -> usize {
    self.input.len()
  }

  /// Bytes are queued that the socket did not take yet.
  pub fn wants_write(&self) -> bool {
    self.written < self.out.len()
  }

  /// Why the connection is unusable, once it is.
  pub fn broken(&self) -> Option<&CacheError> {
    self.broken.as_ref()
  }

  /// Queues a pipeline, writes as much of it as the socket takes, and returns what its replies
  /// will settle.
  pub fn send(&mut self, pipe: &Pipeline, count: usize) -> Result<Rc<Expect>> {
    if let Some(err) = &self.broken {
      return Err(err.clone());
    }
    if self.written == self.out.len() {
      self.out.clear();
      self.written = 0;
    }
    for cmd in pipe.cmd_iter() {
      cmd.write_packed_command(&mut self.out);
    }
    let expect = Rc::new(Expect {
      want: count,
      ..Expect::default()
    });
    self.waiting.push_back(expect.clone());
    self.flush();
    Ok(expect)
  }

  /// Writes what is queued, as far as the socket takes it.
  pub fn flush(&mut self) {
    while self.written < self.out.len() && self.broken.is_none() {
      match self.stream.write(&self.out[self.written..]) {
        Ok(0) => self.break_with(connection_lost("the socket took no bytes")),
        Ok(n) => self.written += n,
        Err(e) if e.kind() == IoKind::WouldBlock => return,
        Err(e) if e.kind() == IoKind::Interrupted => continue,
        Err(e) => self.break_with(connection_lost(&e.to_string())),
      }
    }
  }

  /// Reads what the socket has and settles the pipelines whose replies are all in. Stops
  /// reading once nothing waits (a well-behaved server has nothing more to say); bytes that
  /// arrive while nothing waits are a reply nobody asked for.
  pub fn read(&mut self) {
    while self.broken.is_none() {
      if self.end == self.input.len() {
        self.make_room();
      }
      match self.stream.read(&mut self.input[self.end..]) {
        Ok(0) => self.break_with(connection_lost("Valkey closed it")),
        Ok(n) => {
          self.end += n;
          self.parse();
          if self.waiting.is_empty() {
            return;
          }
        }
        Err(e) if e.kind() == IoKind::WouldBlock => return,
        Err(e) if e.kind() == IoKind::Interrupted => continue,
        Err(e) => self.break_with(connection_lost(&e.to_string())),
      }
    }
  }

  /// Moves the unparsed bytes to the front, or grows the buffer when they fill it.
  fn make_room(&mut self) {
    if self.start > 0 {
      self.input.copy_within(self.start..self.end, 0);
      self.end -= self.start;
      self.start = 0;
    }
    if self.end == self.input.len() {
      let grown = self.input.len() * 2;
      self.input.resize(grown, 0);
    }
  }

  fn parse(&mut self) {
    while self.broken.is_none() {
      let n = match reply_len(&self.input[self.start..self.end]) {
        Ok(Some(n)) => n,
        Ok(None) => break,
        Err(e) => return self.break_with(connection_lost(e.0)),
      };
      let reply = &self.input[self.start..self.start + n];
      self.start += n;
      let Some(front) = self.waiting.front().cloned() else {
        return self.break_with(connection_lost("a reply nobody asked for"));
      };
      match parse_reply(reply) {
        Ok(value) => front.got.borrow_mut().push(value),
        Err(e) => return self.break_with(connection_lost(&e.to_string())),
      }
      if front.got.borrow().len() == front.want {
        let got = std::mem::take(&mut *front.got.borrow_mut());
        *front.done.borrow_mut() = Some(Ok(got));
        self.waiting.pop_front();
      }
    }
    if self.start == self.end {
      self.start = 0;
      self.end = 0;
      if self.input.len() > KEPT_BUFFER {
        self.input = vec![0; READ_CHUNK];
      }
    }
  }

  /// Fails every waiting pipeline with `err` and refuses further use.
  pub fn break_with(&mut self, err: CacheError) {
    for expect in self.waiting.drain(..) {
      *expect.done.borrow_mut() = Some(Err(err.clone()));
    }
    self.broken.get_or_insert(err);
  }
}

impl Drop for DirectConn {
  fn drop(&mut self) {
    self.break_with(connection_lost("the connection was closed"));
  }
}

/// The JS thread's connection as the executor sees it (`Sink`): commands go out at once, the
/// replies settle when the driver (`engine::direct`) reads the socket.
#[derive(Clone, Default)]
pub struct DirectLink(Rc<RefCell<Option<DirectConn>>>);

impl DirectLink {
  pub fn with<R>(&self, f: impl FnOnce(&mut Option<DirectConn>) -> R) -> R {
    f(&mut self.0.borrow_mut())
  }
}

impl Pipelines for DirectLink {
  async fn pipeline(&self, pipe: &Pipeline, count: usize) -> Result<Vec<Value>> {
    if count == 0 {
      return Ok(Vec::new());
    }
    let expect = self.with(|conn| match conn {
      Some(conn) => conn.send(pipe, count),
      None => Err(connection_lost("not connected")),
    })?;
    Replies(expect).await
  }
}

impl Sink for DirectLink {
  fn memory(&self) -> Option<&MemoryStore> {
    None
  }

  async fn send(&self, cmds: Vec<Routed<'_>>) -> Vec<Result<Value>> {
    send_to_node(self, cmds).await
  }
}

/// Ready once the connection has settled the pipeline. Needs no waker: the driver polls its
/// job again after every read of the socket.
struct Replies(Rc<Expect>);

impl Future for Replies {
  type Output = Result<Vec<Value>>;

  fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
    match self.0.done.borrow_mut().take() {
      Some(result) => Poll::Ready(result),
      None => Poll::Pending,
    }
  }
}

#[cfg(test)]
mod tests;
