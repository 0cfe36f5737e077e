//! Line-parsing throughput over in-memory input: ringstream's `StreamReader` next to
//! tokio's `BufReader`, in the same run, under the same criterion settings.
//!
//! Every criterion iteration parses one whole input of about 4 MiB, and the throughput line
//! is input bytes per second (MiB/s). Each iteration counts the lines and bytes it got and
//! checks every line's terminator, and asserts the totals, so a broken parser fails the
//! bench instead of measuring nothing.
//!
//! # Inputs
//!
//! Lines of 64 bytes or of 1 KiB, terminator included, with non-newline ASCII content (a
//! repeating `a-z0-9` pattern, so tokio's UTF-8 `read_line` accepts it too). The input starts
//! with one 37-byte line: it shifts every chunk boundary off the line boundaries, so that, as
//! on a socket, chunks end mid-line and every parser has to carry a partial line over to the
//! next chunk (with lines that divide 64 KiB, chunks would otherwise end exactly on a line).
//!
//! # Groups
//!
//! - `parse/read_line_64B`, `parse/read_line_1KiB`: lines ending in `\n`.
//! - `parse/read_until_crlf_64B`, `parse/read_until_crlf_1KiB`: lines ending in `\r\n`, read
//!   with a 2-byte separator.
//!
//! # Functions
//!
//! - `ringstream`: a reader from `StreamReader::with_feeder(DEFAULT_LIMIT)` (64 KiB limit).
//!   A spawned reader task loops on `read_line()` (or `read_until(b"\r\n")`) until EOF, the
//!   way a connection task does. The `block_on` future plays the socket: it copies the input
//!   in with `feed_data` one 64 KiB chunk at a time and yields after each chunk, so the
//!   reader task parses every complete line of a chunk, parks on the partial line left, and
//!   is woken by the next chunk. `feed_data` copies the chunk into the reader's buffer, like
//!   a `BufReader` filling its buffer from a slice: one copy of the input on each side.
//!   Lines come back as `Bytes` slices of that buffer, not copied again.
//! - `ringstream_8k_chunks`: the same, in 8 KiB chunks (tokio's default `BufReader` fill).
//! - `tokio_bufreader_8k` / `tokio_bufreader_64k`: `tokio::io::BufReader::with_capacity` of
//!   8 KiB (tokio's default) or 64 KiB over the input `&[u8]` (tokio implements `AsyncRead`
//!   for it), so it is filled in chunks of its capacity, read with
//!   `AsyncBufReadExt::read_until(b'\n', &mut Vec<u8>)` into one reused `Vec`. **This is the
//!   apples-to-apples baseline for ringstream's `read_line`**: both return the raw bytes of
//!   the line. (tokio copies every line into the `Vec`; ringstream hands out a slice of its
//!   buffer, an atomic refcount instead of a copy.)
//!   In the `\r\n` groups tokio has no multi-byte `read_until`: it reads to `b'\n'` and
//!   checks that the byte before is `b'\r'`, the usual way to parse CRLF lines with tokio.
//!   That is the same result as `read_until(b"\r\n")` on this input (it has no lone `\n`),
//!   but a cheaper search (`memchr` of one byte instead of a two-byte substring search).
//! - `tokio_bufreader_8k_read_line_string` (the `\n` groups only):
//!   `AsyncBufReadExt::read_line(&mut String)` with the default 8 KiB `BufReader`: what most
//!   tokio code calls, but it also validates UTF-8, so it is not the like-for-like one.
//!
//! Each runtime is built once, outside the measured code: a `ringstream::Runtime` and a
//! tokio `current_thread` runtime; every iteration is one `block_on`. On the ringstream
//! side that adds one task spawn per iteration and one task switch per chunk (64 per 4 MiB
//! in 64 KiB chunks), which is noise next to parsing 64 KiB.
//!
//! Run it (about 75 seconds):
//!
//! ```text
//! cargo bench --bench parse
//! ```
//!
//! or one group / one function with a filter: `cargo bench --bench parse -- read_line_64B`
//! or `cargo bench --bench parse -- /ringstream`.
//!
//! On AMD Zen CPUs with FSRM, glibc's `memcpy` uses `rep movsb` for copies this size, which
//! runs about 15x slower when the destination sits 16 bytes past the source modulo 4 KiB.
//! Whether a buffer lands there depends on where `malloc` places it, so one function can
//! come out several times slower in one run and not in the next (seen with glibc 2.36 on
//! an AMD EPYC: tokio's 64 KiB `BufReader` fill ran at about 2 GiB/s). Where the numbers
//! jump between runs, compare with `rep movsb` off:
//!
//! ```text
//! GLIBC_TUNABLES=glibc.cpu.x86_rep_movsb_threshold=4294967295 cargo bench --bench parse
//! ```

