//! The direct path: a batch issued while few requests are in flight runs on the JS thread, over
//! a connection of its own (`store::direct`). The JS thread writes the request to the socket
//! itself, the event loop reports the reply (a libuv watcher on the socket, `boundary::uv`), and
//! the same executor as on the I/O thread (`execute`, polled here) turns it into completions,
//! which reach JS in the same chunk format, through the same queue. The I/O thread is not woken
//! at all: no thread hop on the way out, none on the way back.
//!
//! A batch takes this path while the connection has room (`jobs::MAX_DIRECT_REQUESTS`: a few
//! requests, or any batch when nothing else is in flight); the jobs here are pipelined on the
//! one socket, in order, and a tick is still one batch on one connection, so the orderings of
//! docs/architecture.md hold as on the I/O thread. Everything else (the overflow of many
//! callers at once, a cluster, TLS, memory mode) keeps to the I/O thread, whose parallelism
//! wins there. The connection is opened on the I/O thread (`handshake`) and handed over; while
//! it is not there (still opening, broken, backing off) batches simply go the usual way, so the
//! direct path can only ever make a request faster, never fail it on its own.

pub mod jobs;

use crate::boundary::chunk::Chunk;
use crate::boundary::frame::Completion;
use crate::boundary::js_callback::JsCallback;
use crate::boundary::js_thread::JsThreadOnly;
use crate::boundary::uv::{SocketWatch, Timer, READABLE, WRITABLE};
use crate::engine::executor::execute;
use crate::engine::{Accepted, Engine};
use crate::error::{CacheError, ErrorKind, Result};
use crate::store::backoff::Backoff;
use crate::store::direct::handshake::{open, DirectTarget};
use crate::store::direct::{DirectConn, DirectLink};
use crate::store::standalone::{command_timed_out, lock};
use futures_util::FutureExt;
use jobs::{Arm, Jobs, Run, Settled};
use napi::sys::{napi_env, napi_value};
use std::cell::RefCell;
use std::ffi::c_int;
use std::net::TcpStream;
use std::panic::AssertUnwindSafe;
use std::rc::{Rc, Weak};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A socket being opened on the I/O thread, and the backoff while the server refuses.
#[derive(Default)]
struct Opening {
  stream: Option<TcpStream>,
  connecting: bool,
  backoff: Backoff,
}

#[derive(Default)]
struct State {
  // Declared before the connection's owner (`Direct::link`) so the watcher is closed first: an
  // fd must not be closed while libuv still watches it.
  watch: Option<SocketWatch>,
  watching: c_int,
  timer: Option<Timer>,
  jobs: Jobs,
  closing: bool,
  /// The event loop refused a watcher: the direct path stays off for this engine.
  disabled: bool,
}

pub struct Direct {
  state: RefCell<State>,
  link: DirectLink,
  engine: Arc<Engine>,
  target: DirectTarget,
  connect_timeout: Duration,
  opening: Arc<Mutex<Opening>>,
  deliver: JsCallback,
  env: napi_env,
  chunk_max: usize,
  me: Weak<Direct>,
}

/// The direct path of one engine, as the binding holds it (reachable on the JS thread only).
pub type Attached = JsThreadOnly<Rc<Direct>>;

impl Direct {
  /// The direct path for `engine`, delivering chunks to `on_ready`; `None` when the engine has
  /// no node a direct connection can serve.
  ///
  /// # Safety
  /// On the JS thread of `env`; `on_ready` is a function of the same `env`.
  pub unsafe fn attach(
    engine: &Arc<Engine>,
    env: napi_env,
    on_ready: napi_value,
    chunk_max: u32,
  ) -> napi::Result<Option<Attached>> {
    if engine.direct_target.is_none() {
      return Ok(None);
    }
    let deliver = JsCallback::new(env, on_ready, "ferrocache.direct")?;
    let direct = Direct::new(engine.clone(), env, deliver, chunk_max as usize);
    Ok(direct.map(JsThreadOnly::new))
  }

  /// `None` when the engine has no node a direct connection can serve. Starts opening the
  /// connection at once (in the background).
  ///
  /// # Safety
  /// On the JS thread of `env`; `deliver` is a callback of the same `env`.
  unsafe fn new(
    engine: Arc<Engine>,
    env: napi_env,
    deliver: JsCallback,
    chunk_max: usize,
  ) -> Option<Rc<Self>> {
    let (target, connect_timeout) = engine.direct_target.clone()?;
    let direct = Rc::new_cyclic(|me| Direct {
      state: RefCell::default(),
      link: DirectLink::default(),
      engine,
      target,
      connect_timeout,
      opening: Arc::default(),
      deliver,
      env,
      chunk_max,
      me: me.clone(),
    });
    direct.connect();
    Some(direct)
  }

