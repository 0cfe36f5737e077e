//! hyper 1.x on `StreamServer` through the `tokio-io` feature: the `hyper_hello` example's
//! server, checked with curl (keep-alive: two requests, one connection) and with hyper's
//! own client running on a ringstream connection.

mod support;

#[path = "../examples/hyper_hello.rs"]
#[allow(dead_code)] // its `main` and its helpers for the bench
mod hyper_hello;

use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;
use ringstream::net::StreamServer;
use support::{port_of, run_bounded};

/// Runs `check` with the port of a fresh one-core server, then shuts it down: every
/// connection must have ended by itself and no handler may have failed.
fn with_server(check: impl FnOnce(u16)) {
    let server = StreamServer::bind("127.0.0.1:0")
        .cores(1)
        .serve(hyper_hello::serve_connection)
        .expect("the server starts");
    check(port_of(&server));
    let report = server.shutdown(Duration::from_secs(5)).expect("shutdown");
    assert_eq!(report.aborted, 0, "connections left open");
    assert_eq!(server.stats()[0].failures, 0, "handler failures");
}

/// curl fetches the page twice with one command: both answers are right and the second
/// reused the first's connection (`%{num_connects}` is 0 for it).
#[test]
fn curl_gets_hello_twice_on_one_keep_alive_connection() {
    with_server(|port| {
        let url = format!("http://127.0.0.1:{port}/");
        let output = Command::new("curl")
            .args(["--silent", "--show-error", "--max-time", "10"])
            .args([
                "--write-out",
                " status=%{http_code} connects=%{num_connects}\n",
            ])
            .args([&url, &url])
            .output()
            .expect("curl runs (ci/install-deps.sh installs it)");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "curl failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            stdout,
            "Hello, World! status=200 connects=1\nHello, World! status=200 connects=0\n"
        );
    });
}

/// hyper's HTTP/1.1 client on a ringstream connection (the same `TokioIo` adapter) sends
/// ten requests on one keep-alive connection and reads every answer.
#[test]
fn hyper_client_on_ringstream_keeps_one_connection_alive() {
    with_server(|port| {
        run_bounded(Duration::from_secs(10), async move {
            let stream = ringstream::connect(&format!("127.0.0.1:{port}")).await?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(std::io::Error::other)?;
            let driving = ringstream::spawn(connection);
            for i in 0..10 {
                let request = Request::get(format!("/{i}"))
                    .header("host", "127.0.0.1")
                    .body(Empty::<Bytes>::new())
                    .map_err(std::io::Error::other)?;
                let response = sender
                    .send_request(request)
                    .await
                    .map_err(std::io::Error::other)?;
                assert_eq!(response.status(), 200, "request {i}");
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .map_err(std::io::Error::other)?
                    .to_bytes();
                assert_eq!(&body[..], b"Hello, World!", "request {i}");
            }
            // Dropping the sender ends the connection future cleanly.
            drop(sender);
            driving
                .await
                .expect("connection task")
                .map_err(std::io::Error::other)?;
            Ok(())
        });
    });
}
