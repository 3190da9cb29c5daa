//! Opening a direct connection, on the I/O thread so the JS thread never waits for a connect:
//! TCP connect with TCP_NODELAY, `AUTH` and `SELECT` as the URL says, and a `PING` that proves
//! the server answers (a stalled server accepts TCP connections in its kernel and answers
//! nothing). The socket is then handed over, non-blocking, to the JS thread.

use crate::error::{CacheError, ErrorKind, Result};
use crate::store::direct::reply_scan::reply_len;
use crate::store::standalone::connect_timed_out;
use redis::{ConnectionAddr, IntoConnectionInfo, ProtocolVersion, Value};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Where and how a direct connection connects. No `Debug`: it holds the password.
#[derive(Clone)]
pub struct DirectTarget {
  host: String,
  port: u16,
  username: Option<String>,
  password: Option<String>,
  db: i64,
}

impl DirectTarget {
  /// `None` when a direct connection cannot serve this URL: TLS (`rediss://`), a Unix socket
  /// or RESP3; those keep to the pool's connections.
  pub fn from_url(url: &str) -> Option<Self> {
    let info = url.into_connection_info().ok()?;
    let ConnectionAddr::Tcp(host, port) = info.addr().clone() else {
      return None;
    };
    let redis = info.redis_settings();
    if redis.protocol() != ProtocolVersion::RESP2 {
      return None;
    }
    Some(DirectTarget {
      host,
      port,
      username: redis.username().map(str::to_owned),
      password: redis.password().map(str::to_owned),
      db: redis.db(),
    })
  }

  /// The commands that make a fresh connection ready, and how many replies they get.
  fn greeting(&self) -> (Vec<u8>, usize) {
    let mut pipe = redis::pipe();
    if let Some(password) = &self.password {
      let auth = pipe.cmd("AUTH");
      if let Some(user) = &self.username {
        auth.arg(user);
      }
      auth.arg(password);
    }
    if self.db != 0 {
      pipe.cmd("SELECT").arg(self.db);
    }
    pipe.cmd("PING");
    (pipe.get_packed_pipeline(), pipe.len())
  }
}

/// Connects and greets within `limit`; the stream comes back non-blocking.
pub async fn open(target: &DirectTarget, limit: Duration) -> Result<std::net::TcpStream> {
  match tokio::time::timeout(limit, connect(target)).await {
    Ok(result) => result,
    Err(_) => Err(connect_timed_out(limit)),
  }
}

async fn connect(target: &DirectTarget) -> Result<std::net::TcpStream> {
  let mut stream = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
    .await
    .map_err(|e| refused(&e))?;
  stream.set_nodelay(true).map_err(|e| refused(&e))?;
  let (greeting, replies) = target.greeting();
  stream.write_all(&greeting).await.map_err(|e| refused(&e))?;
  let mut input = Vec::with_capacity(256);
  let mut answered = 0;
  let mut at = 0;
  while answered < replies {
    match reply_len(&input[at..]) {
      Ok(Some(n)) => {
        let value = redis::parse_redis_value(&input[at..at + n]).map_err(CacheError::from)?;
        if let Value::ServerError(e) = value {
          return Err(CacheError::from(redis::RedisError::from(e)));
        }
        at += n;
        answered += 1;
      }
      Ok(None) => {
        let mut chunk = [0u8; 256];
        let n = stream.read(&mut chunk).await.map_err(|e| refused(&e))?;
        if n == 0 {
          return Err(CacheError::new(
            ErrorKind::Connection,
            "Valkey closed the connection while it was being opened",
          ));
        }
        input.extend_from_slice(&chunk[..n]);
      }
      Err(e) => {
        return Err(CacheError::new(
          ErrorKind::Server,
          format!("Valkey's greeting is not RESP2: {}", e.0),
        ))
      }
    }
  }
  stream.into_std().map_err(|e| refused(&e))
}

fn refused(e: &std::io::Error) -> CacheError {
  CacheError::new(
    ErrorKind::Connection,
    format!("cannot open a connection to Valkey: {e}"),
  )
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn only_plain_tcp_resp2_urls_get_a_direct_connection() {
    assert!(DirectTarget::from_url("redis://127.0.0.1:6379").is_some());
    assert!(DirectTarget::from_url("rediss://127.0.0.1:6379").is_none());
    assert!(DirectTarget::from_url("redis+unix:///tmp/v.sock").is_none());
    assert!(DirectTarget::from_url("redis://127.0.0.1:6379?protocol=resp3").is_none());
    assert!(DirectTarget::from_url("not a url").is_none());
  }

  #[test]
  fn the_greeting_authenticates_selects_and_pings() {
    let t = DirectTarget::from_url("redis://app:s3cret@127.0.0.1:6379/2").unwrap();
    let (wire, n) = t.greeting();
    let text = String::from_utf8(wire).unwrap();
    assert_eq!(n, 3);
    assert!(text.starts_with("*3\r\n$4\r\nAUTH\r\n$3\r\napp\r\n$6\r\ns3cret\r\n"));
    assert!(text.contains("SELECT\r\n$1\r\n2\r\n"));
    assert!(text.ends_with("*1\r\n$4\r\nPING\r\n"));
    let plain = DirectTarget::from_url("redis://127.0.0.1:6379").unwrap();
    assert_eq!(plain.greeting().1, 1, "no password, db 0: PING only");
  }
}
