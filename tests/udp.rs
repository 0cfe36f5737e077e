//! `net::UdpSocket` over loopback: both send APIs, truncation and ICMP errors reported,
//! bounded receive queue with drops counted, cancel safety of `recv_from`.

use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use ringstream::net::{UdpOptions, UdpSocket};
use ringstream::time::{sleep, timeout};
use ringstream::Builder;

mod support;

use support::loopback as local;

async fn recv_within(socket: &UdpSocket) -> io::Result<(Bytes, SocketAddr)> {
    timeout(Duration::from_secs(5), socket.recv_from())
        .await
        .expect("a datagram within 5 s")
}

#[test]
fn send_to_and_connected_send_round_trip() {
    ringstream::run(async {
        let server = UdpSocket::bind(local()).unwrap();
        let client = UdpSocket::bind(local()).unwrap();
        let server_addr = server.local_addr().unwrap();
        client.send_to(b"hello", server_addr).await.unwrap();
        let (data, from) = recv_within(&server).await.unwrap();
        assert_eq!(&data[..], b"hello");
        assert_eq!(from, client.local_addr().unwrap());
        server.send_to_bytes(data, from).await.unwrap();
        assert_eq!(&recv_within(&client).await.unwrap().0[..], b"hello");

        client.connect(server_addr).unwrap();
        assert_eq!(client.peer_addr().unwrap(), server_addr);
        client.send(b"").await.unwrap();
        client.send_bytes(Bytes::from_static(b"two")).await.unwrap();
        assert_eq!(
            recv_within(&server).await.unwrap().0.len(),
            0,
            "empty datagram"
        );
        let (data, from) = recv_within(&server).await.unwrap();
        assert_eq!(&data[..], b"two");
        server.send_to(b"back", from).await.unwrap();
        let reply = timeout(Duration::from_secs(5), client.recv())
            .await
            .unwrap();
        assert_eq!(&reply.unwrap()[..], b"back");
    })
    .unwrap();
}

#[test]
fn send_without_connect_is_an_error_and_options_apply() {
    ringstream::run(async {
        let options = UdpOptions::new().reuse_address(true).reuse_port(true);
        let socket = UdpSocket::bind_with(local(), &options).unwrap();
        let err = socket.send(b"x").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotConnected);
        socket.set_broadcast(true).unwrap();
        assert!(socket.broadcast().unwrap());
        socket.set_ttl(7).unwrap();
        assert_eq!(socket.ttl().unwrap(), 7);
        let twin = UdpSocket::bind_with(socket.local_addr().unwrap(), &options);
        assert!(
            twin.is_ok(),
            "SO_REUSEPORT lets a second socket share the port"
        );
    })
    .unwrap();
}

#[test]
fn msg_trunc_datagram_too_long_for_the_buffer_is_reported_not_cut() {
    let mut builder = Builder::new();
    builder.recv_buffers(8, 512);
    let rt = builder.build().unwrap();
    rt.block_on(async {
        let server = UdpSocket::bind(local()).unwrap();
        let client = UdpSocket::bind(local()).unwrap();
        let to = server.local_addr().unwrap();
        client.send_to(&[7u8; 2000], to).await.unwrap();
        client.send_to(b"after", to).await.unwrap();
        let err = recv_within(&server).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("truncated"), "{err}");
        assert_eq!(&recv_within(&server).await.unwrap().0[..], b"after");
    });
}

#[test]
fn econnrefused_on_a_connected_socket_reaches_the_next_recv() {
    ringstream::run(async {
        let closed_port = std::net::UdpSocket::bind(local()).unwrap();
        let target = closed_port.local_addr().unwrap();
        drop(closed_port);
        let socket = UdpSocket::bind(local()).unwrap();
        socket.connect(target).unwrap();
        socket.send(b"anyone?").await.unwrap();
        let err = timeout(Duration::from_secs(5), socket.recv())
            .await
            .expect("the ICMP error within 5 s")
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        // The socket goes on: a peer that appears later is heard.
        let peer = UdpSocket::bind(target).unwrap();
        peer.send_to(b"here", socket.local_addr().unwrap())
            .await
            .unwrap();
        let data = timeout(Duration::from_secs(5), socket.recv())
            .await
            .unwrap();
        assert_eq!(&data.unwrap()[..], b"here");
    })
    .unwrap();
}

