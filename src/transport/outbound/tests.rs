//! Tests of the outbound state machine, driven by hand (no runtime, no ring).

use super::queue::COALESCE_BELOW;
use super::testing::{flush, ready, transmit, WakeCounter};
use super::*;

fn controlled() -> Outbound {
    Outbound::default()
}

/// A writer with limits low 2 / high 8 and 9 bytes queued: just paused.
fn paused() -> Outbound {
    let mut outbound = controlled();
    outbound.set_write_buffer_limits(Some(8), Some(2)).unwrap();
    outbound.write_slice(b"123456789").unwrap();
    assert!(outbound.paused);
    outbound
}

fn reset() -> io::Error {
    io::Error::from_raw_os_error(104)
}

fn drain(
    outbound: &mut Outbound,
    probe: &WakeCounter,
    waiter: &mut Waiter,
) -> Poll<io::Result<()>> {
    outbound.poll_drain(&mut probe.cx(), waiter)
}

fn wait_closed(outbound: &mut Outbound, probe: &WakeCounter, waiter: &mut Waiter) -> Poll<()> {
    outbound.poll_closed(&mut probe.cx(), waiter).map(|result| {
        result.unwrap();
    })
}

fn assert_kind(result: io::Result<()>, kind: io::ErrorKind) {
    match result {
        Err(error) => assert_eq!(error.kind(), kind, "{error}"),
        Ok(()) => panic!("expected a {kind:?} error, got Ok"),
    }
}

/// A deterministic pseudo-random sequence (xorshift64).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[test]
fn f1_write_queues_without_sending() {
    let mut outbound = Outbound::default();
    outbound.write(Bytes::from_static(b"hello")).unwrap();
    outbound.write_slice(b" world").unwrap();
    assert_eq!(outbound.write_buffer_size(), 11);
    let mut wire = Vec::new();
    assert_eq!(flush(&mut outbound, &mut wire), 1);
    assert_eq!(wire, b"hello world");
}

#[test]
fn f1_empty_write_is_a_no_op() {
    let mut outbound = controlled();
    outbound.set_write_buffer_limits(Some(0), None).unwrap();
    outbound.write(Bytes::new()).unwrap();
    outbound.write_slice(b"").unwrap();
    assert_eq!(outbound.write_buffer_size(), 0);
    assert!(outbound.next_send(8, 1024).is_none());
    assert!(!outbound.paused);
}

#[test]
fn f1_thousand_small_writes_coalesce_into_few_sends() {
    let mut outbound = Outbound::default();
    let mut input = Vec::new();
    let mut wire = Vec::new();
    let mut sends = 0;
    let mut in_flight = None;
    for i in 0..1000u32 {
        let chunk = [i.to_le_bytes(); 4].concat();
        input.extend_from_slice(&chunk);
        if i % 2 == 0 {
            outbound.write_slice(&chunk).unwrap();
        } else {
            outbound.write(Bytes::from(chunk)).unwrap();
        }
        // The transport submits after every write; one send at a time, completing after
        // every 250 writes.
        if in_flight.is_none() {
            in_flight = outbound.next_send(1024, usize::MAX);
            sends += usize::from(in_flight.is_some());
        }
        if i % 250 == 249 {
            if let Some(batch) = in_flight.take() {
                assert_eq!(batch.pieces().len(), 1);
                transmit(&mut outbound, batch, usize::MAX, &mut wire);
            }
        }
    }
    sends += flush(&mut outbound, &mut wire);
    assert_eq!(wire, input);
    assert!(sends <= 5, "{sends} sends for 1,000 small writes");
}

#[test]
fn f1_large_bytes_go_out_without_a_copy() {
    let mut outbound = Outbound::default();
    let large = Bytes::from(vec![9; 100_000]);
    outbound.write(large.clone()).unwrap();
    let batch = outbound.next_send(8, usize::MAX).unwrap();
    assert_eq!(batch.pieces()[0].as_ptr(), large.as_ptr());
    assert_eq!(batch.len(), large.len());
}

#[test]
fn f1_one_send_in_flight_at_a_time() {
    let mut outbound = Outbound::default();
    outbound.write_slice(b"first").unwrap();
    let batch = outbound.next_send(8, usize::MAX).unwrap();
    outbound.write_slice(b"second").unwrap();
    assert!(outbound.next_send(8, usize::MAX).is_none());
    let mut wire = Vec::new();
    transmit(&mut outbound, batch, usize::MAX, &mut wire);
    flush(&mut outbound, &mut wire);
    assert_eq!(wire, b"firstsecond");
}

