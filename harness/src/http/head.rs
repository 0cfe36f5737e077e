//! The HTTP/1.x request head rules shared by the `http_hello` examples (ringstream and
//! tokio) and `benches/http.rs`: parse one request head, decide the answer, and the
//! response bytes. Pure functions, no I/O: each server frames the head its own way (up to
//! and including the blank line `\r\n\r\n`) and hands it here.

/// Longest request head accepted, separator excluded (ringstream's default reader limit,
/// which is what `read_until` enforces). Longer: 431.
pub const MAX_HEAD: usize = 64 * 1024;

/// The answer to every good request on a connection that stays open.
pub const OK: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!";
/// The same for an HTTP/1.0 client that asked for keep-alive (it needs to be told).
pub const OK_KEEP_ALIVE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\nConnection: keep-alive\r\n\r\nHello, World!";
/// The same when the connection closes after it.
pub const OK_CLOSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nHello, World!";
/// Before the body of a request with `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
/// A malformed request line or header; the connection closes.
pub const BAD_REQUEST: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
/// A head longer than [`MAX_HEAD`]; the connection closes.
pub const TOO_LARGE: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
/// A body framed some other way than `Content-Length` (chunked): this server cannot find
/// where it ends, so it refuses and closes.
pub const NOT_IMPLEMENTED: &[u8] =
    b"HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// What a good request head says about the connection and the body that follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// HTTP/1.1 (true) or HTTP/1.0.
    pub http11: bool,
    /// The connection stays open after the response (1.1 unless `Connection: close`; 1.0
    /// only with `Connection: keep-alive`).
    pub keep_alive: bool,
    /// Bytes of body after the head, to read and discard.
    pub content_length: u64,
    /// `Expect: 100-continue` on a 1.1 request with a body: send [`CONTINUE`] first.
    pub expect_continue: bool,
}

impl Head {
    /// The 200 response for this request.
    pub fn response(&self) -> &'static [u8] {
        match (self.keep_alive, self.http11) {
            (false, _) => OK_CLOSE,
            (true, true) => OK,
            (true, false) => OK_KEEP_ALIVE,
        }
    }
}

/// Why a head is refused; the connection closes after [`Refusal::response`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 400: the request line or a header is malformed (the text says which rule).
    BadRequest(&'static str),
    /// 501: `Transfer-Encoding` (the body's end cannot be found without decoding it).
    NotImplemented,
}

impl Refusal {
    /// The error response to send before closing.
    pub fn response(&self) -> &'static [u8] {
        match self {
            Refusal::BadRequest(_) => BAD_REQUEST,
            Refusal::NotImplemented => NOT_IMPLEMENTED,
        }
    }
}

/// Parses one request head: the request line, the header lines, and the blank line that
/// ends them (`\r\n\r\n` included, as `read_until(b"\r\n\r\n")` returns it).
///
/// Empty lines before the request line are skipped (RFC 9112 §2.2: a client may send a
/// stray CRLF after a body). Accepted: `METHOD SP target SP HTTP/1.1|HTTP/1.0`, a method
/// made of token characters, a target of visible ASCII; header lines `name: value` with a
/// token name. Looked at: `Connection` (`close`, `keep-alive`, case-insensitive, in a
/// comma-separated list), `Content-Length` (digits; repeated only with the same value),
/// `Transfer-Encoding` (refused, 501) and `Expect: 100-continue`. Everything else is
/// ignored.
pub fn parse_head(head: &[u8]) -> Result<Head, Refusal> {
    let mut head = head.strip_suffix(b"\r\n\r\n").ok_or(Refusal::BadRequest(
        "the head does not end with an empty line",
    ))?;
    while let Some(rest) = head.strip_prefix(b"\r\n") {
        head = rest;
    }
    let mut lines = crlf_lines(head);
    let http11 = parse_request_line(lines.next().unwrap_or_default())?;

    let mut content_length: Option<u64> = None;
    let mut close = false;
    let mut keep_alive_token = false;
    let mut expect_continue = false;
    for line in lines {
        let (name, value) = split_header(line)?;
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_content_length(value)?;
            if content_length.is_some_and(|old| old != n) {
                return Err(Refusal::BadRequest("conflicting Content-Length headers"));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return Err(Refusal::NotImplemented);
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|&b| b == b',').map(trim_ows) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            expect_continue |= value.eq_ignore_ascii_case(b"100-continue");
        }
    }
    let content_length = content_length.unwrap_or(0);
    Ok(Head {
        http11,
        keep_alive: !close && (http11 || keep_alive_token),
        content_length,
        expect_continue: expect_continue && http11 && content_length > 0,
    })
}

