//! Tests of the inbound state machine, driven by hand (no runtime, no ring).

use super::*;
use crate::transport::test_support::{ready, WakeCounter};

fn inbound(limit: usize) -> Inbound {
    Inbound::new(limit).unwrap()
}

fn fed(limit: usize, data: &[u8]) -> Inbound {
    let mut inbound = inbound(limit);
    inbound.feed_data(data).unwrap();
    inbound
}

fn controlled(limit: usize) -> (Inbound, Flow) {
    let mut inbound = inbound(limit);
    inbound.enable_flow_control();
    (inbound, Flow::default())
}

/// What the transport sees of flow control, looked at after each step: "pause" when
/// the buffer turned paused, "resume" when a read resumed it.
#[derive(Default)]
struct Flow {
    paused: std::cell::Cell<bool>,
    calls: std::cell::RefCell<Vec<&'static str>>,
}

impl Flow {
    fn calls(&self, inbound: &mut Inbound) -> Vec<&'static str> {
        let mut calls = self.calls.borrow_mut();
        if inbound.take_resumed() {
            calls.push("resume");
        }
        if inbound.paused && !self.paused.get() {
            calls.push("pause");
        }
        self.paused.set(inbound.paused);
        calls.clone()
    }
}

fn reset() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "peer reset")
}

fn assert_io(result: Result<Bytes, StreamError>, kind: io::ErrorKind) {
    match result {
        Err(StreamError::Io(error)) => assert_eq!(error.kind(), kind),
        other => panic!("expected an {kind:?} error, got {other:?}"),
    }
}

fn assert_overrun(result: Result<Bytes, StreamError>, expected: usize) {
    match result {
        Err(StreamError::LimitOverrun { consumed }) => assert_eq!(consumed, expected),
        other => panic!("expected LimitOverrun {{ consumed: {expected} }}, got {other:?}"),
    }
}

fn assert_incomplete(result: Result<Bytes, StreamError>, data: &[u8], n: Option<usize>) {
    match result {
        Err(StreamError::IncompleteRead { partial, expected }) => {
            assert_eq!(&partial[..], data);
            assert_eq!(expected, n);
        }
        other => panic!("expected IncompleteRead, got {other:?}"),
    }
}

/// Reads everything left, to see exactly what a previous read left behind.
fn rest(inbound: &mut Inbound) -> Bytes {
    inbound.feed_eof();
    ready(inbound.poll_read_to_end(&mut WakeCounter::new().cx())).unwrap()
}

/// A lent receive buffer is handed out by `read(n)` as the same memory (no copy), in
/// order with data fed before and after it.
#[test]
fn a3_lent_bytes_are_read_without_a_copy_and_in_order() {
    let p = WakeCounter::new();
    let mut inbound = inbound(64);
    let lent = Bytes::from(b"0123456789".to_vec());
    let address = lent.as_ptr();
    inbound.feed_lent(lent).unwrap();
    assert_eq!(inbound.buffered_len(), 10);
    let first = ready(inbound.poll_read(&mut p.cx(), 4)).unwrap();
    assert_eq!(&first[..], b"0123");
    assert_eq!(first.as_ptr(), address, "read(n) copied the lent bytes");
    // Fed behind lent bytes: copied after them.
    inbound.feed_lent(Bytes::from_static(b"xy")).unwrap();
    assert_eq!(inbound.buffered_len(), 8);
    assert_eq!(
        &ready(inbound.poll_read(&mut p.cx(), 8)).unwrap()[..],
        b"456789xy"
    );
    inbound.feed_lent(Bytes::from(b"456789".to_vec())).unwrap();
    inbound.feed_data(b"ab").unwrap();
    inbound.feed_lent(Bytes::from_static(b"cd")).unwrap();
    assert_eq!(inbound.buffered_len(), 10);
    let all = ready(inbound.poll_read(&mut p.cx(), 100)).unwrap();
    assert_eq!(&all[..], b"456789abcd");
    assert!(inbound.is_empty());
}

/// Separator and exact reads see lent bytes as part of one contiguous buffer.
#[test]
fn d1_c1_reads_across_lent_and_copied_bytes() {
    let p = WakeCounter::new();
    let mut inbound = inbound(64);
    inbound
        .feed_lent(Bytes::from_static(b"GET / HTTP/1.1\r\nHo"))
        .unwrap();
    assert!(inbound
        .poll_read_until(&mut p.cx(), b"\r\n\r\n")
        .is_pending());
    inbound
        .feed_lent(Bytes::from_static(b"st: x\r\n\r\nline\nab"))
        .unwrap();
    let head = ready(inbound.poll_read_until(&mut p.cx(), b"\r\n\r\n")).unwrap();
    assert_eq!(&head[..], b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        &ready(inbound.poll_read_line(&mut p.cx())).unwrap()[..],
        b"line\n"
    );
    inbound.feed_lent(Bytes::from_static(b"cd")).unwrap();
    assert_eq!(
        &ready(inbound.poll_read_exact(&mut p.cx(), 4)).unwrap()[..],
        b"abcd"
    );
    inbound.feed_lent(Bytes::from_static(b"tail")).unwrap();
    assert_eq!(&rest(&mut inbound)[..], b"tail");
}

