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
  NoPermission = 10,
  NoScript = 11,
}

impl ErrorKind {
  /// Every kind, in the order of their numbers (`ALL[n - 1] as u8 == n`).
  pub const ALL: [ErrorKind; 11] = [
    ErrorKind::InvalidOption,
    ErrorKind::InvalidKey,
    ErrorKind::ValueTooLarge,
    ErrorKind::Connection,
    ErrorKind::Timeout,
    ErrorKind::Auth,
    ErrorKind::Closed,
    ErrorKind::Server,
    ErrorKind::Internal,
    ErrorKind::NoPermission,
    ErrorKind::NoScript,
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
      ErrorKind::NoPermission => "E_NO_PERMISSION",
      ErrorKind::NoScript => "E_NO_SCRIPT",
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

  /// Names the key (or channel) an ACL refused, so the user knows which pattern to allow.
  pub fn refused(mut self, what: &str, name: &[u8]) -> Self {
    if self.kind == ErrorKind::NoPermission && name.is_empty() {
      self.message = format!(
        "Valkey's ACL does not let this user do this ({}): check the user's key (~pattern), \
         channel (&pattern) and command permissions",
        self.message
      );
    } else if self.kind == ErrorKind::NoPermission {
      // The refusal may concern the key or the command run on it (the server says which, in
      // text only): the advice covers both.
      let fix = if what == "channel" {
        "allow the channel in the user's ACL (ACL SETUSER <user> &<channel>)"
      } else {
        "allow the cache's prefix in the user's ACL (ACL SETUSER <user> ~<prefix>*), or use a \
         prefix the user's key patterns cover, and the commands ferrocache runs (+@read +@write \
         +@scripting)"
      };
      self.message = format!(
        "Valkey's ACL does not let this user use the {what} '{}' ({}): {fix}",
        String::from_utf8_lossy(name),
        self.message,
      );
    }
    self
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

/// Classifies a client error once, so every caller agrees on what went wrong: by the error's
/// structure (its kind, and the server's error code for the codes redis-rs has no kind for),
/// never by its text.
impl From<redis::RedisError> for CacheError {
  fn from(err: redis::RedisError) -> Self {
    use redis::{ErrorKind as K, ServerErrorKind as S};
    let text = err.to_string();
    match err.kind() {
      K::Server(S::NoPerm) => CacheError::new(
        ErrorKind::NoPermission,
        format!(
          "{text}: the Valkey user may not do this; grant it (ACL SETUSER … +@read +@write \
           +@scripting +@pubsub ~<prefix>* &__ferrocache:bus) or use another user"
        ),
      ),
      // Reaches a user only when a script is run by SHA outside the script runner, which loads
      // it on this error (first use, server restart, SCRIPT FLUSH).
      K::Server(S::NoScript) => CacheError::new(
        ErrorKind::NoScript,
        format!("{text}: the server does not know this script; run it by its text (EVAL) once"),
      ),
      _ if err.kind() == K::AuthenticationFailed
        || matches!(err.code(), Some("WRONGPASS" | "NOAUTH")) =>
      {
        CacheError::new(
          ErrorKind::Auth,
          format!("Valkey refused the credentials: {text}. Check the user/password in the url"),
        )
      }
      _ if err.is_timeout() => CacheError::new(
        ErrorKind::Timeout,
        format!("Valkey did not answer within commandTimeoutMs ({text})"),
      ),
      _ if err.is_io_error()
        || err.is_connection_refusal()
        || err.is_connection_dropped()
        || err.is_unrecoverable_error() =>
      {
        CacheError::new(
          ErrorKind::Connection,
          format!("cannot reach Valkey: {text}. Is the server running and the url right?"),
        )
      }
      _ => CacheError::new(ErrorKind::Server, format!("Valkey error: {text}")),
    }
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
    assert_eq!(noperm.kind, ErrorKind::NoPermission);
    assert!(noperm.message.contains("ACL SETUSER"), "{}", noperm.message);
    // Text that merely mentions a code is not that error.
    let other = reply(b"-ERR script said WRONGPASS NOAUTH\r\n");
    assert_eq!(other.kind, ErrorKind::Server);
  }

  #[test]
  fn a_missing_script_has_its_own_kind() {
    let missing = server_error("-NOSCRIPT No matching script. Please use EVAL.\r\n");
    assert_eq!(missing.kind, ErrorKind::NoScript);
    assert_eq!(missing.kind.code(), "E_NO_SCRIPT");
    assert!(missing.message.contains("EVAL"), "{}", missing.message);
    // By the code, not the text: an ERR that mentions NOSCRIPT is a server error.
    let other = server_error("-ERR user script said NOSCRIPT\r\n");
    assert_eq!(other.kind, ErrorKind::Server);
  }

  fn server_error(reply: &str) -> CacheError {
    let value = redis::parse_redis_value(reply.as_bytes()).unwrap();
    match value {
      redis::Value::ServerError(e) => CacheError::from(redis::RedisError::from(e)),
      other => panic!("not an error reply: {other:?}"),
    }
  }

  #[test]
  fn acl_refusals_are_permission_errors_not_bad_credentials() {
    let key = server_error("-NOPERM No permissions to access a key\r\n");
    assert_eq!(key.kind, ErrorKind::NoPermission);
    assert_eq!(key.kind.code(), "E_NO_PERMISSION");
    let named = key.refused("key", b"other:k");
    assert!(named.message.contains("'other:k'"), "{}", named.message);
    assert!(named.message.contains("~<prefix>*"), "{}", named.message);
    let channel =
      server_error("-NOPERM No permissions to access a channel\r\n").refused("channel", b"bus");
    assert!(
      channel.message.contains("&<channel>"),
      "{}",
      channel.message
    );
    // The text alone does not decide: an ERR that mentions NOPERM stays a server error.
    assert_eq!(
      server_error("-ERR value NOPERM inside\r\n").kind,
      ErrorKind::Server
    );
    assert_eq!(
      server_error("-WRONGPASS invalid username-password pair\r\n").kind,
      ErrorKind::Auth
    );
    assert_eq!(
      server_error("-NOAUTH Authentication required.\r\n").kind,
      ErrorKind::Auth
    );
    // Refusing a key leaves other kinds alone.
    let auth = server_error("-NOAUTH Authentication required.\r\n");
    assert_eq!(auth.clone().refused("key", b"k"), auth);
  }
}