/// 100,000 datagrams, sent in rounds the socket buffer holds: every one arrives, in order.
#[test]
fn hundred_thousand_datagrams_at_a_paced_rate_none_lost() {
    ringstream::run(async {
        let server = UdpSocket::bind(local()).unwrap();
        let client = UdpSocket::bind(local()).unwrap();
        client.connect(server.local_addr().unwrap()).unwrap();
        const ROUND: u32 = 100;
        let mut next = 0u32;
        for _ in 0..100_000 / ROUND {
            for i in 0..ROUND {
                let mut payload = [0u8; 64];
                payload[..4].copy_from_slice(&(next + i).to_le_bytes());
                client.send(&payload).await.unwrap();
            }
            for _ in 0..ROUND {
                let (data, _) = recv_within(&server).await.unwrap();
                let seq = u32::from_le_bytes(data[..4].try_into().unwrap());
                assert_eq!(seq, next, "datagram lost or reordered");
                next += 1;
            }
        }
        assert_eq!(next, 100_000);
        assert_eq!(server.drops(), 0);
    })
    .unwrap();
}

/// A flood into a small socket buffer that nobody reads: what did not arrive is exactly
/// what the kernel counted as dropped, and the receive queue stayed bounded.
#[test]
fn flood_drops_are_counted_and_the_queue_stays_bounded() {
    ringstream::run(async {
        let options = UdpOptions::new().recv_buffer_size(16 * 1024);
        let server = UdpSocket::bind_with(local(), &options).unwrap();
        server.set_recv_queue_limit(4 * 1024);
        let client = UdpSocket::bind(local()).unwrap();
        client.connect(server.local_addr().unwrap()).unwrap();
        const SENT: u32 = 5_000;
        client.set_write_buffer_limits(Some(1 << 20), None).unwrap();
        for _ in 0..SENT {
            client.send(&[1u8; 100]).await.unwrap();
        }
        for _ in 0..1000 {
            if client.get_write_buffer_size() == 0 {
                break;
            }
            sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(client.get_write_buffer_size(), 0);
        let mut received = 0u32;
        while let Ok(got) = timeout(Duration::from_millis(200), server.recv_from()).await {
            let (data, _) = got.unwrap();
            assert_eq!(data.len(), 100);
            received += 1;
            assert!(received <= SENT);
        }
        // The count comes with the next datagram delivered after the drops.
        client.send(b"marker").await.unwrap();
        assert_eq!(&recv_within(&server).await.unwrap().0[..], b"marker");
        assert!(
            server.drops() > 0,
            "the flood overflowed a 16 KiB socket buffer"
        );
        assert_eq!(u64::from(received) + server.drops(), u64::from(SENT));
    })
    .unwrap();
}

#[test]
fn recv_from_dropped_after_its_wakeup_loses_no_datagram() {
    ringstream::run(async {
        let server = UdpSocket::bind(local()).unwrap();
        let client = UdpSocket::bind(local()).unwrap();
        {
            let mut pending = pin!(server.recv_from());
            let polled = poll_fn(|cx| Poll::Ready(pending.as_mut().poll(cx).is_pending())).await;
            assert!(polled, "nothing sent yet");
            client
                .send_to(b"kept", server.local_addr().unwrap())
                .await
                .unwrap();
            sleep(Duration::from_millis(20)).await;
            // Dropped here: woken, never polled again.
        }
        assert_eq!(&recv_within(&server).await.unwrap().0[..], b"kept");
    })
    .unwrap();
}

#[test]
fn close_flushes_the_queue_then_recv_and_send_fail() {
    ringstream::run(async {
        let server = UdpSocket::bind(local()).unwrap();
        let client = UdpSocket::bind(local()).unwrap();
        let to = server.local_addr().unwrap();
        for _ in 0..10 {
            client.send_to(b"bye", to).await.unwrap();
        }
        client.close();
        assert!(client.is_closing());
        timeout(Duration::from_secs(5), client.wait_closed())
            .await
            .unwrap();
        for _ in 0..10 {
            assert_eq!(&recv_within(&server).await.unwrap().0[..], b"bye");
        }
        assert!(client.send_to(b"late", to).await.is_err());
        assert!(client.recv_from().await.is_err());
        server.abort();
        timeout(Duration::from_secs(5), server.wait_closed())
            .await
            .unwrap();
        assert!(server.recv_from().await.is_err());
    })
    .unwrap();
}

/// What a test protocol was told, in order.
#[derive(Default)]
struct Told(Vec<String>);

struct Recorder {
    told: std::rc::Rc<std::cell::RefCell<Told>>,
    transport: Option<ringstream::protocol::DatagramTransport>,
}

impl ringstream::protocol::DatagramProtocol for Recorder {
    fn connection_made(&mut self, transport: ringstream::protocol::DatagramTransport) {
        self.told.borrow_mut().0.push("made".into());
        self.transport = Some(transport);
    }
    fn datagram_received(&mut self, data: Bytes, _addr: SocketAddr) {
        let text = String::from_utf8_lossy(&data).into_owned();
        self.told.borrow_mut().0.push(format!("data {text}"));
    }
    fn error_received(&mut self, err: io::Error) {
        self.told
            .borrow_mut()
            .0
            .push(format!("error {:?}", err.kind()));
        if let Some(t) = &self.transport {
            t.close();
        }
    }
    fn connection_lost(&mut self, err: Option<io::Error>) {
        self.told
            .borrow_mut()
            .0
            .push(format!("lost {}", err.is_some()));
        self.transport = None;
    }
    fn pause_writing(&mut self) {
        self.told.borrow_mut().0.push("pause".into());
    }
    fn resume_writing(&mut self) {
        self.told.borrow_mut().0.push("resume".into());
    }
}

#[test]
fn datagram_protocol_hears_datagrams_then_econnrefused_then_lost() {
    ringstream::run(async {
        let peer = UdpSocket::bind(local()).unwrap();
        let told = std::rc::Rc::new(std::cell::RefCell::new(Told::default()));
        let recorder = Recorder {
            told: told.clone(),
            transport: None,
        };
        let remote = peer.local_addr().unwrap();
        let t = ringstream::protocol::create_datagram_endpoint(|| recorder, None, Some(remote))
            .unwrap();
        assert_eq!(told.borrow().0, ["made"]);
        t.sendto(Bytes::from_static(b"ping"), None).unwrap();
        let (data, from) = recv_within(&peer).await.unwrap();
        peer.send_to_bytes(data, from).await.unwrap();
        for _ in 0..500 {
            if told.borrow().0.len() >= 2 {
                break;
            }
            sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(told.borrow().0, ["made", "data ping"]);
        peer.close();
        timeout(Duration::from_secs(5), peer.wait_closed())
            .await
            .unwrap();
        t.sendto(Bytes::from_static(b"gone?"), None).unwrap();
        timeout(Duration::from_secs(5), t.wait_closed())
            .await
            .unwrap();
        assert_eq!(
            told.borrow().0,
            ["made", "data ping", "error ConnectionRefused", "lost false"]
        );
    })
    .unwrap();
}

#[test]
fn dropping_a_socket_releases_its_port() {
    ringstream::run(async {
        let socket = UdpSocket::bind(local()).unwrap();
        let addr = socket.local_addr().unwrap();
        assert!(
            std::net::UdpSocket::bind(addr).is_err(),
            "the port is taken"
        );
        drop(socket);
        let mut rebound = None;
        for _ in 0..200 {
            if let Ok(s) = std::net::UdpSocket::bind(addr) {
                rebound = Some(s);
                break;
            }
            sleep(Duration::from_millis(5)).await;
        }
        assert!(rebound.is_some(), "the dropped socket's port came free");
    })
    .unwrap();
}

#[test]
fn dropping_the_runtime_closes_udp_sockets_and_tells_protocols() {
    let told = std::rc::Rc::new(std::cell::RefCell::new(Told::default()));
    let mut addrs = Vec::new();
    {
        let runtime = ringstream::Runtime::new().unwrap();
        runtime.block_on(async {
            let socket = UdpSocket::bind(local()).unwrap();
            addrs.push(socket.local_addr().unwrap());
            // A task parked in a receive, holding the socket: only teardown ends it.
            drop(ringstream::spawn(async move {
                let _ = socket.recv_from().await;
            }));
            let recorder = Recorder {
                told: told.clone(),
                transport: None,
            };
            let t =
                ringstream::protocol::create_datagram_endpoint(|| recorder, Some(local()), None)
                    .unwrap();
            addrs.push(t.socket().local_addr().unwrap());
            ringstream::yield_now().await;
        });
        drop(runtime);
    }
    assert_eq!(told.borrow().0, ["made", "lost false"]);
    for addr in addrs {
        assert!(
            std::net::UdpSocket::bind(addr).is_ok(),
            "{addr} is still held after the runtime was dropped"
        );
    }
}

#[test]
fn ipv6_sources_are_parsed() {
    let v6: SocketAddr = "[::1]:0".parse().unwrap();
    if std::net::UdpSocket::bind(v6).is_err() {
        eprintln!("skipped: no IPv6 loopback here");
        return;
    }
    ringstream::run(async move {
        let server = UdpSocket::bind(v6).unwrap();
        let client = UdpSocket::bind(v6).unwrap();
        client
            .send_to(b"six", server.local_addr().unwrap())
            .await
            .unwrap();
        let (data, from) = recv_within(&server).await.unwrap();
        assert_eq!(&data[..], b"six");
        assert_eq!(from, client.local_addr().unwrap());
    })
    .unwrap();
}

/// Datagrams queued in one turn leave as one batch; one the kernel refuses (EMSGSIZE)
/// costs only itself: the ones after it are sent, in order, and the refusal reaches the
/// sender's next receive.
#[test]
fn a_refused_datagram_costs_only_itself_and_order_is_kept() {
    ringstream::run(async {
        let server = UdpSocket::bind(local()).unwrap();
        let client = UdpSocket::bind(local()).unwrap();
        client.set_write_buffer_limits(Some(1 << 20), None).unwrap();
        let to = server.local_addr().unwrap();
        client.send_to(b"first", to).await.unwrap();
        client.send_to(&vec![0u8; 70_000], to).await.unwrap();
        for i in 0..5u8 {
            client.send_to(&[b'0' + i], to).await.unwrap();
        }
        assert_eq!(&recv_within(&server).await.unwrap().0[..], b"first");
        for i in 0..5u8 {
            assert_eq!(recv_within(&server).await.unwrap().0[..], [b'0' + i]);
        }
        let err = recv_within(&client).await.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EMSGSIZE), "{err}");
        assert_eq!(client.get_write_buffer_size(), 0);
    })
    .unwrap();
}

