//! One place that classifies every failure into a stable kind with a stable `E_*` code.

use std::fmt;

/// The kinds of failure the engine reports. The numeric value travels in the tag byte of error
/// completions; `ALL` lists them in that order and `lib.rs` exports their codes, so the
/// TypeScript side builds its table from this one list. Kinds only the TypeScript layer raises
/// (`E_INVALID_VALUE`, `E_SERIALIZE`, `E_LOCK_TIMEOUT`, `E_RATE_LIMITED`) are not here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ErrorKind {
  InvalidOption = 1,
  InvalidKey = 2,
  ValueTooLarge = 3,
  Connection = 4,
  Timeout = 5,
  Auth = 6,
  Closed = 7,
  Server = 8,
  Internal = 9,
}

impl ErrorKind {
  /// Every kind, in the order of their numbers (`ALL[n - 1] as u8 == n`).
  pub const ALL: [ErrorKind; 9] = [
    ErrorKind::InvalidOption,
    ErrorKind::InvalidKey,
    ErrorKind::ValueTooLarge,
    ErrorKind::Connection,
    ErrorKind::Timeout,
    ErrorKind::Auth,
    ErrorKind::Closed,
    ErrorKind::Server,
    ErrorKind::Internal,
  ];

  /// The stable code users match on (`err.code`).
  pub fn code(self) -> &'static str {
    match self {
      ErrorKind::InvalidOption => "E_INVALID_OPTION",
      ErrorKind::InvalidKey => "E_INVALID_KEY",
      ErrorKind::ValueTooLarge => "E_VALUE_TOO_LARGE",
      ErrorKind::Connection => "E_CONNECTION",
      ErrorKind::Timeout => "E_TIMEOUT",
      ErrorKind::Auth => "E_AUTH",
      ErrorKind::Closed => "E_CLOSED",
      ErrorKind::Server => "E_SERVER",
      ErrorKind::Internal => "E_INTERNAL",
    }
  }
}

/// An engine error: a kind plus a message that says what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheError {
  pub kind: ErrorKind,
  pub message: String,
}

pub type Result<T> = std::result::Result<T, CacheError>;

impl CacheError {
  pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
    CacheError {
      kind,
      message: message.into(),
    }
  }

  pub fn closed() -> Self {
    Self::new(
      ErrorKind::Closed,
      "the cache was closed; create a new Cache to keep using it",
    )
  }
}

impl fmt::Display for CacheError {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "{}", self.message)
  }
}

impl std::error::Error for CacheError {}

/// Classifies a client error once, so every caller agrees on what went wrong.
impl From<redis::RedisError> for CacheError {
  fn from(err: redis::RedisError) -> Self {
    use redis::ErrorKind as K;
    let text = err.to_string();
    // By the error's structure (its kind and the server's error code), never by its text.
    if err.kind() == K::Server(redis::ServerErrorKind::NoPerm) {
      return CacheError::new(
        ErrorKind::Auth,
        format!(
          "the Valkey user may not run this command: {text}. Grant it (ACL SETUSER … +@read +@write +@scripting +@pubsub) or use another user"
        ),
      );
    }
    if err.kind() == K::AuthenticationFailed || matches!(err.code(), Some("WRONGPASS" | "NOAUTH")) {
      return CacheError::new(
        ErrorKind::Auth,
        format!("Valkey refused the credentials: {text}. Check the user/password in the url"),
      );
    }
    if err.is_timeout() {
      return CacheError::new(
        ErrorKind::Timeout,
        format!(
          "Valkey did not answer in time ({text}); raise commandTimeoutMs if the server is slow"
        ),
      );
    }
    if err.is_io_error()
      || err.is_connection_refusal()
      || err.is_connection_dropped()
      || err.is_unrecoverable_error()
    {
      return CacheError::new(
        ErrorKind::Connection,
        format!("cannot reach Valkey: {text}. Is the server running and the url right?"),
      );
    }
    CacheError::new(ErrorKind::Server, format!("Valkey error: {text}"))
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn codes_are_stable() {
    assert_eq!(ErrorKind::InvalidKey.code(), "E_INVALID_KEY");
    assert_eq!(ErrorKind::ValueTooLarge.code(), "E_VALUE_TOO_LARGE");
    assert_eq!(ErrorKind::Connection.code(), "E_CONNECTION");
    for (i, kind) in ErrorKind::ALL.iter().enumerate() {
      assert_eq!(*kind as usize, i + 1, "{kind:?} is out of order in ALL");
    }
  }

  #[test]
  fn classifies_client_errors() {
    let io = redis::RedisError::from(std::io::Error::new(
      std::io::ErrorKind::ConnectionRefused,
      "refused",
    ));
    assert_eq!(CacheError::from(io).kind, ErrorKind::Connection);
    let timeout =
      redis::RedisError::from(std::io::Error::new(std::io::ErrorKind::TimedOut, "slow"));
    assert_eq!(CacheError::from(timeout).kind, ErrorKind::Timeout);
    let auth = redis::RedisError::from((
      redis::ErrorKind::AuthenticationFailed,
      "WRONGPASS invalid username-password pair",
    ));
    assert_eq!(CacheError::from(auth).kind, ErrorKind::Auth);
    let reply = |resp: &[u8]| match redis::parse_redis_value(resp).unwrap() {
      redis::Value::ServerError(e) => CacheError::from(redis::RedisError::from(e)),
      v => panic!("not an error reply: {v:?}"),
    };
    assert_eq!(
      reply(b"-NOAUTH Authentication required.\r\n").kind,
      ErrorKind::Auth
    );
    let noperm = reply(b"-NOPERM User u has no permissions to run the 'get' command\r\n");
    assert_eq!(noperm.kind, ErrorKind::Auth);
    assert!(noperm.message.contains("ACL SETUSER"), "{}", noperm.message);
    // Text that merely mentions a code is not that error.
    let other = reply(b"-ERR script said WRONGPASS NOAUTH\r\n");
    assert_eq!(other.kind, ErrorKind::Server);
  }
}