/// E4 counts lent bytes: pausing above 2 x limit, resuming once read down to the limit.
#[test]
fn e4_lent_bytes_count_towards_pausing_and_resuming() {
    let p = WakeCounter::new();
    let (mut inbound, control) = controlled(4);
    inbound
        .feed_lent(Bytes::from_static(b"0123456789"))
        .unwrap();
    assert_eq!(control.calls(&mut inbound), ["pause"]);
    ready(inbound.poll_read(&mut p.cx(), 5)).unwrap();
    assert_eq!(
        control.calls(&mut inbound),
        ["pause"],
        "resumed above the limit"
    );
    ready(inbound.poll_read(&mut p.cx(), 1)).unwrap();
    assert_eq!(control.calls(&mut inbound), ["pause", "resume"]);
}

#[test]
fn a1_zero_limit_is_invalid_input() {
    let error = Inbound::new(0).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(inbound(1).limit(), 1);
}

#[test]
fn a2_read_zero_returns_empty_at_once() {
    let p = WakeCounter::new();
    let mut inbound = inbound(8);
    assert!(ready(inbound.poll_read(&mut p.cx(), 0)).unwrap().is_empty());
    inbound.feed_data(b"abc").unwrap();
    assert!(ready(inbound.poll_read(&mut p.cx(), 0)).unwrap().is_empty());
    assert_eq!(inbound.buffered_len(), 3);
}

#[test]
fn a2_read_zero_raises_stored_error_first() {
    let mut inbound = fed(8, b"abc");
    inbound.set_exception(reset());
    let result = ready(inbound.poll_read(&mut WakeCounter::new().cx(), 0));
    assert_io(result, io::ErrorKind::ConnectionReset);
}

#[test]
fn a3_read_returns_what_is_buffered_without_waiting() {
    let mut inbound = fed(8, b"abc");
    let data = ready(inbound.poll_read(&mut WakeCounter::new().cx(), 100)).unwrap();
    assert_eq!(&data[..], b"abc");
}

#[test]
fn a3_read_waits_for_the_first_byte_only() {
    let p = WakeCounter::new();
    let mut inbound = inbound(8);
    assert!(inbound.poll_read(&mut p.cx(), 5).is_pending());
    inbound.feed_data(b"x").unwrap();
    assert_eq!(p.wakes(), 1);
    assert_eq!(&ready(inbound.poll_read(&mut p.cx(), 5)).unwrap()[..], b"x");
}

#[test]
fn a3_read_returns_at_most_n_and_keeps_the_rest() {
    let mut inbound = fed(8, b"abcdef");
    let data = ready(inbound.poll_read(&mut WakeCounter::new().cx(), 4)).unwrap();
    assert_eq!(&data[..], b"abcd");
    assert_eq!(&rest(&mut inbound)[..], b"ef");
}

#[test]
fn a4_read_at_eof_with_empty_buffer_is_empty() {
    let mut inbound = inbound(8);
    inbound.feed_eof();
    assert!(ready(inbound.poll_read(&mut WakeCounter::new().cx(), 5))
        .unwrap()
        .is_empty());
}

#[test]
fn a4_read_at_eof_returns_the_rest_up_to_n() {
    let p = WakeCounter::new();
    let mut inbound = fed(8, b"abcdef");
    inbound.feed_eof();
    assert_eq!(
        &ready(inbound.poll_read(&mut p.cx(), 4)).unwrap()[..],
        b"abcd"
    );
    assert_eq!(
        &ready(inbound.poll_read(&mut p.cx(), 4)).unwrap()[..],
        b"ef"
    );
    assert!(ready(inbound.poll_read(&mut p.cx(), 4)).unwrap().is_empty());
}

#[test]
fn a5_read_to_end_is_not_capped_by_limit() {
    let p = WakeCounter::new();
    let mut inbound = inbound(4);
    for _ in 0..25 {
        inbound.feed_data(b"0123").unwrap();
        assert!(inbound.poll_read_to_end(&mut p.cx()).is_pending());
    }
    inbound.feed_eof();
    assert_eq!(
        ready(inbound.poll_read_to_end(&mut p.cx())).unwrap().len(),
        100
    );
    assert!(inbound.at_eof());
}

#[test]
fn a6_stored_error_beats_buffered_data() {
    let p = WakeCounter::new();
    let mut inbound = fed(8, b"line\nmore");
    inbound.set_exception(reset());
    let kind = io::ErrorKind::ConnectionReset;
    assert_io(ready(inbound.poll_read(&mut p.cx(), 4)), kind);
    assert_io(ready(inbound.poll_read_to_end(&mut p.cx())), kind);
    assert_io(ready(inbound.poll_read_exact(&mut p.cx(), 2)), kind);
    assert_io(ready(inbound.poll_read_until(&mut p.cx(), b"\n")), kind);
    assert_io(ready(inbound.poll_read_line(&mut p.cx())), kind);
    assert_eq!(inbound.buffered_len(), 9);
}