/// F4 for datagrams: `send_to` returns once the queue is back at or under the low
/// watermark when the datagram took it over the high one.
#[test]
fn f4_send_to_waits_while_over_the_high_watermark() {
    ringstream::run(async {
        let server = UdpSocket::bind(local()).unwrap();
        let client = UdpSocket::bind(local()).unwrap();
        client
            .set_write_buffer_limits(Some(1000), Some(100))
            .unwrap();
        let to = server.local_addr().unwrap();
        client.send_to(&[0u8; 900], to).await.unwrap();
        client.send_to(&[0u8; 200], to).await.unwrap();
        assert!(client.get_write_buffer_size() <= 100);
        assert_eq!(recv_within(&server).await.unwrap().0.len(), 900);
        assert_eq!(recv_within(&server).await.unwrap().0.len(), 200);
    })
    .unwrap();
}

/// G3 for datagrams: `pause_writing` inside `sendto` once over the high watermark,
/// `resume_writing` once the sends took it back to the low one.
#[test]
fn g3_datagram_transport_pauses_and_resumes_writing() {
    ringstream::run(async {
        let peer = UdpSocket::bind(local()).unwrap();
        let told = std::rc::Rc::new(std::cell::RefCell::new(Told::default()));
        let recorder = Recorder {
            told: told.clone(),
            transport: None,
        };
        let remote = peer.local_addr().unwrap();
        let t = ringstream::protocol::create_datagram_endpoint(|| recorder, None, Some(remote))
            .unwrap();
        t.set_write_buffer_limits(Some(100), None).unwrap();
        t.sendto(Bytes::from(vec![1u8; 100]), None).unwrap();
        assert_eq!(
            told.borrow().0,
            ["made"],
            "at the high watermark is not over it"
        );
        t.sendto(Bytes::from(vec![2u8; 1]), None).unwrap();
        assert_eq!(told.borrow().0, ["made", "pause"]);
        for _ in 0..2 {
            recv_within(&peer).await.unwrap();
        }
        for _ in 0..500 {
            if told.borrow().0.len() >= 3 {
                break;
            }
            sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(told.borrow().0, ["made", "pause", "resume"]);
        t.close();
    })
    .unwrap();
}

struct Panicker;

impl ringstream::protocol::DatagramProtocol for Panicker {
    fn datagram_received(&mut self, _data: Bytes, _addr: SocketAddr) {
        panic!("the protocol's own bug");
    }
}

/// A callback's panic aborts its endpoint, not the runtime.
#[test]
fn a_panicking_datagram_protocol_aborts_only_its_endpoint() {
    ringstream::run(async {
        let t = ringstream::protocol::create_datagram_endpoint(|| Panicker, Some(local()), None)
            .unwrap();
        let peer = UdpSocket::bind(local()).unwrap();
        peer.send_to(b"boom", t.socket().local_addr().unwrap())
            .await
            .unwrap();
        timeout(Duration::from_secs(5), t.wait_closed())
            .await
            .expect("the endpoint closed");
        assert!(t.is_closing());
    })
    .unwrap();
}
