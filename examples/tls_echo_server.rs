//! TLS echo server: serves TLS on every core with the certificate and key from two PEM
//! files, and echoes whatever each client sends (lines and bytes alike) until the client's
//! `close_notify` or EOF, then closes with its own `close_notify`.
//!
//! asyncio's `start_server(handle, host, port, ssl=ctx)` with `ctx.load_cert_chain(CERT,
//! KEY)`; here `TlsAcceptor::from_pem_files` and `ServerBuilder::tls`. Needs the `tls`
//! feature.
//!
//! ```sh
//! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
//!     -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
//!     -addext basicConstraints=critical,CA:FALSE \
//!     -keyout key.pem -out cert.pem
//! cargo run --release --features tls --example tls_echo_server -- 127.0.0.1:8443 cert.pem key.pem
//! # in another terminal:
//! openssl s_client -connect 127.0.0.1:8443 -CAfile cert.pem -quiet
//! ```

use ringstream_harness::report::Report;

use std::io;
use std::process::ExitCode;

use ringstream::net::StreamServer;
use ringstream::tls::TlsAcceptor;
use ringstream::Stream;

const USAGE: &str = "usage: tls_echo_server HOST:PORT CERT.pem KEY.pem
  HOST:PORT  where to listen (port 0 picks a free one)
  CERT.pem   the certificate chain, server certificate first (PEM)
  KEY.pem    its private key (PEM: PKCS#8, PKCS#1 or SEC1)";

/// Echoes until the client's `close_notify` (a clean EOF), then closes.
async fn echo(stream: Stream) -> io::Result<()> {
    let (mut reader, writer) = stream.split();
    loop {
        let data = reader.read(64 * 1024).await?;
        if data.is_empty() {
            break;
        }
        writer.write_bytes(data)?;
        writer.drain().await?;
    }
    writer.close();
    writer.wait_closed().await
}

fn main() -> Result<ExitCode, Report> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return Ok(ExitCode::SUCCESS);
    }
    let [addr, cert, key] = &args[..] else {
        eprintln!(
            "tls_echo_server: expected 3 arguments, got {}\n{USAGE}",
            args.len()
        );
        return Ok(ExitCode::from(2));
    };
    let acceptor = TlsAcceptor::from_pem_files(cert, key)?;
    let server = StreamServer::bind(addr)
        .tls(acceptor)
        .on_handler_failure(|failure| eprintln!("tls_echo_server: {failure}"))
        .serve(echo)?;
    println!("Serving TLS on {}", server.local_addr());
    server.serve_forever()?;
    Ok(ExitCode::SUCCESS)
}
