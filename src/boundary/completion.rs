//! Finished requests wait here for JS. JS is woken once when the queue goes from "nobody is
//! draining" to "work waiting", then drains in small chunks; a chunk that leaves items behind says
//! so (`more`), and JS keeps draining without a new wake-up. That is the rule that keeps one
//! wake-up per burst and never loses one.
//!
//! The wake-up's own chunk (`take_waking`) always says `more`, so JS comes back once more through
//! its own drain, which yields to the event loop after a time budget. Without that, completions
//! that arrive while JS handles the chunk wake JS again, and Node runs a threadsafe function
//! called while its callback runs in the same turn, up to 1,000 times: under a steady `getMany`
//! load one turn of the event loop took up to ~630 ms (~1,000 calls settled), starving timers,
//! sockets and the direct connection.

#[cfg(test)]
use crate::boundary::frame::encode_completions;
use crate::boundary::frame::{Completion, STATUS_HIT};
use std::collections::VecDeque;
use std::sync::{Mutex, OnceLock};

type Wake = Box<dyn Fn() + Send + Sync>;

/// Most completions in one chunk (acknowledgements included).
const MAX_ACKS: usize = 256;

/// A write that succeeded: a HIT with no bytes (SET, or a `delete`/`has` answering yes).
fn is_ack(c: &Completion) -> bool {
  c.status == STATUS_HIT && c.len() == 0
}

#[derive(Default)]
pub struct CompletionQueue {
  inner: Mutex<Inner>,
  wake: OnceLock<Wake>,
}

#[derive(Default)]
struct Inner {
  items: VecDeque<Completion>,
  /// True from the moment JS was woken until a drain empties the queue.
  scheduled: bool,
}

impl CompletionQueue {
  /// Installs the wake-up (called once, by the binding).
  pub fn set_wake(&self, wake: Wake) {
    let _ = self.wake.set(wake);
  }

  pub fn push_all(&self, batch: Vec<Completion>) {
    if batch.is_empty() {
      return;
    }
    let wake_now = {
      let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
      inner.items.extend(batch);
      !std::mem::replace(&mut inner.scheduled, true)
    };
    if wake_now {
      if let Some(wake) = self.wake.get() {
        wake();
      }
    }
  }

  /// Queues completions on the JS thread, outside any JS call, without the wake-up: returns true
  /// when the caller must hand JS the first chunk itself (the queue went from idle to scheduled,
  /// exactly when `push_all` would have woken JS); false when a wake-up or drain is already due.
  pub fn push_local(&self, batch: Vec<Completion>) -> bool {
    if batch.is_empty() {
      return false;
    }
    let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
    inner.items.extend(batch);
    !std::mem::replace(&mut inner.scheduled, true)
  }

  /// Takes at most `max` completions as one encoded chunk (see `take`).
  #[cfg(test)]
  pub fn drain(&self, max: usize) -> Option<Vec<u8>> {
    self
      .take(max)
      .map(|(items, more)| encode_completions(&items, more))
  }

  /// Takes at most `max` completions that carry something to decode, plus the acknowledgements
  /// among them (writes that succeeded: nothing to decode, see `is_ack`) up to `MAX_ACKS`, and
  /// whether more remain. Small chunks exist so JS decodes one while the I/O thread and Valkey
  /// work on the next; an acknowledgement gives JS nothing to decode, so a `setMany` of 100
  /// keys settles in one chunk instead of 13. When the queue is left empty the scheduled flag is
  /// cleared, so the next push wakes JS again. Returns `None` when empty.
  pub fn take(&self, max: usize) -> Option<(Vec<Completion>, bool)> {
    let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
    take_from(&mut inner, max, false)
  }

  /// `take` for the wake-up: when it leaves the queue empty it still says `more` and stays
  /// scheduled, so what arrives while JS handles this chunk waits for JS's next drain (which
  /// clears the flag when it finds nothing) instead of waking JS again in the same turn.
  pub fn take_waking(&self, max: usize) -> Option<(Vec<Completion>, bool)> {
    let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
    take_from(&mut inner, max, true)
  }

  #[cfg(test)]
  pub fn len(&self) -> usize {
    self
      .inner
      .lock()
      .unwrap_or_else(|e| e.into_inner())
      .items
      .len()
  }
}

