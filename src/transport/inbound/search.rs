//! Incremental separator search for `read_until` (SEMANTICS D7, D8).
//!
//! For each separator the search remembers a resume point: no occurrence of that separator
//! starts before it. The buffer only grows between reads, so a read that waits for more data
//! scans only what arrived since, plus `separator length - 1` bytes of overlap; a separator
//! split across chunks is still found. Consuming bytes from the front shifts the resume
//! points; a call with a different separator list starts over.

use memchr::memmem::Finder;

/// Where a separator occurrence sits in the buffer: `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Match {
    pub(super) start: usize,
    pub(super) end: usize,
}

/// The remembered search for one list of separators.
#[derive(Default)]
pub(super) struct SeparatorSearch {
    separators: Vec<Resume>,
}

/// One separator and how far the buffer has been searched for it.
struct Resume {
    finder: Finder<'static>,
    /// No occurrence of the separator starts before this offset.
    from: usize,
}

impl SeparatorSearch {
    /// The match that ends earliest among `separators` in `buf` (D8). On equal ends the
    /// shorter separator wins, as in CPython (it only matters for the limit check).
    /// `separators` must be non-empty and free of empty separators (the caller checks, D1).
    pub(super) fn find(&mut self, buf: &[u8], separators: &[&[u8]]) -> Option<Match> {
        if !self.is_for(separators) {
            self.separators = separators
                .iter()
                .map(|sep| Resume {
                    finder: Finder::new(sep).into_owned(),
                    from: 0,
                })
                .collect();
        }
        let mut best: Option<Match> = None;
        for resume in &mut self.separators {
            let Some(start) = resume.find(buf) else {
                continue;
            };
            let found = Match {
                start,
                end: start + resume.finder.needle().len(),
            };
            let better = best
                .is_none_or(|b| found.end < b.end || (found.end == b.end && found.start > b.start));
            if better {
                best = Some(found);
            }
        }
        best
    }

    /// `n` bytes were removed from the front of the buffer.
    pub(super) fn consume(&mut self, n: usize) {
        for resume in &mut self.separators {
            resume.from = resume.from.saturating_sub(n);
        }
    }

    fn is_for(&self, separators: &[&[u8]]) -> bool {
        self.separators.len() == separators.len()
            && self
                .separators
                .iter()
                .zip(separators)
                .all(|(resume, sep)| resume.finder.needle() == *sep)
    }
}

impl Resume {
    /// Start of the earliest occurrence in `buf`, scanning only from the resume point.
    fn find(&mut self, buf: &[u8]) -> Option<usize> {
        let haystack = buf.get(self.from..).unwrap_or_default();
        let hit = match self.finder.needle() {
            [byte] => memchr::memchr(*byte, haystack),
            _ => self.finder.find(haystack),
        };
        match hit {
            Some(offset) => {
                self.from += offset;
                Some(self.from)
            }
            None => {
                // An occurrence that arrives later must end past the current buffer.
                let next = (buf.len() + 1).saturating_sub(self.finder.needle().len());
                self.from = self.from.max(next);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn d7_search_resumes_where_it_stopped() {
        let mut search = SeparatorSearch::default();
        assert_eq!(search.find(b"aaaa", &[b"\r\n"]), None);
        assert_eq!(search.separators[0].from, 3);
        // Bytes before the resume point are not scanned again: an occurrence planted there is
        // not seen (a real buffer never changes them), the one past it is.
        assert_eq!(
            search.find(b"\r\na\r\n", &[b"\r\n"]),
            Some(Match { start: 3, end: 5 })
        );
    }

    #[test]
    fn d7_split_separator_is_found_across_chunks() {
        let mut search = SeparatorSearch::default();
        assert_eq!(search.find(b"abc\r", &[b"\r\n"]), None);
        assert_eq!(
            search.find(b"abc\r\nx", &[b"\r\n"]),
            Some(Match { start: 3, end: 5 })
        );
    }

    #[test]
    fn d7_new_separator_list_resets_the_search() {
        let mut search = SeparatorSearch::default();
        assert_eq!(search.find(b"aXbbbb", &[b"\n"]), None);
        assert_eq!(
            search.find(b"aXbbbb", &[b"X"]),
            Some(Match { start: 1, end: 2 })
        );
    }

    #[test]
    fn d7_consuming_shifts_the_resume_point() {
        let mut search = SeparatorSearch::default();
        assert_eq!(search.find(b"abcdef", &[b"\n"]), None);
        search.consume(4);
        assert_eq!(search.separators[0].from, 2);
        assert_eq!(
            search.find(b"ef\n", &[b"\n"]),
            Some(Match { start: 2, end: 3 })
        );
        // The match itself is consumed: the next occurrence can start anywhere.
        search.consume(3);
        assert_eq!(
            search.find(b"\n", &[b"\n"]),
            Some(Match { start: 0, end: 1 })
        );
    }

    #[test]
    fn d8_earliest_end_beats_earliest_start() {
        let mut search = SeparatorSearch::default();
        // "BCDEF" starts first, "CD" ends first.
        assert_eq!(
            search.find(b"ABCDEFG", &[b"BCDEF", b"CD"]),
            Some(Match { start: 2, end: 4 })
        );
    }

    #[test]
    fn d8_equal_ends_go_to_the_shorter_separator() {
        let mut search = SeparatorSearch::default();
        assert_eq!(
            search.find(b"ab\r\n", &[b"\r\n", b"\n"]),
            Some(Match { start: 3, end: 4 })
        );
    }
}
