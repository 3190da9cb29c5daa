//! The direct connection against a loopback peer that writes exactly the bytes a test gives it:
//! how replies split across reads are put together, and what breaks the connection.

use super::*;
use std::net::TcpListener;
use std::time::{Duration, Instant};

fn pair() -> (DirectConn, TcpStream) {
  let listener = TcpListener::bind("127.0.0.1:0").unwrap();
  let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
  client.set_nonblocking(true).unwrap();
  let (server, _) = listener.accept().unwrap();
  (DirectConn::new(client), server)
}

fn get(key: &str) -> Pipeline {
  let mut pipe = redis::pipe();
  pipe.cmd("GET").arg(key);
  pipe
}

/// Reads until `expect` settles (the peer's bytes may take a moment to arrive).
fn settle(conn: &mut DirectConn, expect: &Expect) -> Result<Vec<Value>> {
  let until = Instant::now() + Duration::from_secs(5);
  loop {
    conn.read();
    if let Some(done) = expect.done.borrow_mut().take() {
      return done;
    }
    assert!(Instant::now() < until, "no settlement");
    std::thread::sleep(Duration::from_millis(1));
  }
}

#[test]
fn a_reply_split_byte_by_byte_is_put_together() {
  let (mut conn, mut server) = pair();
  let expect = conn.send(&get("k"), 1).unwrap();
  let mut asked = [0u8; 64];
  let n = server.read(&mut asked).unwrap();
  assert_eq!(&asked[..n], b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
  for b in b"$5\r\nhello\r\n" {
    server.write_all(&[*b]).unwrap();
    std::thread::sleep(Duration::from_micros(200));
    conn.read();
  }
  let got = settle(&mut conn, &expect).unwrap();
  assert_eq!(got, vec![Value::BulkString(b"hello".to_vec())]);
  assert!(conn.idle());
}

#[test]
fn pipelines_in_flight_together_get_their_own_replies_in_order() {
  let (mut conn, mut server) = pair();
  let first = conn.send(&get("a"), 1).unwrap();
  let mut two = redis::pipe();
  two.cmd("GET").arg("b").cmd("GET").arg("c");
  let second = conn.send(&two, 2).unwrap();
  // Both answers in one write, as a server answers a pipeline: split by position.
  server.write_all(b"$1\r\nA\r\n$1\r\nB\r\n$-1\r\n").unwrap();
  let got = settle(&mut conn, &second).unwrap();
  assert_eq!(got, vec![Value::BulkString(b"B".to_vec()), Value::Nil]);
  let got = first
    .done
    .borrow_mut()
    .take()
    .expect("settled first")
    .unwrap();
  assert_eq!(got, vec![Value::BulkString(b"A".to_vec())]);
  assert!(conn.idle());
}

#[test]
fn replies_larger_than_the_buffer_grow_it() {
  let (mut conn, mut server) = pair();
  let expect = conn.send(&get("big"), 1).unwrap();
  let value = vec![b'x'; 3 * READ_CHUNK + 17];
  let mut wire = format!("${}\r\n", value.len()).into_bytes();
  wire.extend(&value);
  wire.extend(b"\r\n");
  let writer = std::thread::spawn(move || server.write_all(&wire).map(|_| server));
  let got = settle(&mut conn, &expect).unwrap();
  assert_eq!(got, vec![Value::BulkString(value)]);
  assert!(
    conn.buffer_len() > 3 * READ_CHUNK,
    "kept: under KEPT_BUFFER"
  );
  drop(writer.join().unwrap());
}

#[test]
fn a_buffer_grown_past_the_kept_size_is_given_back_once_parsed() {
  let (mut conn, mut server) = pair();
  let expect = conn.send(&get("huge"), 1).unwrap();
  let value = vec![b'y'; 2 * KEPT_BUFFER];
  let mut wire = format!("${}\r\n", value.len()).into_bytes();
  wire.extend(&value);
  wire.extend(b"\r\n");
  let writer = std::thread::spawn(move || server.write_all(&wire).map(|_| server));
  let got = settle(&mut conn, &expect).unwrap();
  assert_eq!(got, vec![Value::BulkString(value)]);
  assert_eq!(conn.buffer_len(), READ_CHUNK);
  drop(writer.join().unwrap());
}

#[test]
fn a_reply_nobody_asked_for_breaks_the_connection() {
  let (mut conn, mut server) = pair();
  let expect = conn.send(&get("k"), 1).unwrap();
  server.write_all(b"$-1\r\n+surprise\r\n").unwrap();
  let first = settle(&mut conn, &expect).unwrap();
  assert_eq!(first, vec![Value::Nil]);
  // The event loop reports the socket readable again: the stray reply is read while idle.
  std::thread::sleep(Duration::from_millis(20));
  conn.read();
  let err = conn.broken().expect("broken").clone();
  assert!(err.message.contains("nobody asked"), "{}", err.message);
  assert_eq!(
    conn.send(&get("k"), 1).err().map(|e| e.kind),
    Some(ErrorKind::Connection)
  );
}

#[test]
fn garbage_or_a_closed_socket_fails_what_waits() {
  let (mut conn, mut server) = pair();
  let expect = conn.send(&get("k"), 1).unwrap();
  server.write_all(b"%1\r\n").unwrap();
  let err = settle(&mut conn, &expect).expect_err("an error");
  assert!(
    err.message.contains("not a RESP2 reply type"),
    "{}",
    err.message
  );
  assert_eq!(
    conn.send(&get("k"), 1).err().map(|e| e.kind),
    Some(ErrorKind::Connection)
  );

  let (mut conn, server) = pair();
  let expect = conn.send(&get("k"), 2).unwrap();
  drop(server);
  // Closed with our request unread: the peer's kernel answers with a reset or an end of file.
  let err = settle(&mut conn, &expect).expect_err("an error");
  assert_eq!(err.kind, ErrorKind::Connection, "{}", err.message);
}