#[test]
fn f1_next_send_respects_its_limits() {
    let mut outbound = Outbound::default();
    for fill in 0..4 {
        outbound.write(Bytes::from(vec![fill; 5000])).unwrap();
    }
    assert!(outbound.next_send(0, usize::MAX).is_none());
    assert!(outbound.next_send(8, 0).is_none());
    let batch = outbound.next_send(3, usize::MAX).unwrap();
    assert_eq!((batch.pieces().len(), batch.len()), (3, 15_000));
    outbound.complete_send(batch, 15_000);
    let batch = outbound.next_send(8, 1234).unwrap();
    assert_eq!(batch.len(), 1234);
    assert_eq!(outbound.write_buffer_size(), 5000);
}

#[test]
fn f2_size_counts_queued_and_in_flight() {
    let mut outbound = Outbound::default();
    outbound.write(Bytes::from(vec![1; 10_000])).unwrap();
    outbound.write_slice(&[2; 100]).unwrap();
    let batch = outbound.next_send(8, 6_000).unwrap();
    outbound.write_slice(&[3; 10]).unwrap();
    assert_eq!(outbound.write_buffer_size(), 10_110);
    outbound.complete_send(batch, 4_000);
    assert_eq!(outbound.write_buffer_size(), 6_110);
    flush(&mut outbound, &mut Vec::new());
    assert_eq!(outbound.write_buffer_size(), 0);
}

#[test]
fn f2_default_limits_are_64k_high_16k_low() {
    assert_eq!(
        Outbound::default().write_buffer_limits(),
        (16 * 1024, 64 * 1024)
    );
}

#[test]
fn f3_high_only_sets_low_to_a_quarter() {
    let mut outbound = Outbound::default();
    outbound.set_write_buffer_limits(Some(1001), None).unwrap();
    assert_eq!(outbound.write_buffer_limits(), (250, 1001));
}

#[test]
fn f3_low_only_sets_high_to_four_times_low() {
    let mut outbound = Outbound::default();
    outbound.set_write_buffer_limits(None, Some(100)).unwrap();
    assert_eq!(outbound.write_buffer_limits(), (100, 400));
    outbound
        .set_write_buffer_limits(None, Some(usize::MAX))
        .unwrap();
    assert_eq!(outbound.write_buffer_limits(), (usize::MAX, usize::MAX));
}

#[test]
fn f3_neither_restores_the_defaults() {
    let mut outbound = Outbound::default();
    outbound.set_write_buffer_limits(Some(10), Some(5)).unwrap();
    outbound.set_write_buffer_limits(None, None).unwrap();
    assert_eq!(outbound.write_buffer_limits(), (16 * 1024, 64 * 1024));
}

#[test]
fn f3_high_below_low_is_invalid_input_and_keeps_the_old_limits() {
    let mut outbound = controlled();
    outbound
        .set_write_buffer_limits(Some(100), Some(10))
        .unwrap();
    outbound.write_slice(&[0; 50]).unwrap();
    let error = outbound
        .set_write_buffer_limits(Some(9), Some(10))
        .unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(outbound.write_buffer_limits(), (10, 100));
    assert!(!outbound.paused);
    outbound
        .set_write_buffer_limits(Some(10), Some(10))
        .unwrap();
    assert_eq!(outbound.write_buffer_limits(), (10, 10));
}

#[test]
fn f3_lowering_high_pauses_at_once() {
    let mut outbound = controlled();
    outbound.write_slice(&[0; 100]).unwrap();
    outbound.set_write_buffer_limits(Some(100), None).unwrap();
    assert!(!outbound.paused);
    outbound.set_write_buffer_limits(Some(99), None).unwrap();
    assert!(outbound.paused);
}

#[test]
fn f3_new_limits_never_resume() {
    let mut outbound = paused();
    outbound
        .set_write_buffer_limits(Some(100), Some(50))
        .unwrap();
    assert!(outbound.paused);
    let probe = WakeCounter::new();
    assert!(drain(&mut outbound, &probe, &mut Waiter::default()).is_pending());
    // The next completion applies the new low watermark.
    let batch = outbound.next_send(8, 1).unwrap();
    outbound.complete_send(batch, 1);
    assert!(!outbound.paused);
    assert_eq!(probe.wakes(), 1);
}

