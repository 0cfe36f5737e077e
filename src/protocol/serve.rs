//! Serving a protocol on every core: [`ServerBuilder::serve_protocol`].

use std::future::poll_fn;
use std::io;

use crate::net::{ServerBuilder, StreamServer};

use super::link::{Ends, Link};
use super::ProtocolKind;

impl ServerBuilder {
    /// Serves the protocol `factory` makes, one per connection, on every core (asyncio's
    /// `loop.create_server(protocol_factory, ...)`). The callbacks run straight from the
    /// ring's completions, with no task per read; everything else is as
    /// [`serve`](Self::serve): the options, the lifecycle (`close`, `wait_closed`,
    /// `close_clients`, `abort_clients`, `shutdown`, `start_serving`), timeouts and
    /// `max_connections`.
    ///
    /// A callback that panics aborts only its own connection (its `connection_lost` gets
    /// the panic as its error) and is reported to the
    /// [failure hook](Self::on_handler_failure) as a panic; the core goes on.
    ///
    /// ```no_run
    /// use ringstream::protocol::{BaseProtocol, Protocol, Transport};
    /// use ringstream::net::StreamServer;
    ///
    /// #[derive(Default)]
    /// struct Echo(Option<Transport>);
    /// impl BaseProtocol for Echo {
    ///     fn connection_made(&mut self, transport: Transport) {
    ///         self.0 = Some(transport);
    ///     }
    /// }
    /// impl Protocol for Echo {
    ///     fn data_received(&mut self, data: bytes::Bytes) {
    ///         if let Some(t) = &self.0 {
    ///             let _ = t.write_bytes(data);
    ///         }
    ///     }
    /// }
    ///
    /// let server = StreamServer::bind("127.0.0.1:8888").serve_protocol(Echo::default)?;
    /// server.serve_forever()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`serve`](Self::serve).
    #[doc(alias = "loop.create_server")]
    #[doc(alias = "loop.create_unix_server")]
    pub fn serve_protocol<F, K>(self, factory: F) -> io::Result<StreamServer>
    where
        F: Fn() -> K + Clone + Send + 'static,
        K: ProtocolKind,
    {
        self.serve(move |stream| {
            let link = Link::attach(Ends::Stream(stream), factory(), true);
            // The server counts the connection until its protocol is told
            // `connection_lost`; a callback's panic is reported as this handler's.
            async move {
                let link = link?;
                if let Err(message) = poll_fn(|cx| link.poll_finished(cx)).await {
                    std::panic::resume_unwind(Box::new(message));
                }
                Ok(())
            }
        })
    }
}
