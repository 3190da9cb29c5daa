//! A pub/sub subscriber that delivers messages of one channel to JS through the completion queue
//! (id `BUS_ID`). It reconnects with backoff on its own; each (re)subscription is announced with
//! a `BUS_SUBSCRIBED` event, so JS can re-check whatever it may have missed while disconnected.
//! On a cluster it subscribes on one seed node (a regular PUBLISH reaches every node) and moves
//! to the next seed whenever that one fails.

use crate::boundary::completion::CompletionQueue;
use crate::boundary::frame::{Completion, STATUS_HIT};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Completion id reserved for bus events.
pub const BUS_ID: u32 = u32::MAX;
/// Tag of a message (payload = message bytes).
pub const BUS_MESSAGE: u8 = 0;
/// Tag of a (re)subscription event (payload = channel).
pub const BUS_SUBSCRIBED: u8 = 1;
/// Tag of a lost subscription (messages may be missed until the next `BUS_SUBSCRIBED`).
pub const BUS_LOST: u8 = 2;

/// Runs until `stop` turns true. `clients` are tried in turn (one for a single node).
pub async fn run(
  clients: Vec<redis::Client>,
  channel: Vec<u8>,
  queue: Arc<CompletionQueue>,
  connect_timeout: Duration,
  mut stop: watch::Receiver<bool>,
) {
  let mut delay = Duration::from_millis(50);
  let mut turn = 0usize;
  while !*stop.borrow() && !clients.is_empty() {
    let client = &clients[turn % clients.len()];
    turn = turn.wrapping_add(1);
    let connected = tokio::time::timeout(connect_timeout, client.get_async_pubsub()).await;
    let mut pubsub = match connected {
      Ok(Ok(p)) => p,
      _ => {
        if sleep_or_stop(&mut stop, delay).await {
          return;
        }
        delay = (delay * 2).min(Duration::from_secs(2));
        continue;
      }
    };
    if pubsub.subscribe(&channel).await.is_err() {
      if sleep_or_stop(&mut stop, delay).await {
        return;
      }
      continue;
    }
    delay = Duration::from_millis(50);
    queue.push_all(vec![event(BUS_SUBSCRIBED, channel.clone())]);
    let mut messages = pubsub.on_message();
    loop {
      tokio::select! {
        msg = messages.next() => match msg {
          Some(m) => queue.push_all(vec![event(BUS_MESSAGE, m.get_payload_bytes().to_vec())]),
          None => {
            queue.push_all(vec![event(BUS_LOST, channel.clone())]);
            break;
          }
        },
        _ = stop.changed() => return,
      }
    }
  }
}

fn event(tag: u8, payload: Vec<u8>) -> Completion {
  Completion::with_status(BUS_ID, STATUS_HIT, tag, payload, 0)
}

/// Sleeps, or returns true at once when asked to stop.
async fn sleep_or_stop(stop: &mut watch::Receiver<bool>, delay: Duration) -> bool {
  tokio::select! {
    _ = tokio::time::sleep(delay) => *stop.borrow(),
    _ = stop.changed() => true,
  }
}
