//! What the network stores take and give back: a command with its routing key, and the checks
//! every reply goes through (server errors, reply counts).

use crate::error::{CacheError, ErrorKind, Result};
use redis::{Cmd, Value};

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