#[test]
fn a6_stored_error_is_rebuilt_for_every_read() {
    let p = WakeCounter::new();
    let mut inbound = inbound(8);
    inbound.set_exception(reset());
    for _ in 0..2 {
        match ready(inbound.poll_read(&mut p.cx(), 1)) {
            Err(StreamError::Io(error)) => {
                assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);
                assert_eq!(error.to_string(), "peer reset");
            }
            other => panic!("expected the stored error, got {other:?}"),
        }
    }
    inbound.set_exception(io::Error::from_raw_os_error(104));
    match ready(inbound.poll_read(&mut p.cx(), 1)) {
        Err(StreamError::Io(error)) => assert_eq!(error.raw_os_error(), Some(104)),
        other => panic!("expected the OS error, got {other:?}"),
    }
}

#[test]
fn a7_waiting_reads_consume_nothing() {
    let p = WakeCounter::new();
    let mut inbound = fed(16, b"abc");
    assert!(inbound.poll_read_exact(&mut p.cx(), 5).is_pending());
    assert!(inbound.poll_read_until(&mut p.cx(), b"\n").is_pending());
    assert!(inbound
        .poll_read_until_any(&mut p.cx(), &[b"\r\n", b"x"])
        .is_pending());
    assert!(inbound.poll_read_line(&mut p.cx()).is_pending());
    assert!(inbound.poll_read_to_end(&mut p.cx()).is_pending());
    inbound.cancel_read();
    assert_eq!(&rest(&mut inbound)[..], b"abc");
}

#[test]
fn b1_read_line_includes_newline() {
    let p = WakeCounter::new();
    let mut inbound = fed(16, b"one\ntwo\n");
    assert_eq!(
        &ready(inbound.poll_read_line(&mut p.cx())).unwrap()[..],
        b"one\n"
    );
    assert_eq!(
        &ready(inbound.poll_read_line(&mut p.cx())).unwrap()[..],
        b"two\n"
    );
    assert!(inbound.poll_read_line(&mut p.cx()).is_pending());
}

#[test]
fn b1_read_line_at_eof_returns_partial_then_empty() {
    let p = WakeCounter::new();
    let mut inbound = fed(16, b"tail");
    inbound.feed_eof();
    assert_eq!(
        &ready(inbound.poll_read_line(&mut p.cx())).unwrap()[..],
        b"tail"
    );
    assert!(ready(inbound.poll_read_line(&mut p.cx()))
        .unwrap()
        .is_empty());
    assert!(ready(inbound.poll_read_line(&mut p.cx()))
        .unwrap()
        .is_empty());
}

#[test]
fn b2_line_of_exactly_limit_is_ok() {
    let mut inbound = fed(7, b"1234567\n");
    let line = ready(inbound.poll_read_line(&mut WakeCounter::new().cx())).unwrap();
    assert_eq!(&line[..], b"1234567\n");
}

#[test]
fn b2_line_over_limit_is_overrun() {
    let mut inbound = fed(7, b"12345678\n");
    assert_overrun(
        ready(inbound.poll_read_line(&mut WakeCounter::new().cx())),
        8,
    );
}

#[test]
fn b3_overrun_discards_through_newline_keeps_later_data() {
    let mut inbound = fed(4, b"toolong\nnext\n");
    assert_overrun(
        ready(inbound.poll_read_line(&mut WakeCounter::new().cx())),
        7,
    );
    assert_eq!(&rest(&mut inbound)[..], b"next\n");
}

#[test]
fn b4_overrun_without_newline_clears_buffer() {
    let mut inbound = fed(4, b"0123456789");
    assert_overrun(
        ready(inbound.poll_read_line(&mut WakeCounter::new().cx())),
        10,
    );
    assert_eq!(inbound.buffered_len(), 0);
    inbound.feed_data(b"ok\n").unwrap();
    let line = ready(inbound.poll_read_line(&mut WakeCounter::new().cx())).unwrap();
    assert_eq!(&line[..], b"ok\n");
}

#[test]
fn b5_line_overrun_wins_over_eof() {
    let mut inbound = fed(4, b"0123456789");
    inbound.feed_eof();
    assert_overrun(
        ready(inbound.poll_read_line(&mut WakeCounter::new().cx())),
        10,
    );
    assert!(inbound.at_eof());
}

#[test]
fn c1_read_exact_zero_is_empty_after_error_check() {
    let p = WakeCounter::new();
    let mut inbound = inbound(8);
    assert!(ready(inbound.poll_read_exact(&mut p.cx(), 0))
        .unwrap()
        .is_empty());
    inbound.set_exception(reset());
    assert_io(
        ready(inbound.poll_read_exact(&mut p.cx(), 0)),
        io::ErrorKind::ConnectionReset,
    );
}