#[test]
fn idle_and_plain_writers_allocate_no_rare_parts() {
    // benches/idle_memory.rs: `Outbound` lives in every connection's allocation.
    assert!(std::mem::size_of::<Outbound>() <= 112);
    let probe = WakeCounter::new();
    let mut outbound = Outbound::default();
    let mut waiter = Waiter::default();
    let mut wire = Vec::new();
    outbound.write_slice(b"abc").unwrap();
    assert!(ready(drain(&mut outbound, &probe, &mut waiter)).is_ok());
    flush(&mut outbound, &mut wire);
    outbound.write_eof();
    outbound.shutdown_done();
    outbound.close();
    outbound.closed(Ok(()));
    assert!(ready(outbound.poll_closed(&mut probe.cx(), &mut waiter)).is_ok());
    outbound.cancel_drain(&mut waiter);
    outbound.cancel_closed(&mut waiter);
    assert_eq!(wire, b"abc");
    assert!(
        outbound.rare.is_none(),
        "allocated for a plain write and close"
    );
}

#[test]
fn rare_parts_are_allocated_when_needed() {
    let probe = WakeCounter::new();
    let mut waiter = Waiter::default();
    let mut outbound = Outbound::default();
    assert!(wait_closed(&mut outbound, &probe, &mut waiter).is_pending());
    assert!(outbound.rare.is_some());
    let mut outbound = Outbound::default();
    outbound.fail(reset());
    assert_kind(outbound.write_slice(b"x"), io::ErrorKind::ConnectionReset);
    let mut outbound = paused();
    assert!(drain(&mut outbound, &probe, &mut waiter).is_pending());
}

#[test]
fn f4_pauses_only_strictly_over_high() {
    let mut outbound = controlled();
    outbound.set_write_buffer_limits(Some(10), Some(0)).unwrap();
    outbound.write_slice(&[0; 10]).unwrap();
    assert!(!outbound.paused);
    assert!(ready(drain(
        &mut outbound,
        &WakeCounter::new(),
        &mut Waiter::default()
    ))
    .is_ok());
    outbound.write_slice(&[0; 1]).unwrap();
    assert!(outbound.paused);
}

#[test]
fn f4_resumes_at_low_not_above() {
    let mut outbound = paused();
    let batch = outbound.next_send(8, usize::MAX).unwrap();
    outbound.complete_send(batch, 6);
    assert_eq!(outbound.write_buffer_size(), 3);
    assert!(outbound.paused);
    let batch = outbound.next_send(8, usize::MAX).unwrap();
    outbound.complete_send(batch, 1);
    assert_eq!(outbound.write_buffer_size(), 2);
    assert!(!outbound.paused);
}

#[test]
fn f4_drain_is_ready_at_once_when_not_paused() {
    let mut outbound = Outbound::default();
    outbound.write_slice(&[0; 1000]).unwrap();
    let probe = WakeCounter::new();
    assert!(ready(drain(&mut outbound, &probe, &mut Waiter::default())).is_ok());
}

#[test]
fn f4_drain_waits_while_paused_until_resume() {
    let mut outbound = paused();
    let probe = WakeCounter::new();
    let mut waiter = Waiter::default();
    assert!(drain(&mut outbound, &probe, &mut waiter).is_pending());
    let batch = outbound.next_send(8, 3).unwrap();
    outbound.complete_send(batch, 3);
    assert_eq!(probe.wakes(), 0);
    assert!(drain(&mut outbound, &probe, &mut waiter).is_pending());
    flush(&mut outbound, &mut Vec::new());
    assert_eq!(probe.wakes(), 1);
    assert!(ready(drain(&mut outbound, &probe, &mut waiter)).is_ok());
}

#[test]
fn f4_every_concurrent_drain_is_released() {
    let mut outbound = paused();
    let probes: Vec<WakeCounter> = (0..100).map(|_| WakeCounter::new()).collect();
    let mut waiters: Vec<Waiter> = (0..100).map(|_| Waiter::default()).collect();
    for (probe, waiter) in probes.iter().zip(&mut waiters) {
        assert!(drain(&mut outbound, probe, waiter).is_pending());
    }
    flush(&mut outbound, &mut Vec::new());
    for (probe, waiter) in probes.iter().zip(&mut waiters) {
        assert_eq!(probe.wakes(), 1);
        assert!(ready(drain(&mut outbound, probe, waiter)).is_ok());
    }
}

