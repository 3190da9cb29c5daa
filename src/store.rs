//! Where entries live: the in-process memory store, one Valkey node, or a Valkey Cluster. The
//! network stores take commands with their routing key and answer one reply per command, in
//! order; a failure fails only the commands it concerns.

use crate::client::NodePool;
use crate::cluster::ClusterPool;
use crate::error::{CacheError, ErrorKind, Result};
use crate::memory::MemoryStore;
use redis::{Cmd, Value};

pub enum Store {
  Memory(MemoryStore),
  Valkey(Box<NodePool>),
  Cluster(Box<ClusterPool>),
}

/// One command and the key that routes it on a cluster (empty = any node).
pub struct Routed<'a> {
  pub key: &'a [u8],
  pub cmd: Cmd,
}

impl Store {
  /// `'memory'`, `'standalone'` or `'cluster'`.
  pub fn mode(&self) -> &'static str {
    match self {
      Store::Memory(_) => "memory",
      Store::Valkey(_) => "standalone",
      Store::Cluster(_) => "cluster",
    }
  }

  /// Sends commands and returns one reply (or error) per command, in the order given. A server
  /// error reply is a `Value::ServerError`, left to the caller; transport failures are `Err`.
  pub async fn send(&self, cmds: Vec<Routed<'_>>) -> Vec<Result<Value>> {
    let count = cmds.len();
    if count == 0 {
      return Vec::new();
    }
    match self {
      Store::Memory(_) => {
        let err = CacheError::new(
          ErrorKind::InvalidOption,
          "raw commands need Valkey (memory-only mode has none)",
        );
        vec![Err(err); count]
      }
      Store::Valkey(pool) => {
        let mut pipe = redis::pipe();
        cmds.into_iter().for_each(|r| {
          pipe.add_command(r.cmd);
        });
        match pool.pipeline(&pipe, count).await {
          Ok(values) if values.len() == count => values.into_iter().map(Ok).collect(),
          Ok(values) => vec![Err(miscount(values.len(), count)); count],
          Err(err) => vec![Err(err); count],
        }
      }
      Store::Cluster(pool) => pool.send(cmds).await,
    }
  }
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
