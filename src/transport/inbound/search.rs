//! Incremental separator search for `read_until` (SEMANTICS D7, D8).
//!
//! The search remembers a resume point per separator: no occurrence of that separator starts
//! before it. The buffer only grows between reads, so a read that waits for more data scans
//! only what arrived since, plus `separator length - 1` bytes of overlap; a separator split
//! across chunks is still found. Consuming bytes from the front shifts the resume points; a
//! call for a different separator (or list) starts over at offset 0, so a resume point is
//! never used for a separator it was not computed for.
//!
//! Three shapes, cheapest first, picked by what the read asks for:
//!
//! - one separator of one byte (`read_line`, `read_until(b"\n")`): a `memchr` from the resume
//!   point. No allocation, and recognising "the same search as last time" is one byte
//!   compare (the general list below would keep a 320-byte entry per connection and compare
//!   the separator on every call; see `docs/decisions.md`, "Reader fast paths");
//! - one separator of 2..=[`SHORT_MAX`] bytes (`read_until(b"\r\n")`): kept inline; a `memchr`
//!   for its rarest byte (memchr's own byte-frequency ranking), then a compare of the few
//!   bytes around each hit (a memmem `Finder` costs more to build and run than that on
//!   needles this short);
//! - anything else (several separators, or one longer than `SHORT_MAX`): a boxed list with
//!   one resume point per separator; each separator uses the cheapest matcher above, and only
//!   separators longer than `SHORT_MAX` get a memmem `Finder`.

use memchr::arch::all::packedpair::Pair;
use memchr::memmem::Finder;

/// The longest separator searched with a `memchr` plus a compare, kept inline. Longer ones
/// use memmem's `Finder` (288 bytes, boxed), whose prefilter and Two-Way search pay off on
/// long needles and bound the work on adversarial input. 8 keeps the inline copy within the
/// space the search already takes in `Inbound` (no growth) and covers `\r\n`, `\r\n\r\n`
/// and the usual record separators.
pub(super) const SHORT_MAX: usize = 8;

/// Where a separator occurrence sits in the buffer: `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Match {
    pub(super) start: usize,
    pub(super) end: usize,
}

/// The remembered search: what was searched for last and how far.
///
/// 24 bytes, allocation-free for one separator of up to [`SHORT_MAX`] bytes.
pub(super) struct SeparatorSearch {
    /// For [`Shape::Byte`] and [`Shape::Short`]: no occurrence starts before this offset.
    /// Never more than the buffer's length for those kinds.
    from: usize,
    kind: Shape,
}

/// What the remembered search looks for.
enum Shape {
    /// Nothing yet.
    Fresh,
    /// One separator of one byte.
    Byte(u8),
    /// One separator of 2..=`SHORT_MAX` bytes.
    Short(Short),
    /// A list of separators, or one longer than `SHORT_MAX`; each with its own resume point.
    Many(Box<Many>),
}

/// A separator of 2..=[`SHORT_MAX`] bytes, kept inline, and the index of its rarest byte.
#[derive(Clone, Copy)]
struct Short {
    bytes: [u8; SHORT_MAX],
    len: u8,
    /// Index in `bytes` of the byte to `memchr` for.
    rare: u8,
}

/// The general search: one entry per separator, in the caller's order.
struct Many(Vec<Resume>);

/// One separator of a [`Many`] search and how far the buffer has been searched for it.
struct Resume {
    matcher: Matcher,
    /// No occurrence of the separator starts before this offset.
    from: usize,
}

/// How one separator of a [`Many`] search is found.
enum Matcher {
    Byte(u8),
    Short(Short),
    /// Boxed: a `Finder` is 288 bytes, and only separators longer than `SHORT_MAX` need one.
    Long(Box<Finder<'static>>),
}

impl Default for SeparatorSearch {
    fn default() -> Self {
        Self {
            from: 0,
            kind: Shape::Fresh,
        }
    }
}

impl SeparatorSearch {
    /// Start of the first `byte` in `buf`, scanning only from the resume point.
    #[inline]
    pub(super) fn find_byte(&mut self, buf: &[u8], byte: u8) -> Option<usize> {
        if !matches!(self.kind, Shape::Byte(b) if b == byte) {
            self.start_over(Shape::Byte(byte));
        }
        find_byte_from(buf, byte, &mut self.from)
    }