#[test]
fn f4_repolled_drain_is_woken_once() {
    let mut outbound = paused();
    let probe = WakeCounter::new();
    let mut waiter = Waiter::default();
    for _ in 0..1000 {
        assert!(drain(&mut outbound, &probe, &mut waiter).is_pending());
    }
    flush(&mut outbound, &mut Vec::new());
    assert_eq!(probe.wakes(), 1);
}

#[test]
fn f4_released_drain_returns_even_if_paused_again() {
    let mut outbound = paused();
    let probe = WakeCounter::new();
    let mut waiter = Waiter::default();
    assert!(drain(&mut outbound, &probe, &mut waiter).is_pending());
    flush(&mut outbound, &mut Vec::new());
    outbound.write_slice(b"123456789").unwrap();
    assert!(ready(drain(&mut outbound, &probe, &mut waiter)).is_ok());
    // A new drain waits for the new pause.
    assert!(drain(&mut outbound, &probe, &mut waiter).is_pending());
}

#[test]
fn f4_cancelled_drain_is_not_woken() {
    let mut outbound = paused();
    let (kept, dropped) = (WakeCounter::new(), WakeCounter::new());
    let (mut kept_waiter, mut dropped_waiter) = (Waiter::default(), Waiter::default());
    assert!(drain(&mut outbound, &kept, &mut kept_waiter).is_pending());
    assert!(drain(&mut outbound, &dropped, &mut dropped_waiter).is_pending());
    outbound.cancel_drain(&mut dropped_waiter);
    flush(&mut outbound, &mut Vec::new());
    assert_eq!((kept.wakes(), dropped.wakes()), (1, 0));
}

#[test]
fn f5_drain_returns_the_connection_error() {
    let mut outbound = paused();
    let probe = WakeCounter::new();
    let mut waiter = Waiter::default();
    assert!(drain(&mut outbound, &probe, &mut waiter).is_pending());
    outbound.fail(reset());
    assert_eq!(probe.wakes(), 1);
    for _ in 0..2 {
        let error = ready(drain(&mut outbound, &probe, &mut waiter)).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(104));
    }
    assert_eq!(outbound.write_buffer_size(), 0);
}

#[test]
fn f5_drain_after_close_with_nothing_left_is_connection_reset() {
    let mut outbound = Outbound::default();
    outbound.write_slice(b"bye").unwrap();
    outbound.close();
    let probe = WakeCounter::new();
    assert!(ready(drain(&mut outbound, &probe, &mut Waiter::default())).is_ok());
    flush(&mut outbound, &mut Vec::new());
    let result = ready(drain(&mut outbound, &probe, &mut Waiter::default()));
    assert_kind(result, io::ErrorKind::ConnectionReset);
    outbound.closed(Ok(()));
    let result = ready(drain(&mut outbound, &probe, &mut Waiter::default()));
    assert_kind(result, io::ErrorKind::ConnectionReset);
}

/// A drain that waits through the close flush is released by it and returns `Ok`, even
/// when it runs only after everything was sent and the socket closed; a drain called
/// then is the error.
#[test]
fn f5_drain_during_the_close_flush_waits_then_returns_ok() {
    let mut outbound = paused();
    outbound.close();
    let probe = WakeCounter::new();
    let mut waiter = Waiter::default();
    assert!(drain(&mut outbound, &probe, &mut waiter).is_pending());
    flush(&mut outbound, &mut Vec::new());
    assert_eq!(probe.wakes(), 1);
    outbound.closed(Ok(()));
    assert!(ready(drain(&mut outbound, &probe, &mut waiter)).is_ok());
    let late = ready(drain(&mut outbound, &probe, &mut Waiter::default()));
    assert_kind(late, io::ErrorKind::ConnectionReset);
}

