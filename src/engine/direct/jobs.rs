//! The batches in flight on the direct connection: which may join them, polling them after the
//! socket made progress, and which deadline the one timer must watch. Plain data, no libuv: the
//! driver (`super`) owns the socket, the watcher and the timer.

use crate::boundary::frame::{Completion, Group};
use crate::boundary::group::group_completions;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// Requests in flight on the direct connection at most, unless nothing at all is in flight (then
/// it takes any one batch: the sequential caller). Callers whose requests come a few at a time
/// (an HTTP server's requests, each awaiting one read) stay on the JS thread, pipelined on the
/// one socket, which costs far less CPU than a hop to the I/O thread and back per request; once
/// more are in flight (many callers at once) the I/O thread takes the rest, and its parallelism
/// wins there. Measured (docs/architecture.md, "The direct path"): 8 keeps the c=64 throughput
/// of the I/O thread and moves most of an HTTP server's reads off it.
///
/// A large batch runs here only when nothing else is in flight: beside concurrent work the I/O
/// thread serves it better (it splits a tick's `getMany` calls into batches that settle one by
/// one, and reads their replies as the bytes come, where this connection is read once per turn
/// of a busy event loop).
pub const MAX_DIRECT_REQUESTS: usize = 8;

/// A batch's executor future (`engine::executor::execute`, panics already caught).
pub type Run = Pin<Box<dyn Future<Output = Vec<Completion>>>>;

struct Job {
  run: Run,
  /// How its completions fold (`getMany`).
  groups: Vec<Group>,
  requests: usize,
  id: u64,
  /// When it must have settled (`None` without a command timeout).
  due: Option<Instant>,
}

/// What polling the jobs settled.
#[derive(Default)]
pub struct Settled {
  pub completions: Vec<Completion>,
  pub jobs: usize,
}

/// What the deadline timer must do after a change.
#[derive(Debug, PartialEq)]
pub enum Arm {
  Keep,
  Stop,
  Start(Instant),
}

#[derive(Default)]
pub struct Jobs {
  /// In the order they were started: their requests are in that order on the socket.
  queue: VecDeque<Job>,
  started: u64,
  requests: usize,
  /// The job the timer runs for: the oldest one (all share one deadline length, so the oldest
  /// is due first).
  armed_for: Option<u64>,
}

impl Jobs {
  pub fn is_empty(&self) -> bool {
    self.queue.is_empty()
  }

  /// A batch of `requests` may run here; `alone`: nothing is in flight on the I/O thread.
  pub fn has_room(&self, requests: usize, alone: bool) -> bool {
    (alone && self.queue.is_empty()) || self.requests + requests <= MAX_DIRECT_REQUESTS
  }

  pub fn push(&mut self, run: Run, groups: Vec<Group>, requests: usize, due: Option<Instant>) {
    self.started += 1;
    self.requests += requests;
    self.queue.push_back(Job {
      run,
      groups,
      requests,
      id: self.started,
      due,
    });
  }

  /// Polls every job, in order (a job may send its next pipeline only once an earlier one is
  /// answered, tag markers first, so any of them can be the one that moved); they settle in
  /// any order. Needs no waker: the driver polls again after every read of the socket.
  pub fn poll(&mut self) -> Settled {
    let mut settled = Settled::default();
    let mut freed = 0;
    let mut cx = Context::from_waker(Waker::noop());
    self
      .queue
      .retain_mut(|job| match job.run.as_mut().poll(&mut cx) {
        Poll::Pending => true,
        Poll::Ready(done) => {
          settled
            .completions
            .extend(group_completions(done, &job.groups));
          settled.jobs += 1;
          freed += job.requests;
          false
        }
      });
    self.requests -= freed;
    settled
  }

  /// The oldest job and its deadline, when it has one.
  pub fn oldest(&self) -> Option<(u64, Instant)> {
    let job = self.queue.front()?;
    Some((job.id, job.due?))
  }