  /// Runs the batch here when the connection is up and has room (`jobs::MAX_DIRECT_REQUESTS`);
  /// otherwise on the I/O thread.
  pub fn submit(&self, batch: Vec<u8>) -> Result<()> {
    let Some(accepted) = self.engine.accept(batch)? else {
      return Ok(());
    };
    if self.ready(accepted.requests.len()) {
      self.start(accepted);
    } else {
      self.engine.dispatch(accepted);
    }
    Ok(())
  }

  /// Stops taking batches; the connection closes once the jobs in flight (if any) settle.
  pub fn close(&self) {
    let idle = {
      let mut st = self.state.borrow_mut();
      st.closing = true;
      st.jobs.is_empty()
    };
    if idle {
      self.shut();
    }
  }

  fn ready(&self, requests: usize) -> bool {
    {
      let st = self.state.borrow();
      let alone = self.engine.inflight() == 0;
      if !st.jobs.has_room(requests, alone) || st.closing || st.disabled {
        return false;
      }
    }
    self.link.with(|c| c.is_some()) || self.adopt()
  }

  /// Takes the socket the I/O thread opened, if one is waiting; starts opening one if not.
  fn adopt(&self) -> bool {
    let taken = lock(&self.opening).stream.take();
    let Some(stream) = taken else {
      self.connect();
      return false;
    };
    let conn = DirectConn::new(stream);
    let (on_socket, on_timer) = (self.me.clone(), self.me.clone());
    // SAFETY: on the JS thread (`submit` is called from JS); the fd outlives the watcher, see
    // `State`.
    let watch = unsafe {
      SocketWatch::new(
        self.env,
        conn.fd(),
        Box::new(move |events| {
          if let Some(d) = on_socket.upgrade() {
            d.on_socket(events);
          }
        }),
      )
    };
    let mut st = self.state.borrow_mut();
    if st.timer.is_none() {
      // SAFETY: as above.
      st.timer = unsafe {
        Timer::new(
          self.env,
          Box::new(move || {
            if let Some(d) = on_timer.upgrade() {
              d.on_timeout();
            }
          }),
        )
      };
    }
    match watch {
      Some(w) if st.timer.is_some() && w.watch(READABLE) => {
        st.watch = Some(w);
        st.watching = READABLE;
      }
      _ => {
        st.disabled = true;
        return false;
      }
    }
    drop(st);
    self.link.with(|c| *c = Some(conn));
    true
  }

  /// Opens a connection on the I/O thread unless one is being opened or backoff says wait.
  fn connect(&self) {
    if self.state.borrow().closing {
      return;
    }
    let mut opening = lock(&self.opening);
    if opening.connecting || opening.stream.is_some() || opening.backoff.check().is_err() {
      return;
    }
    opening.connecting = true;
    let (shared, target, limit) = (
      self.opening.clone(),
      self.target.clone(),
      self.connect_timeout,
    );
    self.engine.handle.spawn(async move {
      let result = open(&target, limit).await;
      let mut opening = lock(&shared);
      opening.backoff.record(&result);
      opening.connecting = false;
      opening.stream = result.ok();
    });
  }

  fn start(&self, accepted: Accepted) {
    self.engine.direct_started();
    let Accepted {
      batch,
      requests,
      groups,
    } = accepted;
    let count = requests.len();
    let due = self.engine.deadline().map(|limit| Instant::now() + limit);
    let (engine, link) = (self.engine.clone(), self.link.clone());
    let run = async move {
      let run = execute(&link, &engine.settings, &engine.stats, &batch, &requests);
      let settled = AssertUnwindSafe(run).catch_unwind().await;
      settled.unwrap_or_else(|_| {
        // A panic must never strand a request (as on the I/O thread).
        let err = CacheError::new(
          ErrorKind::Internal,
          "the engine failed on this request (a bug: please report it)",
        );
        requests
          .iter()
          .map(|r| Completion::error(r.id, &err))
          .collect()
      })
    };
    let run: Run = Box::pin(run);
    self.state.borrow_mut().jobs.push(run, groups, count, due);
    self.progress(true);
  }