use std::hint::black_box;
use std::io;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use ringstream::{StreamError, StreamReader};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};

/// Approximate size of one input: the bytes parsed per criterion iteration.
const INPUT_BYTES: usize = 4 << 20;
/// Length of the input's first line (terminator included): off the chunk alignment.
const FIRST_LINE: usize = 37;
/// Chunk size the ringstream reader is fed in, and the big tokio `BufReader` capacity.
const CHUNK_64K: usize = 64 * 1024;
/// tokio's default `BufReader` capacity, and the small ringstream chunk size.
const CHUNK_8K: usize = 8 * 1024;
/// Content bytes of every line, repeated: no `\r`, no `\n`, valid UTF-8.
const PATTERN: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// How lines end.
#[derive(Clone, Copy, Debug)]
enum Terminator {
    /// `\n`, read with `read_line`.
    Lf,
    /// `\r\n`, read with `read_until(b"\r\n")`.
    CrLf,
}

impl Terminator {
    fn bytes(self) -> &'static [u8] {
        match self {
            Terminator::Lf => b"\n",
            Terminator::CrLf => b"\r\n",
        }
    }
}

/// What a parse saw: the lines and their bytes (terminators included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tally {
    lines: u64,
    bytes: u64,
}

impl Tally {
    /// Counts one line, after checking that it ends in `terminator` (a slice pattern, not
    /// `ends_with`, which calls `memcmp` for every line).
    fn add(&mut self, line: &[u8], terminator: Terminator) {
        let terminated = match terminator {
            Terminator::Lf => matches!(line, [.., b'\n']),
            Terminator::CrLf => matches!(line, [.., b'\r', b'\n']),
        };
        assert!(
            terminated,
            "line {} does not end in {:?}: {:?}",
            self.lines,
            String::from_utf8_lossy(terminator.bytes()),
            String::from_utf8_lossy(&line[line.len().saturating_sub(80)..]),
        );
        self.lines += 1;
        self.bytes += line.len() as u64;
    }
}

/// One input and what parsing it must give.
struct Input {
    data: Vec<u8>,
    expected: Tally,
}

/// A first line of `FIRST_LINE` bytes, then as many `line_len`-byte lines as fit in
/// `INPUT_BYTES`, every one ending in `terminator`.
fn make_input(line_len: usize, terminator: Terminator) -> Input {
    let term = terminator.bytes();
    let mut data = Vec::with_capacity(INPUT_BYTES);
    let mut expected = Tally::default();
    let mut push_line = |data: &mut Vec<u8>, len: usize| {
        let start = data.len();
        let content = len - term.len();
        data.extend((0..content).map(|i| PATTERN[(start + i) % PATTERN.len()]));
        data.extend_from_slice(term);
        expected.lines += 1;
        expected.bytes += len as u64;
    };
    push_line(&mut data, FIRST_LINE);
    while data.len() + line_len <= INPUT_BYTES {
        push_line(&mut data, line_len);
    }
    assert_eq!(expected.bytes, data.len() as u64);
    Input { data, expected }
}

// ---------------------------------------------------------------------------------------
// ringstream

/// Parses `input` with a fed `StreamReader`, fed in chunks of `chunk` bytes.
fn ringstream_parse(
    rt: &ringstream::Runtime,
    input: &[u8],
    chunk: usize,
    terminator: Terminator,
) -> Tally {
    rt.block_on(async {
        let (reader, feeder) = StreamReader::with_feeder(StreamReader::DEFAULT_LIMIT)
            .expect("a fed reader with the default limit");
        let parser = ringstream::spawn(ringstream_read_all(reader, terminator));
        for piece in input.chunks(chunk) {
            feeder.feed_data(piece).expect("feed_data before feed_eof");
            // Let the reader task parse what it can before the next chunk "arrives".
            ringstream::yield_now().await;
        }
        feeder.feed_eof();
        parser
            .await
            .expect("the reader task ran to completion")
            .expect("ringstream parsed the input")
    })
}