  /// The timer follows the oldest job: restarted when it changed, stopped when none is left.
  pub fn arm(&mut self) -> Arm {
    let oldest = self.oldest();
    let id = oldest.map(|(id, _)| id);
    if id == self.armed_for {
      return Arm::Keep;
    }
    self.armed_for = id;
    match oldest {
      Some((_, due)) => Arm::Start(due),
      None => Arm::Stop,
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::cell::Cell;
  use std::rc::Rc;
  use std::time::Duration;

  /// A job whose future is ready once `gate` is set, answering request `id`.
  fn job(gate: &Rc<Cell<bool>>, id: u32) -> Run {
    let gate = gate.clone();
    Box::pin(std::future::poll_fn(move |_| {
      if gate.get() {
        Poll::Ready(vec![Completion::with_status(id, 1, 0, Vec::new(), 0)])
      } else {
        Poll::Pending
      }
    }))
  }

  #[test]
  fn with_nothing_in_flight_any_batch_runs_here_otherwise_only_up_to_the_limit() {
    let mut jobs = Jobs::default();
    assert!(jobs.has_room(1000, true));
    let gate = Rc::new(Cell::new(false));
    jobs.push(job(&gate, 1), Vec::new(), MAX_DIRECT_REQUESTS - 1, None);
    assert!(jobs.has_room(1, true) && jobs.has_room(1, false));
    assert!(!jobs.has_room(2, true));
    jobs.push(job(&gate, 2), Vec::new(), 1, None);
    assert!(!jobs.has_room(1, true));
    gate.set(true);
    assert_eq!(jobs.poll().jobs, 2);
    assert!(jobs.is_empty() && jobs.has_room(MAX_DIRECT_REQUESTS, false));
  }

  #[test]
  fn a_large_batch_waits_for_the_io_thread_to_be_idle() {
    let jobs = Jobs::default();
    // Eight getMany calls of one tick, while the I/O thread has work in flight: not here.
    assert!(!jobs.has_room(800, false));
    assert!(!jobs.has_room(MAX_DIRECT_REQUESTS + 1, false));
    assert!(jobs.has_room(800, true));
  }

  #[test]
  fn jobs_settle_in_any_order_and_free_their_room() {
    let mut jobs = Jobs::default();
    let (slow, fast) = (Rc::new(Cell::new(false)), Rc::new(Cell::new(false)));
    jobs.push(job(&slow, 1), Vec::new(), 4, None);
    jobs.push(job(&fast, 2), Vec::new(), 4, None);
    assert_eq!(jobs.poll().jobs, 0);
    fast.set(true);
    let settled = jobs.poll();
    assert_eq!(settled.jobs, 1);
    assert_eq!(settled.completions[0].id, 2);
    assert!(jobs.has_room(4, false) && !jobs.has_room(5, true));
    slow.set(true);
    assert_eq!(jobs.poll().completions[0].id, 1);
    assert!(jobs.is_empty());
  }

  #[test]
  fn the_timer_follows_the_oldest_job() {
    let mut jobs = Jobs::default();
    assert_eq!(jobs.arm(), Arm::Keep);
    let now = Instant::now();
    let (first, second) = (Rc::new(Cell::new(false)), Rc::new(Cell::new(false)));
    jobs.push(job(&first, 1), Vec::new(), 1, Some(now));
    assert_eq!(jobs.arm(), Arm::Start(now));
    let later = now + Duration::from_millis(5);
    jobs.push(job(&second, 2), Vec::new(), 1, Some(later));
    assert_eq!(jobs.arm(), Arm::Keep, "a newer job is due later");
    first.set(true);
    jobs.poll();
    assert_eq!(jobs.arm(), Arm::Start(later));
    second.set(true);
    jobs.poll();
    assert_eq!(jobs.arm(), Arm::Stop);
    assert_eq!(jobs.arm(), Arm::Keep);
  }
}