  /// Polls the jobs after their connection made progress (or a new one was started); settles
  /// those that are done. `in_js_call`: called from JS (`submit`), so completions go through
  /// the usual wake-up.
  fn progress(&self, in_js_call: bool) {
    // Taken out while polled: nothing of this state is borrowed across the executor.
    let mut jobs = std::mem::take(&mut self.state.borrow_mut().jobs);
    let settled = jobs.poll();
    // No JS ran while polling, so nothing was started meanwhile.
    self.state.borrow_mut().jobs = jobs;
    self.after_io();
    self.arm();
    if settled.jobs > 0 {
      self.finish(settled, in_js_call);
    }
  }

  /// Keeps the timer on the oldest job's deadline, and off while nothing runs.
  fn arm(&self) {
    let mut st = self.state.borrow_mut();
    let arm = st.jobs.arm();
    if let Some(timer) = &st.timer {
      match arm {
        Arm::Keep => {}
        Arm::Stop => timer.stop(),
        Arm::Start(due) => timer.start(millis_until(due)),
      }
    }
  }

  /// Drops a broken connection (and opens another), or watches for what the connection needs.
  fn after_io(&self) {
    let (broken, wants_write) = self.link.with(|c| match c {
      Some(c) => (c.broken().is_some(), c.wants_write()),
      None => (false, false),
    });
    let mut st = self.state.borrow_mut();
    if broken {
      if let Some(w) = st.watch.take() {
        w.stop();
      }
      drop(st);
      self.link.with(|c| c.take());
      return self.connect();
    }
    let events = READABLE | if wants_write { WRITABLE } else { 0 };
    if st.watching != events {
      if let Some(w) = &st.watch {
        w.watch(events);
      }
      st.watching = events;
    }
  }

  fn finish(&self, settled: Settled, in_js_call: bool) {
    for _ in 0..settled.jobs {
      self.engine.direct_finished();
    }
    let done = settled.completions;
    let idle = {
      let st = self.state.borrow();
      st.closing && st.jobs.is_empty()
    };
    if idle {
      self.shut();
    }
    if in_js_call {
      self.engine.queue.push_all(done);
    } else if self.engine.queue.push_local(done) {
      if let Some((items, more)) = self.engine.queue.take(self.chunk_max) {
        // No borrow is held here: JS may submit the next batch from inside this call.
        self.deliver.call(Chunk::new(items, more));
      }
    }
  }

  fn on_socket(&self, events: c_int) {
    self.link.with(|c| {
      if let Some(c) = c {
        if events & WRITABLE != 0 {
          c.flush();
        }
        if events & READABLE != 0 {
          c.read();
        }
      }
    });
    self.progress(false);
  }

  /// The oldest job did not settle within commandTimeoutMs: its connection is given up (a
  /// reply may still come, and could no longer be matched), it and the jobs behind it on the
  /// socket fail with `E_TIMEOUT`. A reply that is already in the socket wins: timers run
  /// before the loop polls for I/O, so on a busy machine the timer can be seen first although
  /// the reply came in time.
  fn on_timeout(&self) {
    let timed = {
      let st = self.state.borrow();
      let Some((id, due)) = st.jobs.oldest() else {
        return;
      };
      // The loop's clock is the one of the start of its turn, so a timer armed late in a long
      // turn fires early: what counts is the real deadline.
      if due > Instant::now() {
        if let Some(timer) = &st.timer {
          timer.start(millis_until(due));
        }
        return;
      }
      id
    };
    self.link.with(|c| {
      if let Some(c) = c {
        c.read();
      }
    });
    self.progress(false);
    let still = self.state.borrow().jobs.oldest().map(|(id, _)| id) == Some(timed);
    if !still {
      return;
    }
    let limit = self.engine.deadline().unwrap_or_default();
    self.link.with(|c| {
      if let Some(c) = c {
        c.break_with(command_timed_out(limit));
      }
    });
    self.progress(false);
  }

  /// Closes the watcher, the timer and the connection (after `close`, once idle).
  fn shut(&self) {
    let (watch, timer) = {
      let mut st = self.state.borrow_mut();
      (st.watch.take(), st.timer.take())
    };
    if let Some(w) = &watch {
      w.stop();
    }
    drop((watch, timer));
    self.link.with(|c| c.take());
  }
}

/// Whole milliseconds until `due`, and one more: a timer must not fire before it.
fn millis_until(due: Instant) -> u64 {
  due.saturating_duration_since(Instant::now()).as_millis() as u64 + 1
}