/// `CompletionQueue::take`; `keep`: the chunk says `more` and the queue stays scheduled even
/// when it is left empty (`take_waking`).
fn take_from(inner: &mut Inner, max: usize, keep: bool) -> Option<(Vec<Completion>, bool)> {
  if inner.items.is_empty() {
    inner.scheduled = false;
    return None;
  }
  let (max, mut heavy, mut n) = (max.max(1), 0, 0);
  for c in inner.items.iter().take(MAX_ACKS) {
    if !is_ack(c) {
      if heavy == max {
        break;
      }
      heavy += 1;
    }
    n += 1;
  }
  let more = inner.items.len() > n;
  if !more && !keep {
    inner.scheduled = false;
  }
  let taken: Vec<Completion> = inner.items.drain(..n).collect();
  Some((taken, more || keep))
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::sync::atomic::{AtomicUsize, Ordering};
  use std::sync::Arc;

  /// A queue whose wake-ups are counted.
  fn counting_queue() -> (CompletionQueue, Arc<AtomicUsize>) {
    let q = CompletionQueue::default();
    let wakes = Arc::new(AtomicUsize::new(0));
    let w = wakes.clone();
    q.set_wake(Box::new(move || {
      w.fetch_add(1, Ordering::SeqCst);
    }));
    (q, wakes)
  }

  #[test]
  fn wakes_once_per_burst_and_again_after_empty() {
    let (q, wakes) = counting_queue();
    q.push_all(vec![Completion::miss(1), Completion::miss(2)]);
    q.push_all(vec![Completion::miss(3)]);
    assert_eq!(wakes.load(Ordering::SeqCst), 1);
    let first = q.drain(2).unwrap();
    assert_eq!(first[4], 1, "items remain: chunk says more");
    q.push_all(vec![Completion::miss(4)]);
    assert_eq!(
      wakes.load(Ordering::SeqCst),
      1,
      "still scheduled: no second wake"
    );
    let second = q.drain(8).unwrap();
    assert_eq!(second[4], 0);
    assert_eq!(u32::from_le_bytes(second[0..4].try_into().unwrap()), 2);
    assert!(q.drain(8).is_none());
    q.push_all(vec![Completion::miss(5)]);
    assert_eq!(wakes.load(Ordering::SeqCst), 2);
    assert_eq!(q.len(), 1);
  }

  #[test]
  fn the_wake_up_chunk_sends_js_back_and_nothing_wakes_it_meanwhile() {
    let (q, wakes) = counting_queue();
    q.push_all(vec![Completion::miss(1)]);
    assert_eq!(wakes.load(Ordering::SeqCst), 1);
    let (items, more) = q.take_waking(8).unwrap();
    assert_eq!(
      (items.len(), more),
      (1, true),
      "emptied, yet JS must come back"
    );
    q.push_all(vec![Completion::miss(2)]);
    assert_eq!(
      wakes.load(Ordering::SeqCst),
      1,
      "arrived while JS handled the chunk: its own drain takes it"
    );
    let (items, more) = q.take(8).unwrap();
    assert_eq!((items.len(), more), (1, false));
    assert!(q.take(8).is_none());
    q.push_all(vec![Completion::miss(3)]);
    assert_eq!(wakes.load(Ordering::SeqCst), 2, "idle again: woken again");
    assert!(q.take(8).is_some() && q.take_waking(8).is_none());
    q.push_all(vec![Completion::miss(4)]);
    assert_eq!(
      wakes.load(Ordering::SeqCst),
      3,
      "an empty wake-up clears the flag"
    );
  }

  #[test]
  fn a_local_push_hands_over_only_what_no_wake_up_covers() {
    let (q, wakes) = counting_queue();
    assert!(
      q.push_local(vec![Completion::miss(1)]),
      "idle: the caller delivers"
    );
    assert!(
      !q.push_local(vec![Completion::miss(2)]),
      "already scheduled"
    );
    q.push_all(vec![Completion::miss(3)]);
    assert_eq!(wakes.load(Ordering::SeqCst), 0, "never a second delivery");
    let (items, more) = q.take(8).unwrap();
    assert_eq!((items.len(), more), (3, false));
    q.push_all(vec![Completion::miss(4)]);
    assert!(!q.push_local(vec![Completion::miss(5)]), "a wake-up is due");
    assert_eq!(wakes.load(Ordering::SeqCst), 1);
  }

  #[test]
  fn acknowledgements_ride_along_without_counting_against_the_chunk() {
    let q = CompletionQueue::default();
    let value = |id| Completion::with_status(id, STATUS_HIT, 1, b"v".to_vec(), 0);
    let mut batch: Vec<Completion> = (0..100).map(Completion::ok).collect();
    batch.extend((100..110).map(value));
    q.push_all(batch);
    let (first, more) = q.take(8).unwrap();
    assert_eq!(first.len(), 108, "100 acks + 8 values");
    assert!(more);
    let (rest, more) = q.take(8).unwrap();
    assert_eq!((rest.len(), more), (2, false));
    q.push_all((0..300).map(Completion::ok).collect());
    let (capped, more) = q.take(8).unwrap();
    assert_eq!((capped.len(), more), (MAX_ACKS, true));
  }
}
