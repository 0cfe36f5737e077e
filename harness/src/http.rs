//! The `http_hello` example servers and what they share: the request head rules
//! ([`head`]), the ringstream connection handler ([`ringstream_server`]), the same server
//! on tokio ([`tokio_server`]), the examples' command line ([`args`]) and the end-to-end
//! checks both servers pass ([`conformance`]). `examples/http_hello*.rs` run them;
//! `benches/http.rs` measures them side by side.

pub mod args;
pub mod conformance;
pub mod head;
pub mod ringstream_server;
pub mod tokio_server;
