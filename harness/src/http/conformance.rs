//! End-to-end checks of an `http_hello` server over loopback, with a blocking std client:
//! the same checks for the ringstream and the tokio server (each example's tests run them
//! against its own server; `benches/http.rs` runs [`pipelined`] before measuring).
//!
//! Every check panics on a wrong answer and closes all its connections before it returns,
//! so a server that is shut down afterwards has nothing left open.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use super::head::{BAD_REQUEST, NOT_IMPLEMENTED, OK, OK_CLOSE, OK_KEEP_ALIVE, TOO_LARGE};

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect to the server");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set a read timeout");
    stream
}

/// Sends `request` in one write, then reads until the server closes.
fn exchange_until_close(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = connect(addr);
    stream.write_all(request).expect("send the request");
    let mut reply = Vec::new();
    stream
        .read_to_end(&mut reply)
        .expect("the server answers and closes");
    reply
}

fn read_exactly(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut reply = vec![0; n];
    stream.read_exact(&mut reply).expect("the whole reply");
    reply
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Three requests in one segment, answered in order on one connection; then a head split
/// across two segments; then `Connection: close`.
pub fn pipelined(addr: SocketAddr) {
    let mut stream = connect(addr);
    stream
        .write_all(&b"GET / HTTP/1.1\r\nHost: h\r\n\r\n".repeat(3))
        .expect("send");
    assert_eq!(
        text(&read_exactly(&mut stream, 3 * OK.len())),
        text(&OK.repeat(3))
    );
    stream.write_all(b"GET /a HTTP/1.1\r\nHo").expect("send");
    std::thread::sleep(Duration::from_millis(20));
    stream
        .write_all(b"st: h\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\n")
        .expect("send");
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).expect("the server closes");
    assert_eq!(text(&rest), text(&[OK, OK_CLOSE].concat()));
}

/// A `Content-Length` body of several pieces is skipped, the request after it answered;
/// `Expect: 100-continue` gets its interim response before the body is sent.
pub fn content_length_body(addr: SocketAddr) {
    let mut stream = connect(addr);
    let body = vec![b'x'; 200_000];
    let request = [
        format!(
            "POST /upload HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
        &body,
        b"GET / HTTP/1.1\r\n\r\n",
    ]
    .concat();
    stream.write_all(&request).expect("send");
    assert_eq!(
        text(&read_exactly(&mut stream, 2 * OK.len())),
        text(&OK.repeat(2))
    );
    stream
        .write_all(b"PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        .expect("send");
    let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
    assert_eq!(
        text(&read_exactly(&mut stream, interim.len())),
        text(interim)
    );
    stream.write_all(b"body").expect("send");
    assert_eq!(text(&read_exactly(&mut stream, OK.len())), text(OK));
}

/// `Connection: close`, HTTP/1.0 with and without keep-alive, and a clean close by the
/// client between requests.
pub fn connection_close_and_http10(addr: SocketAddr) {
    let reply = exchange_until_close(addr, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(text(&reply), text(OK_CLOSE));
    // HTTP/1.0 closes after one response, even with more requests behind it ...
    let reply = exchange_until_close(addr, b"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n");
    assert_eq!(text(&reply), text(OK_CLOSE));
    // ... unless it asks for keep-alive.
    let reply = exchange_until_close(
        addr,
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
    );
    assert_eq!(text(&reply), text(&[OK_KEEP_ALIVE, OK_CLOSE].concat()));
    let mut stream = connect(addr);
    stream.write_all(b"GET / HTTP/1.1\r\n\r\n").expect("send");
    stream.shutdown(Shutdown::Write).expect("half-close");
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).expect("the server closes");
    assert_eq!(text(&reply), text(OK));
}

/// A bad request line, a bad version after a good request, and a chunked body: each gets
/// its error response, then the connection closes (what follows is not answered).
pub fn malformed(addr: SocketAddr) {
    let reply = exchange_until_close(addr, b"HELLO\r\n\r\nGET / HTTP/1.1\r\n\r\n");
    assert_eq!(text(&reply), text(BAD_REQUEST));
    let reply = exchange_until_close(addr, b"GET / HTTP/1.1\r\n\r\nGET / HTTP/9.9\r\n\r\n");
    assert_eq!(text(&reply), text(&[OK, BAD_REQUEST].concat()));
    let reply = exchange_until_close(
        addr,
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
    assert_eq!(text(&reply), text(NOT_IMPLEMENTED));
}

/// 200 KB of head without its end: 431 before the end ever arrives, and the response
/// survives the bytes the server leaves unread (no RST on close).
pub fn oversized_head(addr: SocketAddr) {
    let mut request = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
    request.resize(200_000, b'a');
    let reply = exchange_until_close(addr, &request);
    assert_eq!(text(&reply), text(TOO_LARGE));
}

/// Declares one `#[test]` per check above, each run through `$with_server` (which starts a
/// server, runs the check against its address and shuts it down).
#[macro_export]
macro_rules! conformance_tests {
    ($with_server:ident) => {
        #[test]
        fn pipelined_requests_are_answered_in_order() {
            $with_server($crate::http::conformance::pipelined);
        }

        #[test]
        fn a_content_length_body_is_skipped() {
            $with_server($crate::http::conformance::content_length_body);
        }

        #[test]
        fn connection_close_and_http10() {
            $with_server($crate::http::conformance::connection_close_and_http10);
        }

        #[test]
        fn malformed_requests_get_an_error_and_close() {
            $with_server($crate::http::conformance::malformed);
        }

        #[test]
        fn an_oversized_head_gets_431() {
            $with_server($crate::http::conformance::oversized_head);
        }
    };
}