/// A close that drops queued data (the transport closed without flushing) releases a
/// waiting drain with an error, not as a resume.
#[test]
fn f5_drain_released_by_a_close_that_lost_data_is_an_error() {
    let mut outbound = paused();
    outbound.close();
    let probe = WakeCounter::new();
    let mut waiter = Waiter::default();
    assert!(drain(&mut outbound, &probe, &mut waiter).is_pending());
    outbound.closed(Ok(()));
    assert_eq!(probe.wakes(), 1);
    assert_kind(
        ready(drain(&mut outbound, &probe, &mut waiter)),
        io::ErrorKind::ConnectionReset,
    );
}

#[test]
fn f5_stored_error_keeps_kind_and_message() {
    let mut outbound = Outbound::default();
    outbound.fail(io::Error::new(io::ErrorKind::TimedOut, "peer went quiet"));
    outbound.fail(reset());
    let error = ready(drain(
        &mut outbound,
        &WakeCounter::new(),
        &mut Waiter::default(),
    ))
    .unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    assert_eq!(error.to_string(), "peer went quiet");
}

#[test]
fn f6_write_after_write_eof_errors() {
    let mut outbound = Outbound::default();
    outbound.write_eof();
    let error = outbound.write_slice(b"late").unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
    assert!(error.to_string().contains("write_eof()"), "{error}");
    assert!(outbound.write(Bytes::from_static(b"late")).is_err());
    assert_eq!(outbound.write_buffer_size(), 0);
    assert!(!outbound.is_closing());
}

#[test]
fn f6_shutdown_waits_until_the_queue_drained_and_happens_once() {
    let mut outbound = Outbound::default();
    outbound.write_slice(b"last words").unwrap();
    outbound.write_eof();
    outbound.write_eof();
    assert!(!outbound.should_shutdown_write());
    let batch = outbound.next_send(8, usize::MAX).unwrap();
    assert!(!outbound.should_shutdown_write());
    outbound.complete_send(batch, 4);
    assert!(!outbound.should_shutdown_write());
    flush(&mut outbound, &mut Vec::new());
    assert!(outbound.should_shutdown_write());
    outbound.shutdown_done();
    assert!(!outbound.should_shutdown_write());
    assert!(!outbound.should_close());
}

#[test]
fn f6_close_after_write_eof_shuts_down_first() {
    let mut outbound = Outbound::default();
    outbound.write_eof();
    outbound.close();
    assert!(outbound.should_shutdown_write());
    assert!(!outbound.should_close());
    outbound.shutdown_done();
    assert!(outbound.should_close());
}

#[test]
fn f6_abort_cancels_the_shutdown() {
    let mut outbound = Outbound::default();
    outbound.write_slice(b"unsent").unwrap();
    outbound.write_eof();
    outbound.abort();
    assert!(!outbound.should_shutdown_write());
    assert!(outbound.should_close());
}

#[test]
fn f7_close_sets_is_closing_at_once_and_flushes_first() {
    let mut outbound = Outbound::default();
    outbound.write_slice(b"queued").unwrap();
    outbound.close();
    assert!(outbound.is_closing());
    assert!(!outbound.should_close());
    let mut wire = Vec::new();
    let batch = outbound.next_send(8, usize::MAX).unwrap();
    assert!(!outbound.should_close());
    transmit(&mut outbound, batch, 2, &mut wire);
    assert!(!outbound.should_close());
    flush(&mut outbound, &mut wire);
    assert_eq!(wire, b"queued");
    assert!(outbound.should_close());
    outbound.closed(Ok(()));
    assert!(!outbound.should_close());
}

#[test]
fn f7_close_is_idempotent() {
    let mut outbound = Outbound::default();
    outbound.write_slice(b"x").unwrap();
    outbound.close();
    outbound.close();
    assert!(!outbound.should_close());
    flush(&mut outbound, &mut Vec::new());
    outbound.closed(Ok(()));
    outbound.close();
    assert!(outbound.is_closing());
    assert!(!outbound.should_close());
}

#[test]
fn f7_every_wait_closed_resolves_after_closed() {
    let mut outbound = Outbound::default();
    let probes = [WakeCounter::new(), WakeCounter::new(), WakeCounter::new()];
    let mut waiters = [Waiter::default(), Waiter::default(), Waiter::default()];
    for (probe, waiter) in probes.iter().zip(&mut waiters) {
        assert!(wait_closed(&mut outbound, probe, waiter).is_pending());
        assert!(wait_closed(&mut outbound, probe, waiter).is_pending());
    }
    outbound.close();
    assert!(outbound.should_close());
    assert!(wait_closed(&mut outbound, &probes[0], &mut waiters[0]).is_pending());
    outbound.closed(Ok(()));
    for (probe, waiter) in probes.iter().zip(&mut waiters) {
        assert_eq!(probe.wakes(), 1);
        assert!(wait_closed(&mut outbound, probe, waiter).is_ready());
    }
}