/// The lines of a head (without its final empty line), split at CRLF. A bare CR or LF
/// stays inside its line, where the line checks refuse it.
fn crlf_lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(head);
    std::iter::from_fn(move || {
        let r = rest?;
        match memchr::memmem::find(r, b"\r\n") {
            Some(i) => {
                rest = Some(&r[i + 2..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// `METHOD SP target SP version`; returns whether the version is 1.1.
fn parse_request_line(line: &[u8]) -> Result<bool, Refusal> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::BadRequest(
            "the request line is not METHOD SP target SP version",
        ));
    };
    if method.is_empty() || !method.iter().copied().all(is_tchar) {
        return Err(Refusal::BadRequest("the method is not a token"));
    }
    if target.is_empty() || !target.iter().all(|&b| b.is_ascii_graphic()) {
        return Err(Refusal::BadRequest(
            "the target is empty or not visible ASCII",
        ));
    }
    match version {
        b"HTTP/1.1" => Ok(true),
        b"HTTP/1.0" => Ok(false),
        _ => Err(Refusal::BadRequest(
            "the version is not HTTP/1.1 or HTTP/1.0",
        )),
    }
}

/// `name: value` with a token name, no space before the colon, and the value's
/// surrounding spaces and tabs removed. A line starting with whitespace (obsolete line
/// folding) has no token name and is refused.
fn split_header(line: &[u8]) -> Result<(&[u8], &[u8]), Refusal> {
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(Refusal::BadRequest("a header line has no colon"))?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    if name.is_empty() || !name.iter().copied().all(is_tchar) {
        return Err(Refusal::BadRequest("a header name is not a token"));
    }
    if value.iter().any(|&b| matches!(b, 0 | b'\r' | b'\n')) {
        return Err(Refusal::BadRequest(
            "a header value holds NUL, or a bare CR or LF",
        ));
    }
    Ok((name, trim_ows(value)))
}

fn parse_content_length(value: &[u8]) -> Result<u64, Refusal> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(Refusal::BadRequest("Content-Length is not a number"));
    }
    value.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d - b'0')))
            .ok_or(Refusal::BadRequest("Content-Length is too large"))
    })
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(head: &[u8]) -> Head {
        parse_head(head).unwrap_or_else(|e| panic!("{:?}: {e:?}", String::from_utf8_lossy(head)))
    }

    fn bad(head: &[u8]) -> &'static str {
        match parse_head(head) {
            Err(Refusal::BadRequest(why)) => why,
            other => panic!(
                "{:?}: expected 400, got {other:?}",
                String::from_utf8_lossy(head)
            ),
        }
    }

    #[test]
    fn plain_get_keeps_the_connection() {
        let head = ok(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
        assert_eq!(
            head,
            Head {
                http11: true,
                keep_alive: true,
                content_length: 0,
                expect_continue: false
            }
        );
        assert_eq!(head.response(), OK);
        // No headers at all.
        assert!(ok(b"GET /x?y=1 HTTP/1.1\r\n\r\n").keep_alive);
    }

    #[test]
    fn pipelined_requests_are_separate_heads() {
        // The server frames each head with `\r\n\r\n`; two in one segment parse one by one.
        let segment = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
        let first_end = memchr::memmem::find(segment, b"\r\n\r\n").unwrap() + 4;
        let (first, second) = segment.split_at(first_end);
        assert!(ok(first).keep_alive);
        assert!(!ok(second).keep_alive);
        // A whole segment is not one head: its second request line is a bad header line.
        assert_eq!(
            parse_head(segment),
            Err(Refusal::BadRequest("a header line has no colon"))
        );
    }

    #[test]
    fn content_length_body() {
        let head = ok(b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(head.content_length, 5);
        assert!(head.keep_alive && !head.expect_continue);
        assert_eq!(
            ok(b"POST / HTTP/1.1\r\ncontent-length:\t 12 \r\n\r\n").content_length,
            12
        );
        // Repeated with the same value is fine; different values are not.
        assert_eq!(
            ok(b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n").content_length,
            3
        );
        bad(b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n");
        bad(b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n");
        bad(b"POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n");
        bad(b"POST / HTTP/1.1\r\nContent-Length:\r\n\r\n");
        bad(b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n");
        assert_eq!(
            parse_head(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(Refusal::NotImplemented)
        );
        let head = ok(b"PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n");
        assert!(head.expect_continue);
        // Nothing to continue to without a body, nor for an HTTP/1.0 client.
        assert!(!ok(b"PUT / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n").expect_continue);
        assert!(
            !ok(b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")
                .expect_continue
        );
    }

    #[test]
    fn connection_close() {
        let head = ok(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(!head.keep_alive);
        assert_eq!(head.response(), OK_CLOSE);
        assert!(!ok(b"GET / HTTP/1.1\r\nconnection: Upgrade, CLOSE\r\n\r\n").keep_alive);
        assert!(ok(b"GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n").keep_alive);
        // A header whose value merely mentions "close" does not count.
        assert!(ok(b"GET / HTTP/1.1\r\nX-Note: Connection: close\r\n\r\n").keep_alive);
    }

    #[test]
    fn http10_closes_unless_keep_alive() {
        let head = ok(b"GET / HTTP/1.0\r\n\r\n");
        assert!(!head.http11 && !head.keep_alive);
        assert_eq!(head.response(), OK_CLOSE);
        let head = ok(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assert!(head.keep_alive);
        assert_eq!(head.response(), OK_KEEP_ALIVE);
        assert!(!ok(b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n").keep_alive);
    }

    #[test]
    fn malformed_request_lines() {
        bad(b"\r\n\r\n");
        bad(b"GET\r\n\r\n");
        bad(b"GET /\r\n\r\n");
        bad(b"GET / HTTP/1.1 extra\r\n\r\n");
        bad(b"GET  / HTTP/1.1\r\n\r\n");
        bad(b"GET / HTTP/2.0\r\n\r\n");
        bad(b"GET / http/1.1\r\n\r\n");
        bad(b"G(T / HTTP/1.1\r\n\r\n");
        bad(b"GET /\x7f HTTP/1.1\r\n\r\n");
        bad(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"); // a TLS hello
        bad(b"GET / HTTP/1.1\n\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\nHost: h");
    }

    #[test]
    fn malformed_headers() {
        bad(b"GET / HTTP/1.1\r\nno colon here\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\nHost : h\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\n: empty name\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\nA: b\nC: d\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\nA: b\rC: d\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\nA: \0\r\n\r\n");
        assert_eq!(BAD_REQUEST, Refusal::BadRequest("x").response());
    }

    #[test]
    fn leading_empty_lines_are_skipped() {
        assert!(ok(b"\r\n\r\nGET / HTTP/1.1\r\n\r\n").keep_alive);
        assert!(ok(b"\r\nGET / HTTP/1.0\r\n\r\n").response() == OK_CLOSE);
    }
}