    /// The first occurrence of `separator` (not empty: the caller checks, D1) in `buf`.
    #[inline]
    pub(super) fn find_one(&mut self, buf: &[u8], separator: &[u8]) -> Option<Match> {
        match separator {
            [byte] => self.find_byte(buf, *byte).map(|start| Match::at(start, 1)),
            _ if separator.len() <= SHORT_MAX => self.find_short(buf, separator),
            _ => self.find_many(buf, &[separator]),
        }
    }

    /// The match that ends earliest among `separators` in `buf` (D8). On equal ends the
    /// shorter separator wins, as in CPython (it only matters for the limit check).
    /// `separators` must be non-empty and free of empty separators (the caller checks, D1).
    pub(super) fn find(&mut self, buf: &[u8], separators: &[&[u8]]) -> Option<Match> {
        match separators {
            [separator] => self.find_one(buf, separator),
            _ => self.find_many(buf, separators),
        }
    }

    /// `n` bytes were removed from the front of the buffer.
    #[inline]
    pub(super) fn consume(&mut self, n: usize) {
        self.from = self.from.saturating_sub(n);
        if let Shape::Many(many) = &mut self.kind {
            for resume in &mut many.0 {
                resume.from = resume.from.saturating_sub(n);
            }
        }
    }

    #[inline]
    fn find_short(&mut self, buf: &[u8], separator: &[u8]) -> Option<Match> {
        if !matches!(&self.kind, Shape::Short(short) if short.is(separator)) {
            self.start_over(Shape::Short(Short::new(separator)));
        }
        let Shape::Short(short) = &self.kind else {
            return None;
        };
        short
            .find(buf, &mut self.from)
            .map(|start| Match::at(start, short.len()))
    }

    fn find_many(&mut self, buf: &[u8], separators: &[&[u8]]) -> Option<Match> {
        let is_for = matches!(&self.kind, Shape::Many(many) if many.is_for(separators));
        if !is_for {
            self.start_over(Shape::Many(Box::new(Many::new(separators))));
        }
        let Shape::Many(many) = &mut self.kind else {
            return None;
        };
        let mut best: Option<Match> = None;
        for resume in &mut many.0 {
            let Some(start) = resume.matcher.find(buf, &mut resume.from) else {
                continue;
            };
            let found = Match::at(start, resume.matcher.len());
            let better = best
                .is_none_or(|b| found.end < b.end || (found.end == b.end && found.start > b.start));
            if better {
                best = Some(found);
            }
        }
        best
    }

    /// Forgets the old search: a resume point only holds for what it was computed for.
    #[cold]
    fn start_over(&mut self, kind: Shape) {
        self.kind = kind;
        self.from = 0;
    }
}

impl Match {
    #[inline]
    fn at(start: usize, len: usize) -> Self {
        Self {
            start,
            end: start + len,
        }
    }
}

impl Short {
    /// `separator` must be 2..=`SHORT_MAX` bytes long.
    fn new(separator: &[u8]) -> Self {
        let mut bytes = [0; SHORT_MAX];
        bytes[..separator.len()].copy_from_slice(separator);
        // The last byte when no pair can be built (never, for 2 bytes or more).
        let rare = Pair::new(separator).map_or(separator.len() - 1, |pair| pair.index1().into());
        Self {
            bytes,
            len: separator.len() as u8,
            rare: rare as u8,
        }
    }

    #[inline]
    fn len(&self) -> usize {
        usize::from(self.len)
    }

    fn needle(&self) -> &[u8] {
        &self.bytes[..self.len()]
    }

    /// Whether this is `separator`. Two bytes (`\r\n`, the common case) are compared
    /// directly, longer ones in a loop: no `memcmp` call either way.
    #[inline]
    fn is(&self, separator: &[u8]) -> bool {
        match separator {
            [a, b] => self.len == 2 && *a == self.bytes[0] && *b == self.bytes[1],
            _ => separator.len() == self.len() && self.matches(separator),
        }
    }

    /// Whether `window` (exactly `len` bytes) holds the separator: a branch-free byte loop
    /// over at most `SHORT_MAX` bytes. Out of line: inlined, its unrolled loop made the
    /// search spill the separator to the stack on every call.
    #[inline(never)]
    fn matches(&self, window: &[u8]) -> bool {
        let mut differ = 0;
        for (a, b) in window.iter().zip(&self.bytes) {
            differ |= a ^ b;
        }
        differ == 0
    }