#[test]
fn c2_read_exact_returns_n_and_leaves_the_rest() {
    let p = WakeCounter::new();
    let mut inbound = fed(2, b"abcdefgh");
    assert_eq!(
        &ready(inbound.poll_read_exact(&mut p.cx(), 5)).unwrap()[..],
        b"abcde"
    );
    assert_eq!(&rest(&mut inbound)[..], b"fgh");
}

#[test]
fn c2_read_exact_beyond_twice_limit_keeps_reading() {
    let p = WakeCounter::new();
    let (mut inbound, control) = controlled(4);
    assert!(inbound.poll_read_exact(&mut p.cx(), 20).is_pending());
    for _ in 0..5 {
        inbound.feed_data(b"0123").unwrap();
    }
    assert!(
        control.calls(&mut inbound).is_empty(),
        "paused while read_exact waits"
    );
    assert_eq!(
        ready(inbound.poll_read_exact(&mut p.cx(), 20))
            .unwrap()
            .len(),
        20
    );
}

#[test]
fn c2_read_exact_resumes_paused_reading() {
    let p = WakeCounter::new();
    let (mut inbound, control) = controlled(4);
    inbound.feed_data(b"0123456789").unwrap();
    assert_eq!(control.calls(&mut inbound), ["pause"]);
    assert!(inbound.poll_read_exact(&mut p.cx(), 30).is_pending());
    assert_eq!(control.calls(&mut inbound), ["pause", "resume"]);
    inbound.feed_data(&[b'x'; 20]).unwrap();
    assert_eq!(control.calls(&mut inbound), ["pause", "resume"]);
    assert_eq!(
        ready(inbound.poll_read_exact(&mut p.cx(), 30))
            .unwrap()
            .len(),
        30
    );
}

#[test]
fn c3_eof_before_n_is_incomplete_read_and_clears() {
    let mut inbound = fed(8, b"abc");
    inbound.feed_eof();
    let result = ready(inbound.poll_read_exact(&mut WakeCounter::new().cx(), 5));
    assert_incomplete(result, b"abc", Some(5));
    assert!(inbound.at_eof());
}

#[test]
fn c4_read_exact_consumes_nothing_until_n_bytes() {
    let p = WakeCounter::new();
    let mut inbound = fed(8, b"abc");
    assert!(inbound.poll_read_exact(&mut p.cx(), 5).is_pending());
    assert_eq!(inbound.buffered_len(), 3);
    inbound.feed_data(b"de").unwrap();
    assert_eq!(
        &ready(inbound.poll_read_exact(&mut p.cx(), 5)).unwrap()[..],
        b"abcde"
    );
}

#[test]
fn d1_empty_separator_is_invalid_input() {
    let p = WakeCounter::new();
    let mut inbound = fed(8, b"abc");
    let kind = io::ErrorKind::InvalidInput;
    assert_io(ready(inbound.poll_read_until(&mut p.cx(), b"")), kind);
    assert_io(
        ready(inbound.poll_read_until_any(&mut p.cx(), &[b"\n", b""])),
        kind,
    );
    assert_eq!(inbound.buffered_len(), 3);
}

#[test]
fn d1_empty_separator_list_is_invalid_input() {
    let mut inbound = fed(8, b"abc");
    let result = ready(inbound.poll_read_until_any(&mut WakeCounter::new().cx(), &[]));
    assert_io(result, io::ErrorKind::InvalidInput);
}

#[test]
fn d2_read_until_returns_data_and_separator() {
    let mut inbound = fed(16, b"key: value\r\nrest");
    let data = ready(inbound.poll_read_until(&mut WakeCounter::new().cx(), b"\r\n")).unwrap();
    assert_eq!(&data[..], b"key: value\r\n");
    assert_eq!(&rest(&mut inbound)[..], b"rest");
}

#[test]
fn d3_eof_without_match_is_incomplete_read() {
    let mut inbound = fed(16, b"abc\r");
    inbound.feed_eof();
    let result = ready(inbound.poll_read_until(&mut WakeCounter::new().cx(), b"\r\n"));
    assert_incomplete(result, b"abc\r", None);
    assert!(inbound.at_eof());
}

#[test]
fn d3_match_completed_by_the_last_chunk_succeeds() {
    let p = WakeCounter::new();
    let mut inbound = fed(16, b"abc\r");
    assert!(inbound.poll_read_until(&mut p.cx(), b"\r\n").is_pending());
    inbound.feed_data(b"\n").unwrap();
    inbound.feed_eof();
    let data = ready(inbound.poll_read_until(&mut p.cx(), b"\r\n")).unwrap();
    assert_eq!(&data[..], b"abc\r\n");
}

#[test]
fn d4_separator_after_limit_is_overrun() {
    let mut inbound = fed(4, b"abcdef\r\n");
    let result = ready(inbound.poll_read_until(&mut WakeCounter::new().cx(), b"\r\n"));
    assert_overrun(result, 6);
    assert_eq!(inbound.buffered_len(), 8);
}