/// The reader task: every line until EOF.
async fn ringstream_read_all(
    mut reader: StreamReader,
    terminator: Terminator,
) -> Result<Tally, StreamError> {
    let mut tally = Tally::default();
    match terminator {
        Terminator::Lf => loop {
            let line = reader.read_line().await?;
            if line.is_empty() {
                return Ok(tally);
            }
            tally.add(black_box(&line), terminator);
        },
        Terminator::CrLf => loop {
            match reader.read_until(b"\r\n").await {
                Ok(line) => tally.add(black_box(&line), terminator),
                Err(StreamError::IncompleteRead { partial, .. }) if partial.is_empty() => {
                    return Ok(tally);
                }
                Err(error) => return Err(error),
            }
        },
    }
}

// ---------------------------------------------------------------------------------------
// tokio

/// Parses `input` through a `BufReader` of `capacity` bytes with `read_until(b'\n')`.
fn tokio_parse_bytes(
    rt: &tokio::runtime::Runtime,
    input: &[u8],
    capacity: usize,
    terminator: Terminator,
) -> Tally {
    rt.block_on(tokio_read_until_all(
        BufReader::with_capacity(capacity, input),
        terminator,
    ))
    .expect("tokio read_until over a slice")
}

/// Every line until EOF with `read_until(b'\n')`; for `\r\n` lines, the byte before the
/// `\n` is checked to be `\r`.
async fn tokio_read_until_all<R: AsyncBufRead + Unpin>(
    mut reader: R,
    terminator: Terminator,
) -> io::Result<Tally> {
    let mut tally = Tally::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(tally);
        }
        tally.add(black_box(&line), terminator);
    }
}

/// Parses `input` through a default-capacity `BufReader` with `read_line(&mut String)`.
fn tokio_parse_string(rt: &tokio::runtime::Runtime, input: &[u8]) -> Tally {
    rt.block_on(async {
        let mut reader = BufReader::with_capacity(CHUNK_8K, input);
        let mut tally = Tally::default();
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).await? == 0 {
                return Ok::<_, io::Error>(tally);
            }
            tally.add(black_box(line.as_bytes()), Terminator::Lf);
        }
    })
    .expect("tokio read_line over a slice of UTF-8 lines")
}

// ---------------------------------------------------------------------------------------
// groups

/// A group with the shared settings; one element = one byte of input.
fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
    input: &Input,
) -> BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Bytes(input.data.len() as u64));
    g.sample_size(20);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(2));
    g
}

/// All four groups; both runtimes are built once, here.
fn parse(c: &mut Criterion) {
    let rs_rt = ringstream::Runtime::new().expect("ringstream runtime (is io_uring available?)");
    let tokio_rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio current_thread runtime");

    let cases = [
        ("parse/read_line_64B", 64, Terminator::Lf),
        ("parse/read_line_1KiB", 1024, Terminator::Lf),
        ("parse/read_until_crlf_64B", 64, Terminator::CrLf),
        ("parse/read_until_crlf_1KiB", 1024, Terminator::CrLf),
    ];
    for (name, line_len, terminator) in cases {
        let input = make_input(line_len, terminator);
        let data = &input.data[..];
        let expected = input.expected;
        let mut g = group(c, name, &input);

        for (function, chunk) in [
            ("ringstream", CHUNK_64K),
            ("ringstream_8k_chunks", CHUNK_8K),
        ] {
            g.bench_function(function, |b| {
                b.iter(|| {
                    let got = ringstream_parse(&rs_rt, black_box(data), chunk, terminator);
                    assert_eq!(got, expected, "{name}/{function}");
                })
            });
        }
        for (function, capacity) in [
            ("tokio_bufreader_8k", CHUNK_8K),
            ("tokio_bufreader_64k", CHUNK_64K),
        ] {
            g.bench_function(function, |b| {
                b.iter(|| {
                    let got = tokio_parse_bytes(&tokio_rt, black_box(data), capacity, terminator);
                    assert_eq!(got, expected, "{name}/{function}");
                })
            });
        }
        if let Terminator::Lf = terminator {
            g.bench_function("tokio_bufreader_8k_read_line_string", |b| {
                b.iter(|| {
                    let got = tokio_parse_string(&tokio_rt, black_box(data));
                    assert_eq!(got, expected, "{name}/tokio_bufreader_8k_read_line_string");
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, parse);
criterion_main!(benches);