    /// Start of the first occurrence at or after `*from`; advances `*from`.
    #[inline]
    fn find(&self, buf: &[u8], from: &mut usize) -> Option<usize> {
        let len = self.len();
        let rare_at = usize::from(self.rare);
        let rare = self.bytes[rare_at];
        // An occurrence starting at `s` must fit: s <= buf.len() - len.
        let starts_end = (buf.len() + 1).saturating_sub(len);
        let mut start = *from;
        while start < starts_end {
            // Only rare bytes of occurrences that fit in `buf` are looked at.
            let haystack = &buf[start + rare_at..starts_end + rare_at];
            let Some(offset) = memchr::memchr(rare, haystack) else {
                break;
            };
            let candidate = start + offset;
            // `\r\n` and other pairs: one compare, of the byte not searched for. With the
            // general compare inlined here for every length, read_until(b"\r\n") 64 B took
            // 378 instructions per line, 294 with this (callgrind).
            let found = if len == 2 {
                let other = 1 - rare_at;
                buf[candidate + other] == self.bytes[other]
            } else {
                self.matches(&buf[candidate..candidate + len])
            };
            if found {
                *from = candidate;
                return Some(candidate);
            }
            start = candidate + 1;
        }
        // An occurrence that arrives later must end past the current buffer.
        *from = (*from).max(starts_end);
        None
    }
}

impl Many {
    fn new(separators: &[&[u8]]) -> Self {
        Self(
            separators
                .iter()
                .map(|separator| Resume {
                    matcher: Matcher::new(separator),
                    from: 0,
                })
                .collect(),
        )
    }

    fn is_for(&self, separators: &[&[u8]]) -> bool {
        self.0.len() == separators.len()
            && self
                .0
                .iter()
                .zip(separators)
                .all(|(resume, separator)| resume.matcher.needle() == *separator)
    }
}

impl Matcher {
    fn new(separator: &[u8]) -> Self {
        match separator {
            [byte] => Self::Byte(*byte),
            _ if separator.len() <= SHORT_MAX => Self::Short(Short::new(separator)),
            _ => Self::Long(Box::new(Finder::new(separator).into_owned())),
        }
    }

    fn len(&self) -> usize {
        self.needle().len()
    }

    fn needle(&self) -> &[u8] {
        match self {
            Self::Byte(byte) => std::slice::from_ref(byte),
            Self::Short(short) => short.needle(),
            Self::Long(finder) => finder.needle(),
        }
    }