#[test]
fn d4_separator_starting_at_limit_is_ok() {
    let mut inbound = fed(4, b"abcd\r\n");
    let data = ready(inbound.poll_read_until(&mut WakeCounter::new().cx(), b"\r\n")).unwrap();
    assert_eq!(&data[..], b"abcd\r\n");
}

#[test]
fn d5_no_separator_past_limit_is_overrun() {
    // limit 4, longest separator 3: overrun once the buffer holds more than 6 bytes.
    let p = WakeCounter::new();
    let mut inbound = fed(4, b"abcdef");
    let separators: &[&[u8]] = &[b"\r\n", b"END"];
    assert!(inbound
        .poll_read_until_any(&mut p.cx(), separators)
        .is_pending());
    inbound.feed_data(b"gh").unwrap();
    let result = ready(inbound.poll_read_until_any(&mut p.cx(), separators));
    assert_overrun(result, 8 + 1 - 3);
}

#[test]
fn d6_overrun_consumes_nothing_and_wins_over_eof() {
    let p = WakeCounter::new();
    let mut inbound = fed(4, b"abcdefgh");
    inbound.feed_eof();
    assert_overrun(ready(inbound.poll_read_until(&mut p.cx(), b"\n")), 8);
    assert_overrun(ready(inbound.poll_read_until(&mut p.cx(), b"\n")), 8);
    assert_eq!(inbound.buffered_len(), 8);
    assert_eq!(
        &ready(inbound.poll_read_exact(&mut p.cx(), 8)).unwrap()[..],
        b"abcdefgh"
    );
}

#[test]
fn d7_separator_split_across_chunks_is_found() {
    let separator = b"<END>";
    for split in 1..separator.len() {
        let p = WakeCounter::new();
        let mut inbound = fed(64, b"payload");
        inbound.feed_data(&separator[..split]).unwrap();
        assert!(inbound.poll_read_until(&mut p.cx(), separator).is_pending());
        inbound.feed_data(&separator[split..]).unwrap();
        let data = ready(inbound.poll_read_until(&mut p.cx(), separator)).unwrap();
        assert_eq!(&data[..], b"payload<END>", "split at {split}");
    }
}

#[test]
fn d7_other_reads_between_searches_keep_results_right() {
    let p = WakeCounter::new();
    let mut inbound = fed(64, b"abcdef");
    assert!(inbound.poll_read_until(&mut p.cx(), b"\n").is_pending());
    assert_eq!(
        &ready(inbound.poll_read(&mut p.cx(), 2)).unwrap()[..],
        b"ab"
    );
    inbound.feed_data(b"\n").unwrap();
    let data = ready(inbound.poll_read_until(&mut p.cx(), b"\n")).unwrap();
    assert_eq!(&data[..], b"cdef\n");
}

#[test]
fn d8_earliest_ending_match_wins() {
    let mut inbound = fed(16, b"ABCDEFG");
    let separators: &[&[u8]] = &[b"DEF", b"BCDE"];
    let data = ready(inbound.poll_read_until_any(&mut WakeCounter::new().cx(), separators));
    assert_eq!(&data.unwrap()[..], b"ABCDE");
    assert_eq!(&rest(&mut inbound)[..], b"FG");
}

#[test]
fn e1_at_eof_needs_eof_and_empty_buffer() {
    let mut inbound = fed(8, b"a");
    assert!(!inbound.at_eof());
    inbound.feed_eof();
    assert!(!inbound.at_eof());
    ready(inbound.poll_read(&mut WakeCounter::new().cx(), 1)).unwrap();
    assert!(inbound.at_eof());
}

#[test]
#[cfg_attr(debug_assertions, should_panic(expected = "feed_data after feed_eof"))]
fn e2_feed_after_eof_is_rejected() {
    let mut inbound = fed(8, b"a");
    inbound.feed_eof();
    assert!(inbound.feed_bytes(Bytes::from_static(b"b")).is_err());
    assert!(inbound.feed_data(b"c").is_err());
    assert_eq!(inbound.buffered_len(), 1);
}

#[test]
fn e3_feed_data_wakes_pending_read() {
    let p = WakeCounter::new();
    let mut inbound = inbound(8);
    assert!(inbound.poll_read_line(&mut p.cx()).is_pending());
    inbound.feed_data(b"").unwrap();
    assert_eq!(p.wakes(), 0, "empty data woke the reader");
    inbound.feed_data(b"a").unwrap();
    assert_eq!(p.wakes(), 1);
    assert!(inbound.poll_read_line(&mut p.cx()).is_pending());
    inbound.feed_bytes(Bytes::from_static(b"\n")).unwrap();
    assert_eq!(p.wakes(), 2);
    assert_eq!(
        &ready(inbound.poll_read_line(&mut p.cx())).unwrap()[..],
        b"a\n"
    );
}

