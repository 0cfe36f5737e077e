//! The echo as a protocol (`ringstream::protocol`): [`EchoProtocol`] writes back the bytes
//! `data_received` gets; [`EchoBuffered`] has the kernel receive into its own buffer and
//! writes back what `buffer_updated` appended. Both run straight from the receive
//! completion, with no task per connection.
//!
//! Both stop reading while their write buffer is over its high watermark
//! (`pause_writing` .. `resume_writing`): a client that sends without reading then holds
//! the server to its watermark and the kernel's socket buffers, as `drain` does for the
//! stream echo ([`echo_connection`](crate::servers::echo_connection)), so the rows stay
//! comparable and a slow reader cannot grow the server's memory.

use bytes::{Bytes, BytesMut};
use ringstream::protocol::{BaseProtocol, BufferedProtocol, Protocol, Transport};

/// Echoes every byte it receives; closes after the peer's EOF once everything was sent.
/// Serve it with `serve_protocol(EchoProtocol::default)`.
///
/// ```no_run
/// use ringstream::net::StreamServer;
/// use ringstream_harness::protocol_echo::EchoProtocol;
///
/// let server = StreamServer::bind("127.0.0.1:7878").serve_protocol(EchoProtocol::default)?;
/// server.serve_forever()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct EchoProtocol {
    transport: Option<Transport>,
}

impl EchoProtocol {
    fn echo(&self, data: Bytes) {
        if let Some(transport) = &self.transport {
            // Fails only once the connection is closing or lost; `connection_lost` follows,
            // and there is nobody left to echo to.
            let _ = transport.write_bytes(data);
        }
    }
}

impl BaseProtocol for EchoProtocol {
    fn connection_made(&mut self, transport: Transport) {
        self.transport = Some(transport);
    }

    fn connection_lost(&mut self, _err: Option<std::io::Error>) {
        self.transport = None;
    }

    fn pause_writing(&mut self) {
        if let Some(transport) = &self.transport {
            transport.pause_reading();
        }
    }

    fn resume_writing(&mut self) {
        if let Some(transport) = &self.transport {
            transport.resume_reading();
        }
    }
}

impl Protocol for EchoProtocol {
    fn data_received(&mut self, data: Bytes) {
        self.echo(data);
    }

    // The default `eof_received` (false) closes the transport after what is queued is sent.
}

/// The same echo as a [`BufferedProtocol`]: one [`BytesMut`] per connection, with room for
/// the transport's size hint reserved in every `get_buffer`; `buffer_updated` splits off
/// the received bytes and writes them back without a copy, and keeps the rest of the
/// buffer for the next receive. Serve it wrapped in
/// [`Buffered`](ringstream::protocol::Buffered).
///
/// ```no_run
/// use ringstream::net::StreamServer;
/// use ringstream::protocol::Buffered;
/// use ringstream_harness::protocol_echo::EchoBuffered;
///
/// let server = StreamServer::bind("127.0.0.1:7878")
///     .serve_protocol(|| Buffered(EchoBuffered::default()))?;
/// server.serve_forever()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct EchoBuffered {
    echo: EchoProtocol,
    buffer: BytesMut,
}

impl BaseProtocol for EchoBuffered {
    fn connection_made(&mut self, transport: Transport) {
        self.echo.connection_made(transport);
    }

    fn connection_lost(&mut self, err: Option<std::io::Error>) {
        self.echo.connection_lost(err);
    }

    fn pause_writing(&mut self) {
        self.echo.pause_writing();
    }

    fn resume_writing(&mut self) {
        self.echo.resume_writing();
    }
}

impl BufferedProtocol for EchoBuffered {
    fn get_buffer(&mut self, size_hint: usize) -> BytesMut {
        let mut buffer = std::mem::take(&mut self.buffer);
        buffer.reserve(size_hint);
        buffer
    }

    fn buffer_updated(&mut self, mut buffer: BytesMut, _nbytes: usize) {
        // Everything in the buffer is what was just received: this echo keeps no bytes
        // between receives, only the buffer's spare room.
        let received = buffer.split();
        self.buffer = buffer;
        if !received.is_empty() {
            self.echo.echo(received.freeze());
        }
    }
}
