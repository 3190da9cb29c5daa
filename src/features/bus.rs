//! A pub/sub subscriber that delivers messages of one channel to JS through the completion queue
//! (id `BUS_ID`). It reconnects with backoff on its own; each (re)subscription is announced with
//! a `BUS_SUBSCRIBED` event, so JS can re-check whatever it may have missed while disconnected.
//! On a cluster it subscribes on one seed node (a regular PUBLISH reaches every node) and moves
//! to the next seed whenever that one fails.

use crate::boundary::completion::CompletionQueue;
use crate::boundary::frame::{Completion, STATUS_HIT};
use crate::error::{CacheError, ErrorKind};
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
/// Tag of a subscription the server refuses (payload = the error kind as one byte, then the
/// message): sent once per streak of refusals, so JS can report it once instead of at every retry.
pub const BUS_REFUSED: u8 = 3;

const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(2);
/// A refusal (ACL, credentials) will not heal by itself soon: retry rarely.
const REFUSED_RETRY_MAX: Duration = Duration::from_secs(30);

/// Runs until `stop` turns true. `clients` are tried in turn (one for a single node).
pub async fn run(
  clients: Vec<redis::Client>,
  channel: Vec<u8>,
  queue: Arc<CompletionQueue>,
  connect_timeout: Duration,
  mut stop: watch::Receiver<bool>,
) {
  let mut delay = RETRY_FIRST;
  let mut reported = false;
  let mut turn = 0usize;
  while !*stop.borrow() && !clients.is_empty() {
    let client = &clients[turn % clients.len()];
    turn = turn.wrapping_add(1);
    let connected = tokio::time::timeout(connect_timeout, client.get_async_pubsub()).await;
    let subscribed = match connected {
      Ok(Ok(mut p)) => match p.subscribe(&channel).await {
        Ok(()) => Ok(p),
        Err(e) => Err(Some(CacheError::from(e))),
      },
      Ok(Err(e)) => Err(Some(CacheError::from(e))),
      Err(_) => Err(None),
    };
    let mut pubsub = match subscribed {
      Ok(p) => p,
      Err(err) => {
        let refused = err.filter(|e| matches!(e.kind, ErrorKind::NoPermission | ErrorKind::Auth));
        let max = if refused.is_some() {
          REFUSED_RETRY_MAX
        } else {
          RETRY_MAX
        };
        if let (Some(e), false) = (refused, reported) {
          reported = true;
          let e = e.refused("channel", &channel);
          let mut payload = vec![e.kind as u8];
          payload.extend_from_slice(e.message.as_bytes());
          queue.push_all(vec![event(BUS_REFUSED, payload)]);
        }
        if sleep_or_stop(&mut stop, delay).await {
          return;
        }
        delay = (delay * 2).min(max);
        continue;
      }
    };
    reported = false;
    delay = RETRY_FIRST;
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
