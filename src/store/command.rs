//! What the network stores take and give back: a command with its routing key, and the checks
//! every reply goes through (server errors, reply counts).

use crate::error::{CacheError, ErrorKind, Result};
use crate::store::keyspace::is_internal;
use redis::{Cmd, Value};
use std::future::Future;

/// One command and the key that routes it on a cluster (empty = any node).
pub struct Routed<'a> {
  pub key: &'a [u8],
  pub cmd: Cmd,
}

/// The error for a pipeline that answered the wrong number of replies.
pub fn miscount(got: usize, sent: usize) -> CacheError {
  CacheError::new(
    ErrorKind::Internal,
    format!("Valkey answered {got} replies for {sent} commands"),
  )
}

/// A server error reply as an error, any other reply as itself.
pub fn checked(reply: Result<Value>) -> Result<Value> {
  match reply? {
    Value::ServerError(e) => Err(CacheError::from(redis::RedisError::from(e))),
    v => Ok(v),
  }
}

/// `SCAN cursor MATCH pattern COUNT count`.
pub fn scan_command(cursor: u64, pattern: &[u8], count: usize) -> Cmd {
  let mut scan = redis::cmd("SCAN");
  scan
    .arg(cursor)
    .arg("MATCH")
    .arg(pattern)
    .arg("COUNT")
    .arg(count);
  scan
}

/// One SCAN reply: the cursor to continue from (0: the scan is complete) and the keys.
pub struct ScanReply {
  pub next: u64,
  pub keys: Vec<Vec<u8>>,
}

impl ScanReply {
  /// Reads a SCAN reply; a server error or a reply of another shape is an error, never a panic.
  pub fn read(reply: Result<Value>) -> Result<Self> {
    let (next, keys): (u64, Vec<Vec<u8>>) =
      redis::from_redis_value(checked(reply)?).map_err(redis::RedisError::from)?;
    Ok(ScanReply { next, keys })
  }
}

/// Walks a whole SCAN from cursor 0 with `scan` (one page per call), and deletes each page's keys
/// with `unlink` as it goes (never the internal keys: tag markers and leases are never a user's
/// to delete). Returns how many keys `unlink` reports deleted.
pub async fn unlink_scanned<Scan, Page, Unlink, Deleted>(
  mut scan: Scan,
  mut unlink: Unlink,
) -> Result<u64>
where
  Scan: FnMut(u64) -> Page,
  Page: Future<Output = Result<ScanReply>>,
  Unlink: FnMut(Vec<Vec<u8>>) -> Deleted,
  Deleted: Future<Output = Result<u64>>,
{
  let mut cursor = 0;
  let mut deleted = 0;
  loop {
    let page = scan(cursor).await?;
    let keys: Vec<Vec<u8>> = page.keys.into_iter().filter(|k| !is_internal(k)).collect();
    if !keys.is_empty() {
      deleted += unlink(keys).await?;
    }
    if page.next == 0 {
      return Ok(deleted);
    }
    cursor = page.next;
  }
}
