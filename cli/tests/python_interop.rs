//! Interoperability with CPython's asyncio Streams: a Python client
//! (`asyncio.open_connection`, standard library only) talks to `ringstream echo` —
//! 100 lines with `readline`, 1 MB with `readexactly`, then `write_eof` and EOF back.
//! Skipped (with a note) when `python3` is not installed; `ci/install-deps.sh` installs it.

#[path = "support/child.rs"]
mod child;

use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use child::{output_within, Echo};

/// The client. Reading the 1 MB echo while it is being written (write, then readexactly,
/// then drain) keeps both sides' buffers moving: draining first could wait on a server
/// that waits on us.
const CLIENT: &str = r#"
import asyncio
import random
import sys


async def main(host, port):
    reader, writer = await asyncio.open_connection(host, port)
    for i in range(100):
        line = ("line %d %s\n" % (i, "x" * (i % 17))).encode()
        writer.write(line)
        await writer.drain()
        echoed = await reader.readline()
        assert echoed == line, (i, echoed, line)
    data = random.Random(20240601).randbytes(1_000_000)
    writer.write(data)
    echoed = await reader.readexactly(len(data))
    await writer.drain()
    assert echoed == data, "the 1 MB echo differs"
    writer.write_eof()
    rest = await reader.read()
    assert rest == b"", rest
    writer.close()
    await writer.wait_closed()
    print("OK")


asyncio.run(asyncio.wait_for(main(sys.argv[1], int(sys.argv[2])), 20))
"#;

#[test]
fn asyncio_client_against_ringstream_echo() {
    if Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        eprintln!("skipped: python3 is not installed (ci/install-deps.sh installs it)");
        return;
    }

    // Two cores when the machine has them, so connections may land on either.
    let cores = thread::available_parallelism().map_or(1, |n| n.get().min(2));
    let cores = cores.to_string();
    let echo = Echo::start(&["--addr", "127.0.0.1:0", "--cores", &cores]);
    let addr = echo.addr.clone();
    let (host, port) = addr.rsplit_once(':').expect("host:port");

    let dir = std::env::temp_dir().join(format!("ringstream-interop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let script = dir.join("client.py");
    std::fs::write(&script, CLIENT).expect("write the client script");
    let mut client = Command::new("python3");
    client.arg(&script).args([host, port]);
    let output = output_within(&mut client, Duration::from_secs(25)).expect("start python3");
    let status = output.status;
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        status.success() && out.trim() == "OK",
        "python3 client: {status}\n--- stdout\n{out}--- stderr\n{err}"
    );

    let summary = echo.terminate();
    assert!(
        summary.contains("served 1 connection ") && summary.contains("0 failed"),
        "{summary}"
    );
}