    /// Start of the first occurrence at or after `*from`; advances `*from`.
    fn find(&self, buf: &[u8], from: &mut usize) -> Option<usize> {
        match self {
            Self::Byte(byte) => find_byte_from(buf, *byte, from),
            Self::Short(short) => short.find(buf, from),
            Self::Long(finder) => {
                let haystack = buf.get(*from..).unwrap_or_default();
                match finder.find(haystack) {
                    Some(offset) => {
                        *from += offset;
                        Some(*from)
                    }
                    None => {
                        let next = (buf.len() + 1).saturating_sub(finder.needle().len());
                        *from = (*from).max(next);
                        None
                    }
                }
            }
        }
    }
}

/// Start of the first `byte` in `buf` at or after `*from`; advances `*from` to it, or to the
/// end of `buf`.
#[inline]
fn find_byte_from(buf: &[u8], byte: u8, from: &mut usize) -> Option<usize> {
    let haystack = buf.get(*from..).unwrap_or_default();
    match memchr::memchr(byte, haystack) {
        Some(offset) => {
            *from += offset;
            Some(*from)
        }
        None => {
            *from = (*from).max(buf.len());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search() -> SeparatorSearch {
        SeparatorSearch::default()
    }

    fn at(start: usize, end: usize) -> Option<Match> {
        Some(Match { start, end })
    }

    /// The resume point of a `Many` search's `index`-th separator.
    fn many_from(search: &SeparatorSearch, index: usize) -> usize {
        match &search.kind {
            Shape::Many(many) => many.0[index].from,
            _ => panic!("not a list search"),
        }
    }

    #[test]
    fn d7_search_resumes_where_it_stopped() {
        let mut search = search();
        assert_eq!(search.find(b"aaaa", &[b"\r\n"]), None);
        assert_eq!(search.from, 3);
        // Bytes before the resume point are not scanned again: an occurrence planted there is
        // not seen (a real buffer never changes them), the one past it is.
        assert_eq!(search.find(b"\r\na\r\n", &[b"\r\n"]), at(3, 5));
    }

    #[test]
    fn d7_single_byte_search_resumes_where_it_stopped() {
        let mut search = search();
        assert_eq!(search.find_byte(b"abcd", b'\n'), None);
        assert_eq!(search.from, 4);
        assert_eq!(search.find_byte(b"\nbcd\n", b'\n'), Some(4));
        assert!(matches!(search.kind, Shape::Byte(b'\n')));
    }

    #[test]
    fn d7_long_separator_resumes_where_it_stopped() {
        let separator: &[u8] = b"--boundary--";
        let mut search = search();
        assert_eq!(search.find(b"0123456789abcdef--boun", &[separator]), None);
        // Up to `len - 1` bytes of overlap stay to be scanned again.
        assert_eq!(many_from(&search, 0), 22 + 1 - separator.len());
        let buf = b"0123456789abcdef--boundary--";
        assert_eq!(search.find(buf, &[separator]), at(16, 28));
    }

    #[test]
    fn d7_split_separator_is_found_across_chunks() {
        let mut search = search();
        assert_eq!(search.find(b"abc\r", &[b"\r\n"]), None);
        assert_eq!(search.find(b"abc\r\nx", &[b"\r\n"]), at(3, 5));
    }

    #[test]
    fn d7_short_separator_false_hits_are_skipped() {
        // Every byte of the separator except one shows up alone first.
        for separator in [&b"abc"[..], b"\r\n\r\n", b"<END>", b"12345678"] {
            let mut buf = Vec::new();
            for (i, _) in separator.iter().enumerate() {
                buf.extend_from_slice(&separator[..i]);
                buf.push(b'.');
            }
            let start = buf.len();
            buf.extend_from_slice(separator);
            buf.extend_from_slice(b"tail");
            let mut search = search();
            assert_eq!(
                search.find(&buf, &[separator]),
                at(start, start + separator.len()),
                "{:?}",
                String::from_utf8_lossy(separator)
            );
        }
    }

    #[test]
    fn d7_short_separator_at_the_very_start_and_end() {
        let mut search = search();
        assert_eq!(search.find(b"\r\n", &[b"\r\n"]), at(0, 2));
        let mut search = SeparatorSearch::default();
        assert_eq!(search.find(b"abcdef\r\n", &[b"\r\n"]), at(6, 8));
        let mut search = SeparatorSearch::default();
        assert_eq!(search.find(b"\r", &[b"\r\n"]), None);
        assert_eq!(search.from, 0);
    }

    #[test]
    fn d7_new_separator_list_resets_the_search() {
        let mut search = search();
        assert_eq!(search.find(b"aXbbbb", &[b"\n"]), None);
        assert_eq!(search.find(b"aXbbbb", &[b"X"]), at(1, 2));
        // Short to short, and a list back to one separator, start over too.
        let mut search = SeparatorSearch::default();
        assert_eq!(search.find(b"aXYbbbb", &[b"\r\n"]), None);
        assert_eq!(search.find(b"aXYbbbb", &[b"XY"]), at(1, 3));
        let mut search = SeparatorSearch::default();
        assert_eq!(search.find(b"aXYbbbb", &[b"\r\n", b"\n"]), None);
        assert_eq!(search.find(b"aXYbbbb", &[b"X"]), at(1, 2));
        assert_eq!(search.find(b"aXYbbbb", &[b"Y", b"\n"]), at(2, 3));
    }

    #[test]
    fn d7_a_prefix_of_the_last_separator_is_another_separator() {
        // "END" is not "ENDX", "ab" is not "abc": each starts over instead of resuming.
        let mut search = search();
        assert_eq!(search.find(b"aENDb", &[b"ENDX"]), None);
        assert_eq!(search.find(b"aENDb", &[b"END"]), at(1, 4));
        let mut search = SeparatorSearch::default();
        assert_eq!(search.find(b"xxabx", &[b"abc"]), None);
        assert_eq!(search.find(b"xxabx", &[b"ab"]), at(2, 4));
        let mut search = SeparatorSearch::default();
        assert_eq!(search.find(b"xxabx", &[b"ab", b"END"]), at(2, 4));
        assert_eq!(search.find(b"xxabxEN", &[b"ab", b"ENDX"]), at(2, 4));
        // A longer list that starts with the last one.
        let mut search = SeparatorSearch::default();
        assert_eq!(search.find(b"abcX", &[b"|", b"END"]), None);
        assert_eq!(search.find(b"abcX", &[b"|", b"END", b"X"]), at(3, 4));
    }

    #[test]
    fn d7_consuming_shifts_the_resume_point() {
        let mut search = search();
        assert_eq!(search.find(b"abcdef", &[b"\n"]), None);
        search.consume(4);
        assert_eq!(search.from, 2);
        assert_eq!(search.find(b"ef\n", &[b"\n"]), at(2, 3));
        // The match itself is consumed: the next occurrence can start anywhere.
        search.consume(3);
        assert_eq!(search.find(b"\n", &[b"\n"]), at(0, 1));
    }

    #[test]
    fn d7_consuming_shifts_every_resume_point_of_a_list() {
        let separators: &[&[u8]] = &[b"\n", b"END"];
        let mut search = search();
        assert_eq!(search.find(b"abcdefEN", separators), None);
        assert_eq!((many_from(&search, 0), many_from(&search, 1)), (8, 6));
        search.consume(5);
        assert_eq!((many_from(&search, 0), many_from(&search, 1)), (3, 1));
        assert_eq!(search.find(b"fENDx\n", separators), at(1, 4));
    }

    #[test]
    fn d8_earliest_end_beats_earliest_start() {
        let mut search = search();
        // "BCDEF" starts first, "CD" ends first.
        assert_eq!(search.find(b"ABCDEFG", &[b"BCDEF", b"CD"]), at(2, 4));
    }

    #[test]
    fn d8_equal_ends_go_to_the_shorter_separator() {
        let mut search = search();
        assert_eq!(search.find(b"ab\r\n", &[b"\r\n", b"\n"]), at(3, 4));
    }

    #[test]
    fn d8_mixed_lengths_take_the_earliest_end() {
        // One byte, three bytes and a long one in the same list.
        let separators: &[&[u8]] = &[b"|", b"END", b"--boundary--"];
        let mut search = search();
        assert_eq!(search.find(b"abEND|--boundary--", separators), at(2, 5));
        let mut search = SeparatorSearch::default();
        assert_eq!(search.find(b"ab|END", separators), at(2, 3));
        let mut search = SeparatorSearch::default();
        assert_eq!(search.find(b"--boundary--|", separators), at(0, 12));
        // Only the long separator allocates a memmem Finder.
        match &search.kind {
            Shape::Many(many) => {
                let kinds: Vec<_> = many
                    .0
                    .iter()
                    .map(|resume| match resume.matcher {
                        Matcher::Byte(_) => "byte",
                        Matcher::Short(_) => "short",
                        Matcher::Long(_) => "long",
                    })
                    .collect();
                assert_eq!(kinds, ["byte", "short", "long"]);
            }
            _ => panic!("not a list search"),
        }
    }

    #[test]
    fn one_separator_needs_no_allocation() {
        assert_eq!(std::mem::size_of::<SeparatorSearch>(), 24);
        let mut search = search();
        search.find(b"abc", &[b"\n"]);
        assert!(matches!(search.kind, Shape::Byte(b'\n')));
        search.find(b"abc", &[b"\r\n\r\n"]);
        assert!(matches!(search.kind, Shape::Short(_)));
    }

    /// Against a naive search, on every split of many buffers into two feeds.
    #[test]
    fn d7_matches_a_naive_search_on_every_split() {
        let separators: &[&[u8]] = &[b"\n", b"\r\n", b"aab", b"abab", b"0123456789"];
        let buf = b"xaaabababab\r\r\n01234567890123456789\nab";
        for separator in separators {
            let naive = buf
                .windows(separator.len())
                .position(|w| w == *separator)
                .map(|start| Match::at(start, separator.len()));
            for split in 0..=buf.len() {
                let mut search = SeparatorSearch::default();
                let first = search.find(&buf[..split], &[separator]);
                let found = first.or_else(|| search.find(buf, &[separator]));
                assert_eq!(found, naive, "{separator:?} split at {split}");
            }
        }
    }
}