#[test]
fn f7_wait_closed_returns_the_flush_error() {
    let mut outbound = Outbound::default();
    outbound.write_slice(b"doomed").unwrap();
    outbound.close();
    let batch = outbound.next_send(8, usize::MAX).unwrap();
    outbound.fail(reset());
    drop(batch);
    assert!(outbound.should_close());
    outbound.closed(Ok(()));
    let result = outbound.poll_closed(&mut WakeCounter::new().cx(), &mut Waiter::default());
    assert_eq!(ready(result).unwrap_err().raw_os_error(), Some(104));
}

#[test]
fn f7_wait_closed_returns_the_close_error() {
    let mut outbound = Outbound::default();
    outbound.close();
    outbound.closed(Err(io::Error::from_raw_os_error(5)));
    let result = outbound.poll_closed(&mut WakeCounter::new().cx(), &mut Waiter::default());
    assert_eq!(ready(result).unwrap_err().raw_os_error(), Some(5));
}

#[test]
fn f7_closing_with_data_unsent_is_reported() {
    let mut outbound = Outbound::default();
    outbound.write_slice(b"twelve bytes").unwrap();
    outbound.closed(Ok(()));
    assert_eq!(outbound.write_buffer_size(), 0);
    let result = outbound.poll_closed(&mut WakeCounter::new().cx(), &mut Waiter::default());
    let error = ready(result).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::ConnectionAborted);
    assert!(error.to_string().contains("12 bytes"), "{error}");
}

#[test]
fn f7_cancelled_wait_closed_is_not_woken() {
    let mut outbound = Outbound::default();
    let probe = WakeCounter::new();
    let mut waiter = Waiter::default();
    assert!(wait_closed(&mut outbound, &probe, &mut waiter).is_pending());
    outbound.cancel_closed(&mut waiter);
    outbound.closed(Ok(()));
    assert_eq!(probe.wakes(), 0);
}

#[test]
fn f8_abort_drops_the_queue_and_closes_at_once() {
    let mut outbound = Outbound::default();
    outbound.write(Bytes::from(vec![0; 10_000])).unwrap();
    let batch = outbound.next_send(8, 5_000).unwrap();
    outbound.abort();
    assert_eq!(outbound.write_buffer_size(), 0);
    assert!(outbound.is_closing() && outbound.should_close());
    assert!(outbound.next_send(8, usize::MAX).is_none());
    // The aborted send's completion changes nothing.
    outbound.complete_send(batch, 100);
    assert_eq!(outbound.write_buffer_size(), 0);
    assert!(outbound.next_send(8, usize::MAX).is_none());
    outbound.closed(Ok(()));
    let result = outbound.poll_closed(&mut WakeCounter::new().cx(), &mut Waiter::default());
    assert!(ready(result).is_ok());
}

#[test]
fn f8_abort_releases_drains_with_an_error() {
    let mut outbound = paused();
    let probe = WakeCounter::new();
    let mut waiter = Waiter::default();
    assert!(drain(&mut outbound, &probe, &mut waiter).is_pending());
    outbound.abort();
    assert_eq!(probe.wakes(), 1);
    assert_kind(
        ready(drain(&mut outbound, &probe, &mut waiter)),
        io::ErrorKind::ConnectionReset,
    );
    // The protocol hears connection_lost, not resume_writing.
    assert!(outbound.paused);
}

#[test]
fn f8_abort_after_close_drops_what_was_still_flushing() {
    let mut outbound = Outbound::default();
    outbound.write_slice(b"never sent").unwrap();
    outbound.close();
    assert!(!outbound.should_close());
    outbound.abort();
    outbound.abort();
    assert_eq!(outbound.write_buffer_size(), 0);
    assert!(outbound.should_close());
    outbound.close();
    assert!(outbound.should_close());
}

#[test]
fn f8_error_after_abort_is_ignored() {
    let mut outbound = Outbound::default();
    outbound.abort();
    outbound.fail(io::Error::from_raw_os_error(125));
    outbound.closed(Ok(()));
    let result = outbound.poll_closed(&mut WakeCounter::new().cx(), &mut Waiter::default());
    assert!(ready(result).is_ok());
}