#[test]
fn e3_feed_eof_wakes_pending_read() {
    let p = WakeCounter::new();
    let mut inbound = inbound(8);
    assert!(inbound.poll_read_exact(&mut p.cx(), 2).is_pending());
    inbound.feed_eof();
    assert_eq!(p.wakes(), 1);
    assert_incomplete(ready(inbound.poll_read_exact(&mut p.cx(), 2)), b"", Some(2));
}

#[test]
fn e3_set_exception_wakes_pending_read() {
    let p = WakeCounter::new();
    let mut inbound = inbound(8);
    assert!(inbound.poll_read(&mut p.cx(), 2).is_pending());
    inbound.set_exception(reset());
    assert_eq!(p.wakes(), 1);
    assert_io(
        ready(inbound.poll_read(&mut p.cx(), 2)),
        io::ErrorKind::ConnectionReset,
    );
}

#[test]
fn e3_error_after_wake_by_data_does_not_hang() {
    let p = WakeCounter::new();
    let mut inbound = inbound(8);
    assert!(inbound.poll_read_exact(&mut p.cx(), 4).is_pending());
    inbound.feed_data(b"ab").unwrap();
    inbound.set_exception(reset());
    assert_eq!(p.wakes(), 1);
    let result = ready(inbound.poll_read_exact(&mut p.cx(), 4));
    assert_io(result, io::ErrorKind::ConnectionReset);
}

#[test]
fn e4_pauses_once_above_twice_limit() {
    let (mut inbound, control) = controlled(4);
    inbound.feed_data(b"01234567").unwrap();
    assert!(
        control.calls(&mut inbound).is_empty(),
        "paused at exactly 2 x limit"
    );
    inbound.feed_data(b"8").unwrap();
    inbound.feed_data(b"9").unwrap();
    assert_eq!(control.calls(&mut inbound), ["pause"]);
}

#[test]
fn e4_resumes_once_drained_to_limit() {
    let p = WakeCounter::new();
    let (mut inbound, control) = controlled(4);
    inbound.feed_data(b"0123456789").unwrap();
    ready(inbound.poll_read(&mut p.cx(), 5)).unwrap();
    assert_eq!(
        control.calls(&mut inbound),
        ["pause"],
        "resumed above the limit"
    );
    ready(inbound.poll_read(&mut p.cx(), 1)).unwrap();
    assert_eq!(control.calls(&mut inbound), ["pause", "resume"]);
    ready(inbound.poll_read(&mut p.cx(), 1)).unwrap();
    assert_eq!(control.calls(&mut inbound), ["pause", "resume"]);
}

#[test]
fn e4_dropped_read_to_end_lets_reading_pause_again() {
    let p = WakeCounter::new();
    let (mut inbound, control) = controlled(4);
    assert!(inbound.poll_read_to_end(&mut p.cx()).is_pending());
    inbound.feed_data(&[b'x'; 20]).unwrap();
    assert!(control.calls(&mut inbound).is_empty());
    inbound.cancel_read();
    inbound.feed_data(b"y").unwrap();
    assert_eq!(control.calls(&mut inbound), ["pause"]);
}

#[test]
fn e4_waiting_read_until_with_long_separator_resumes_reading() {
    // A separator longer than the limit: pausing at 2 x limit must not strand the read.
    let p = WakeCounter::new();
    let (mut inbound, control) = controlled(2);
    inbound.feed_data(b"abcde").unwrap();
    assert_eq!(control.calls(&mut inbound), ["pause"]);
    let separator = b"--boundary--";
    assert!(inbound.poll_read_until(&mut p.cx(), separator).is_pending());
    assert_eq!(control.calls(&mut inbound), ["pause", "resume"]);
    inbound.feed_data(separator).unwrap();
    assert_eq!(control.calls(&mut inbound), ["pause", "resume", "pause"]);
    assert_overrun(ready(inbound.poll_read_until(&mut p.cx(), separator)), 5);
}

#[test]
fn feed_bytes_adopts_a_unique_buffer_without_copying() {
    let data = Bytes::from(b"hello\n".to_vec());
    let address = data.as_ptr();
    let mut inbound = inbound(8);
    inbound.feed_bytes(data).unwrap();
    let line = ready(inbound.poll_read_line(&mut WakeCounter::new().cx())).unwrap();
    assert_eq!(line.as_ptr(), address);
}

