//! Get HTTP headers: sends `HEAD` for an `http://` or `https://` URL and prints the
//! response headers.
//!
//! Mirrors asyncio's "Get HTTP headers" example (`open_connection`, with `ssl=True` for
//! https, one `write` of the request, `readline` in a loop, `close` + `wait_closed`).
//! `https://` needs the `tls` feature; the server's certificate is checked against the
//! public web's authorities (webpki-roots), or, when `SSL_CERT_FILE` names a PEM file (as
//! for Python and OpenSSL), against the certificates in it.
//!
//! ```sh
//! cargo run --example http_headers -- http://example.com/path/page.html
//! cargo run --features tls --example http_headers -- https://example.com/
//! # or against a local server:
//! python3 -m http.server 8000 --bind 127.0.0.1 &
//! cargo run --example http_headers -- http://127.0.0.1:8000/
//! ```
//!
//! The URL is parsed by hand: `http[s]://[user@]host[:port][/path][?query][#fragment]`,
//! port 80 (443 for https) and path `/` by default, IPv6 hosts in brackets. The request is HTTP/1.0, so the server
//! closes the connection after the headers; reading stops at the blank line that ends them.

use ringstream_harness::report::Report;

use std::io;

/// The parts of an `http://` URL the request needs.
#[derive(Debug)]
struct Target {
    host: String,
    port: u16,
    /// Path and query, never empty.
    path: String,
    /// `https://`.
    tls: bool,
}

impl Target {
    /// The `Host` header value: the port is named only when it is not the scheme's.
    fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == self.default_port() {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    fn default_port(&self) -> u16 {
        if self.tls {
            443
        } else {
            80
        }
    }
}

fn parse_url(url: &str) -> Result<Target, String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "{url:?} is not a URL; expected http://host[:port]/path"
        ));
    };
    let tls = match scheme.to_ascii_lowercase().as_str() {
        "http" => false,
        "https" => true,
        other => {
            return Err(format!(
                "{url:?}: unsupported scheme {other:?}; use http:// or https://"
            ))
        }
    };
    let rest = rest.split('#').next().unwrap_or_default();
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let path = match path {
        "" => "/".to_string(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_string(),
    };
    // Drop any `user:password@`.
    let authority = authority.rsplit('@').next().unwrap_or_default();
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("{url:?}: unclosed '[' in the host"))?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    let port = match port {
        None | Some("") if tls => 443,
        None | Some("") => 80,
        Some(p) => p
            .parse()
            .map_err(|_| format!("{url:?}: {p:?} is not a port number"))?,
    };
    Ok(Target {
        host: host.to_string(),
        port,
        path,
        tls,
    })
}

/// Latin-1 decoding, as the asyncio example does: every byte is one char.
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// asyncio's `open_connection(host, port, ssl=True)` for https.
#[cfg(feature = "tls")]
async fn open(target: &Target) -> io::Result<(ringstream::StreamReader, ringstream::StreamWriter)> {
    use ringstream::tls::{self, TlsConnector};
    if !target.tls {
        return ringstream::open_connection(&target.host, target.port).await;
    }
    let connector = match std::env::var_os("SSL_CERT_FILE") {
        None => TlsConnector::with_webpki_roots()?,
        Some(file) => TlsConnector::with_ca_file(file)?,
    };
    tls::open_connection(&target.host, target.port, &connector).await
}

#[cfg(not(feature = "tls"))]
async fn open(target: &Target) -> io::Result<(ringstream::StreamReader, ringstream::StreamWriter)> {
    if target.tls {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "https needs TLS: run with --features tls",
        ));
    }
    ringstream::open_connection(&target.host, target.port).await
}

async fn print_http_headers(target: Target) -> io::Result<()> {
    let (mut reader, writer) = open(&target).await?;
    let query = format!(
        "HEAD {} HTTP/1.0\r\nHost: {}\r\n\r\n",
        target.path,
        target.host_header()
    );
    writer.write(query.as_bytes())?;

    loop {
        let line = reader.read_line().await?;
        if line.is_empty() {
            break; // EOF before the blank line: the server closed early
        }
        let line = latin1(&line);
        let line = line.trim_end();
        if line.is_empty() {
            break; // the blank line that ends the headers
        }
        println!("HTTP header> {line}");
    }

    // Ignore the body, close the socket.
    writer.close();
    writer.wait_closed().await
}

fn main() -> Result<(), Report> {
    let Some(url) = std::env::args().nth(1) else {
        return Err("usage: http_headers http[s]://host[:port]/path".into());
    };
    let target = parse_url(&url)?;
    ringstream::run(print_http_headers(target))??;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_url;

    #[test]
    fn parses_urls() {
        let t = parse_url("http://example.com").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("example.com", 80, "/")
        );
        let t = parse_url("http://u:p@127.0.0.1:8000/a/b?x=1#frag").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("127.0.0.1", 8000, "/a/b?x=1")
        );
        assert_eq!(t.host_header(), "127.0.0.1:8000");
        let t = parse_url("http://[::1]:81?q").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("::1", 81, "/?q")
        );
        assert_eq!(t.host_header(), "[::1]:81");
        let t = parse_url("https://example.com").unwrap();
        assert_eq!(
            (t.port, t.tls, t.host_header().as_str()),
            (443, true, "example.com")
        );
        let t = parse_url("https://example.com:8443/x").unwrap();
        assert_eq!(t.host_header(), "example.com:8443");
        assert!(parse_url("ftp://example.com/").is_err());
        assert!(parse_url("http://:80/").is_err());
        assert!(parse_url("http://host:99999/").is_err());
        assert!(parse_url("example.com").is_err());
    }
}