#[test]
fn f9_write_after_close_is_an_error() {
    let mut outbound = Outbound::default();
    outbound.write_slice(b"ok").unwrap();
    outbound.close();
    for result in [
        outbound.write(Bytes::from_static(b"late")),
        outbound.write_slice(b"late"),
        outbound.write_slice(b""),
    ] {
        let error = result.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
        let message = error.to_string();
        assert!(message.contains("close()") && message.contains("closed"));
        assert!(message.contains("no data was sent"), "{message}");
    }
    assert_eq!(outbound.write_buffer_size(), 2);
    outbound.closed(Ok(()));
    assert!(outbound.write_slice(b"later still").is_err());
}

#[test]
fn f9_write_after_abort_is_an_error() {
    let mut outbound = Outbound::default();
    outbound.abort();
    let error = outbound.write_slice(b"late").unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
    assert!(error.to_string().contains("abort()"), "{error}");
    assert_eq!(outbound.write_buffer_size(), 0);
}

#[test]
fn f9_write_after_a_connection_error_returns_it() {
    let mut outbound = Outbound::default();
    outbound.fail(reset());
    for _ in 0..2 {
        let error = outbound.write_slice(b"late").unwrap_err();
        assert_eq!(error.raw_os_error(), Some(104));
    }
    assert!(outbound.is_closing());
}

#[test]
fn f10_idle_only_with_nothing_queued_or_in_flight() {
    let mut outbound = Outbound::default();
    assert!(outbound.is_idle());
    outbound.write_slice(b"abc").unwrap();
    assert!(!outbound.is_idle());
    let batch = outbound.next_send(8, usize::MAX).unwrap();
    assert!(!outbound.is_idle());
    outbound.complete_send(batch, 2);
    assert!(!outbound.is_idle());
    flush(&mut outbound, &mut Vec::new());
    assert!(outbound.is_idle());
}

#[test]
fn f4_pauses_and_resumes_at_every_crossing() {
    let mut outbound = controlled();
    outbound
        .set_write_buffer_limits(Some(100), Some(10))
        .unwrap();
    for round in 1..=3 {
        for _ in 0..50 {
            outbound.write_slice(&[0; 7]).unwrap();
        }
        assert!(
            outbound.paused,
            "round {round}: not paused over the high watermark"
        );
        // Drain in small sends: each crossing of the low watermark fires once.
        while let Some(batch) = outbound.next_send(8, 30) {
            outbound.complete_send(batch, 30);
        }
        assert!(
            !outbound.paused,
            "round {round}: not resumed at the low watermark"
        );
    }
}

#[test]
fn f4_zero_limits_pause_on_any_data_and_resume_when_empty() {
    let mut outbound = controlled();
    outbound.set_write_buffer_limits(Some(0), None).unwrap();
    outbound.write_slice(b"a").unwrap();
    outbound.write_slice(b"b").unwrap();
    assert!(outbound.paused);
    let batch = outbound.next_send(8, usize::MAX).unwrap();
    outbound.complete_send(batch, 1);
    assert!(outbound.paused);
    flush(&mut outbound, &mut Vec::new());
    assert!(!outbound.paused);
}

#[test]
fn short_sends_requeue_the_rest_in_order() {
    let mut outbound = Outbound::default();
    outbound.write_slice(b"hello ").unwrap();
    outbound.write(Bytes::from(vec![b'-'; 5000])).unwrap();
    outbound.write_slice(b" world").unwrap();
    let mut wire = Vec::new();
    for sent in [0, 3, 1, 4000, 1002, 1, 0, 1] {
        let batch = outbound.next_send(8, usize::MAX).unwrap();
        assert_eq!(transmit(&mut outbound, batch, sent, &mut wire), sent);
    }
    assert_eq!(outbound.write_buffer_size(), 5012 - 5008);
    flush(&mut outbound, &mut wire);
    assert_eq!(wire, [&b"hello "[..], &[b'-'; 5000], b" world"].concat());
}

#[test]
fn short_send_beyond_the_batch_is_capped() {
    let mut outbound = Outbound::default();
    outbound.write_slice(b"abc").unwrap();
    let batch = outbound.next_send(8, usize::MAX).unwrap();
    outbound.complete_send(batch, 1_000);
    assert!(outbound.is_idle());
}