/// Feeds `chunks` one at a time, polling `read` after each; returns the first result.
fn read_fed(
    inbound: &mut Inbound,
    chunks: &[&[u8]],
    mut read: impl FnMut(&mut Inbound, &mut Context<'_>) -> Poll<Result<Bytes, StreamError>>,
) -> Result<Bytes, StreamError> {
    let p = WakeCounter::new();
    for chunk in chunks {
        inbound.feed_data(chunk).unwrap();
        if let Poll::Ready(result) = read(inbound, &mut p.cx()) {
            return result;
        }
    }
    panic!("still pending after every chunk");
}

#[test]
fn b1_read_line_newline_in_a_later_feed() {
    let mut inbound = inbound(64);
    let chunks: &[&[u8]] = &[b"ab", b"cd", b"", b"e\nf"];
    let line = read_fed(&mut inbound, chunks, |i, cx| i.poll_read_line(cx));
    assert_eq!(&line.unwrap()[..], b"abcde\n");
    assert_eq!(&rest(&mut inbound)[..], b"f");
}

#[test]
fn d7_single_byte_separator_split_across_feeds() {
    let mut inbound = inbound(64);
    let chunks: &[&[u8]] = &[b"ab", b"c", b"|de|"];
    let data = read_fed(&mut inbound, chunks, |i, cx| i.poll_read_until(cx, b"|"));
    assert_eq!(&data.unwrap()[..], b"abc|");
    let data = ready(inbound.poll_read_until(&mut WakeCounter::new().cx(), b"|"));
    assert_eq!(&data.unwrap()[..], b"de|");
}

#[test]
fn d7_two_byte_separator_first_byte_ends_a_feed() {
    // False hits first: a lone `\r`, a lone `\n`, then `\r` | `\n` across two feeds.
    let mut inbound = inbound(64);
    let chunks: &[&[u8]] = &[b"a\rb\nc\r", b"\nnext"];
    let data = read_fed(&mut inbound, chunks, |i, cx| i.poll_read_until(cx, b"\r\n"));
    assert_eq!(&data.unwrap()[..], b"a\rb\nc\r\n");
    assert_eq!(&rest(&mut inbound)[..], b"next");
}

#[test]
fn d7_short_separators_split_at_every_byte() {
    for separator in [&b"\r\n"[..], b"END", b"\r\n\r\n", b"12345678", b"123456789"] {
        for split in 1..separator.len() {
            let mut inbound = inbound(64);
            let (head, tail) = separator.split_at(split);
            let first = [&b"x"[..], head].concat();
            let chunks: &[&[u8]] = &[&first, tail, b"y"];
            let data = read_fed(&mut inbound, chunks, |i, cx| {
                i.poll_read_until(cx, separator)
            });
            assert_eq!(&data.unwrap()[1..], separator, "split at {split}");
            assert_eq!(inbound.buffered_len(), 0);
        }
    }
}

#[test]
fn a7_dropped_read_line_then_other_reads_then_more_data() {
    // The dropped read_line left its resume point at the end of "abcdef"; a read in
    // between moves the buffer's front, and the next read_line must still see everything.
    let p = WakeCounter::new();
    let mut inbound = fed(64, b"abcdef");
    assert!(inbound.poll_read_line(&mut p.cx()).is_pending());
    inbound.cancel_read();
    assert_eq!(
        &ready(inbound.poll_read(&mut p.cx(), 2)).unwrap()[..],
        b"ab"
    );
    inbound.feed_data(b"gh\nij\n").unwrap();
    let line = ready(inbound.poll_read_line(&mut p.cx())).unwrap();
    assert_eq!(&line[..], b"cdefgh\n");
    let line = ready(inbound.poll_read_line(&mut p.cx())).unwrap();
    assert_eq!(&line[..], b"ij\n");
}

#[test]
fn a7_dropped_read_until_then_a_read_with_another_separator() {
    // A resume point computed for one separator is not used for another: "X" was
    // searched up to the end, but the `\n` and `\r\n` before it must still be found.
    let p = WakeCounter::new();
    let mut inbound = fed(64, b"ab\r\ncd\nef");
    assert!(inbound.poll_read_until(&mut p.cx(), b"X").is_pending());
    inbound.cancel_read();
    let data = ready(inbound.poll_read_until(&mut p.cx(), b"\r\n")).unwrap();
    assert_eq!(&data[..], b"ab\r\n");
    assert!(inbound.poll_read_until(&mut p.cx(), b"XY").is_pending());
    inbound.cancel_read();
    let line = ready(inbound.poll_read_line(&mut p.cx())).unwrap();
    assert_eq!(&line[..], b"cd\n");
    assert!(inbound
        .poll_read_until_any(&mut p.cx(), &[b"X", b"YZ"])
        .is_pending());
    inbound.cancel_read();
    inbound.feed_data(b"\n").unwrap();
    let line = ready(inbound.poll_read_line(&mut p.cx())).unwrap();
    assert_eq!(&line[..], b"ef\n");
}

#[test]
fn d8_mixed_one_and_three_byte_separators() {
    let separators: &[&[u8]] = &[b"|", b"END"];
    let mut inbound = inbound(64);
    let chunks: &[&[u8]] = &[b"abEN", b"D|x"];
    let data = read_fed(&mut inbound, chunks, |i, cx| {
        i.poll_read_until_any(cx, separators)
    });
    assert_eq!(&data.unwrap()[..], b"abEND");
    let data = ready(inbound.poll_read_until_any(&mut WakeCounter::new().cx(), separators));
    assert_eq!(&data.unwrap()[..], b"|");
    let chunks: &[&[u8]] = &[b"E", b"N", b"D|"];
    let data = read_fed(&mut inbound, chunks, |i, cx| {
        i.poll_read_until_any(cx, separators)
    });
    assert_eq!(&data.unwrap()[..], b"xEND");
    assert_eq!(&rest(&mut inbound)[..], b"|");
}

#[test]
fn d4_d5_limits_with_a_resumed_two_byte_search() {
    // limit 4: the search resumes across feeds; a separator found at 5 > 4 is an overrun
    // that consumes nothing.
    let p = WakeCounter::new();
    let mut inbound = fed(4, b"abc");
    assert!(inbound.poll_read_until(&mut p.cx(), b"\r\n").is_pending());
    inbound.feed_data(b"de\r\n").unwrap();
    assert_overrun(ready(inbound.poll_read_until(&mut p.cx(), b"\r\n")), 5);
    assert_eq!(inbound.buffered_len(), 7);
    // D5: no separator and more than limit + 1 bytes: consumed = len + 1 - 2.
    let mut inbound = fed(4, b"abcd\r");
    assert!(inbound.poll_read_until(&mut p.cx(), b"\r\n").is_pending());
    inbound.feed_data(b"e").unwrap();
    assert_overrun(ready(inbound.poll_read_until(&mut p.cx(), b"\r\n")), 5);
}

#[test]
fn b2_b3_overrun_found_by_a_resumed_line_search() {
    let p = WakeCounter::new();
    let mut inbound = fed(4, b"abcd");
    assert!(inbound.poll_read_line(&mut p.cx()).is_pending());
    inbound.feed_data(b"e\nok\n").unwrap();
    assert_overrun(ready(inbound.poll_read_line(&mut p.cx())), 5);
    let line = ready(inbound.poll_read_line(&mut p.cx())).unwrap();
    assert_eq!(&line[..], b"ok\n");
}

#[test]
fn read_line_fast_path_releases_the_waker_and_resumes_reading() {
    // A read that waited, then finished on the fast path, leaves no waker behind, and the
    // fast path resumes paused reading once the buffer is down to the limit (E4).
    let p = WakeCounter::new();
    let (mut inbound, control) = controlled(4);
    assert!(inbound.poll_read_line(&mut p.cx()).is_pending());
    inbound.feed_data(b"ab\ncd\nefgh").unwrap();
    assert_eq!((p.wakes(), control.calls(&mut inbound)), (1, vec!["pause"]));
    let line = ready(inbound.poll_read_line(&mut p.cx())).unwrap();
    assert_eq!(&line[..], b"ab\n");
    assert_eq!(
        control.calls(&mut inbound),
        ["pause"],
        "resumed above the limit"
    );
    let line = ready(inbound.poll_read_line(&mut p.cx())).unwrap();
    assert_eq!(&line[..], b"cd\n");
    assert_eq!(control.calls(&mut inbound), ["pause", "resume"]);
    inbound.feed_data(b"\n").unwrap();
    assert_eq!(p.wakes(), 1, "a finished read was woken");
}

/// A burst grows the buffer past `KEPT_CAPACITY`; once it is read empty its allocation
/// is released, so the next small message starts a small buffer rather than reclaiming
/// the burst's.
#[test]
fn burst_buffer_is_released_once_read_empty() {
    let p = WakeCounter::new();
    let mut inbound = inbound(1 << 20);
    for _ in 0..100 {
        inbound.feed_data(&[b'x'; 1000]).unwrap();
    }
    assert!(
        inbound.buf.capacity() > KEPT_CAPACITY,
        "no burst to release"
    );
    while !inbound.is_empty() {
        drop(ready(inbound.poll_read(&mut p.cx(), 30_000)).unwrap());
    }
    inbound.feed_data(b"next\n").unwrap();
    assert!(
        !inbound.has_room_for(KEPT_CAPACITY + 1),
        "the empty buffer kept the burst's allocation"
    );
    assert_eq!(
        &ready(inbound.poll_read_line(&mut p.cx())).unwrap()[..],
        b"next\n"
    );
}

/// Below `KEPT_CAPACITY` an emptied buffer is kept: small messages reuse its memory.
#[test]
fn small_buffer_is_kept_and_reused_once_read_empty() {
    let p = WakeCounter::new();
    let mut inbound = inbound(1024);
    inbound.feed_data(&[1; 64]).unwrap();
    drop(ready(inbound.poll_read_exact(&mut p.cx(), 64)).unwrap());
    assert!(
        inbound.has_room_for(64),
        "the small buffer was released: the next message allocates"
    );
}

#[test]
fn idle_inbound_stays_small() {
    // benches/idle_memory.rs: the inbound state is one allocation per connection.
    assert!(
        std::mem::size_of::<Inbound>() <= 128,
        "{}",
        std::mem::size_of::<Inbound>()
    );
}