#[test]
fn short_sends_and_interleaved_writes_reproduce_the_byte_stream() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut outbound = Outbound::default();
    let (mut input, mut wire) = (Vec::new(), Vec::new());
    let mut in_flight: Option<SendBatch> = None;
    for _ in 0..5000 {
        match rng.below(3) {
            0 => {
                let len = [
                    1 + rng.below(64),
                    COALESCE_BELOW - 1 + rng.below(3),
                    1 + rng.below(70_000),
                ][rng.below(3)];
                let data: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
                input.extend_from_slice(&data);
                if rng.below(2) == 0 {
                    outbound.write(Bytes::from(data)).unwrap();
                } else {
                    outbound.write_slice(&data).unwrap();
                }
            }
            1 => {
                let next = outbound.next_send(1 + rng.below(4), 1 + rng.below(50_000));
                if in_flight.is_some() {
                    assert!(next.is_none());
                } else {
                    in_flight = next;
                }
            }
            _ => {
                if let Some(batch) = in_flight.take() {
                    let sent = rng.below(batch.len() + 1);
                    transmit(&mut outbound, batch, sent, &mut wire);
                }
            }
        }
        assert_eq!(outbound.write_buffer_size(), input.len() - wire.len());
    }
    if let Some(batch) = in_flight {
        transmit(&mut outbound, batch, usize::MAX, &mut wire);
    }
    flush(&mut outbound, &mut wire);
    assert!(input.len() > 1_000_000);
    assert!(
        wire == input,
        "the bytes sent differ from the bytes written"
    );
}

fn poll_flush(outbound: &mut Outbound, probe: &WakeCounter, waiter: &mut Waiter) -> Poll<()> {
    outbound.poll_flush(&mut probe.cx(), waiter).map(|result| {
        result.unwrap();
    })
}

#[test]
fn f10_flush_waits_until_everything_is_handed_to_the_kernel() {
    let mut outbound = Outbound::default();
    let probe = WakeCounter::new();
    let mut waiter = Waiter::default();
    assert!(poll_flush(&mut outbound, &probe, &mut waiter).is_ready());
    // Far under the low watermark: a drain would return, a flush waits.
    outbound.write_slice(b"0123456789").unwrap();
    assert!(poll_flush(&mut outbound, &probe, &mut waiter).is_pending());
    let batch = outbound.next_send(usize::MAX, usize::MAX).unwrap();
    let mut wire = Vec::new();
    transmit(&mut outbound, batch, 4, &mut wire);
    assert_eq!(probe.wakes(), 0, "woken with 6 bytes still queued");
    assert!(poll_flush(&mut outbound, &probe, &mut waiter).is_pending());
    flush(&mut outbound, &mut wire);
    assert_eq!(probe.wakes(), 1);
    assert!(poll_flush(&mut outbound, &probe, &mut waiter).is_ready());
    assert_eq!(wire, b"0123456789");
}

#[test]
fn f6_flush_after_write_eof_waits_for_the_shutdown() {
    let mut outbound = Outbound::default();
    let probe = WakeCounter::new();
    let mut waiter = Waiter::default();
    outbound.write_slice(b"last").unwrap();
    outbound.write_eof();
    assert!(poll_flush(&mut outbound, &probe, &mut waiter).is_pending());
    flush(&mut outbound, &mut Vec::new());
    assert_eq!(probe.wakes(), 0, "woken before the FIN was sent");
    assert!(poll_flush(&mut outbound, &probe, &mut waiter).is_pending());
    outbound.shutdown_done();
    assert_eq!(probe.wakes(), 1);
    assert!(poll_flush(&mut outbound, &probe, &mut waiter).is_ready());
}

#[test]
fn f8_flush_after_abort_is_an_error() {
    let mut outbound = Outbound::default();
    let probe = WakeCounter::new();
    let mut waiter = Waiter::default();
    outbound.write_slice(b"dropped").unwrap();
    assert!(poll_flush(&mut outbound, &probe, &mut waiter).is_pending());
    outbound.abort();
    assert_eq!(probe.wakes(), 1);
    let result = ready(outbound.poll_flush(&mut probe.cx(), &mut waiter));
    assert_kind(result, io::ErrorKind::ConnectionReset);
}
