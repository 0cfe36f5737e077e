//! What the load generator sends, and the check of every byte that comes back.
//!
//! - Ping-pong message `seq` of connection `conn`: the sequence number (8 bytes, little
//!   endian), the connection id (4 bytes, little endian), then the byte pattern below at a
//!   phase that depends on both. Shorter messages keep the first bytes of that, so even a
//!   1-byte message differs from its neighbours. An echo is compared with the message
//!   rebuilt from `(conn, seq)`, so corruption, loss, duplication and reordering show up as
//!   a difference; when the header of what came back names another message, the error
//!   says which.
//! - Stream mode: the byte at stream offset `o` of connection `conn` is
//!   `(o + 7 * conn) % 251` (251 is prime, so it never lines up with power-of-two chunk
//!   or read sizes), and every byte read is compared with it.

use bytes::Bytes;

/// Period of the byte pattern.
const PERIOD: usize = 251;

/// Bytes of sequence number and connection id at the start of a ping-pong message.
const HEADER: usize = 12;

/// `(i % 251)` for `i` in `0..251 + window`: any `window` bytes of the pattern, at any
/// phase, are one slice of it. One table serves every connection of a thread.
pub fn pattern_table(window: usize) -> Bytes {
    (0..PERIOD + window).map(|i| (i % PERIOD) as u8).collect()
}

/// The ping-pong messages of one connection.
pub struct MessagePattern {
    /// The connection id written into every message.
    conn: u32,
    /// Pattern bytes to copy message bodies from.
    table: Bytes,
    /// The message last built (the one to send, or the one an echo is compared with).
    message: Vec<u8>,
}

impl MessagePattern {
    /// Messages of `size` bytes for connection `conn`, their bodies taken from `table`
    /// (a [`pattern_table`] with a window of at least `size`).
    pub fn new(conn: u32, size: usize, table: Bytes) -> MessagePattern {
        assert!(table.len() >= PERIOD + size, "pattern table too short");
        MessagePattern {
            conn,
            table,
            message: vec![0; size],
        }
    }

    /// Builds message `seq` and returns it.
    pub fn message(&mut self, seq: u64) -> &[u8] {
        let size = self.message.len();
        let mut header = [0u8; HEADER];
        header[..8].copy_from_slice(&seq.to_le_bytes());
        header[8..].copy_from_slice(&self.conn.to_le_bytes());
        let head = size.min(HEADER);
        self.message[..head].copy_from_slice(&header[..head]);
        if size > HEADER {
            let phase = (seq.wrapping_mul(13) as usize + self.conn as usize * 7) % PERIOD;
            self.message[HEADER..].copy_from_slice(&self.table[phase..phase + size - HEADER]);
        }
        &self.message
    }

    /// Compares `echoed` with message `seq`, byte for byte.
    ///
    /// # Errors
    /// What differs: the first wrong byte, and which message the echo seems to be.
    pub fn check(&mut self, seq: u64, echoed: &[u8]) -> Result<(), String> {
        let conn = self.conn;
        let expected = self.message(seq);
        if expected == echoed {
            return Ok(());
        }
        if echoed.len() != expected.len() {
            return Err(format!(
                "echo of message {seq} is {} bytes long, {} were sent",
                echoed.len(),
                expected.len()
            ));
        }
        let at = expected
            .iter()
            .zip(echoed)
            .position(|(a, b)| a != b)
            .expect("equal lengths, different contents");
        let mut why = format!(
            "echo of message {seq} differs at byte {at} of {}: sent 0x{:02x}, got 0x{:02x}",
            expected.len(),
            expected[at],
            echoed[at]
        );
        if echoed.len() >= HEADER {
            let got_seq = u64::from_le_bytes(echoed[..8].try_into().expect("8 bytes"));
            let got_conn = u32::from_le_bytes(echoed[8..HEADER].try_into().expect("4 bytes"));
            if (got_seq, got_conn) != (seq, conn) && got_conn == conn && got_seq < seq + 1_000_000 {
                why.push_str(&format!(
                    " (its header is message {got_seq}'s: data was reordered, lost or repeated)"
                ));
            } else if got_conn != conn && got_seq < 1 << 40 {
                why.push_str(&format!(
                    " (its header names connection {got_conn}, message {got_seq}: \
                     another connection's data)"
                ));
            }
        }
        Err(why)
    }
}

/// The byte stream of one connection in stream mode.
pub struct StreamPattern {
    /// Phase of this connection's pattern.
    shift: usize,
    /// Pattern bytes; chunks to send are slices of it (no copy per chunk).
    table: Bytes,
    /// Longest window one slice of the table can cover.
    window: usize,
}

impl StreamPattern {
    /// The pattern of connection `conn`, sliced from `table` (a [`pattern_table`]).
    pub fn new(conn: u32, table: Bytes) -> StreamPattern {
        StreamPattern {
            shift: (conn as usize % PERIOD) * 7 % PERIOD,
            window: table.len().saturating_sub(PERIOD),
            table,
        }
    }

    /// Where stream offset `offset` falls in the table.
    fn phase(&self, offset: u64) -> usize {
        ((offset % PERIOD as u64) as usize + self.shift) % PERIOD
    }

    /// The `len` bytes at stream offset `offset` (`len` at most the window).
    pub fn chunk(&self, offset: u64, len: usize) -> Bytes {
        assert!(
            len <= self.window,
            "chunk of {len} bytes > window {}",
            self.window
        );
        let phase = self.phase(offset);
        self.table.slice(phase..phase + len)
    }

    /// Compares `data`, read at stream offset `offset`, with the pattern.
    ///
    /// # Errors
    /// The stream offset of the first wrong byte, with the byte sent and the byte received.
    pub fn check(&self, offset: u64, data: &[u8]) -> Result<(), String> {
        let mut done = 0;
        while done < data.len() {
            let piece = &data[done..data.len().min(done + self.window)];
            let at = offset + done as u64;
            let phase = self.phase(at);
            let expected = &self.table[phase..phase + piece.len()];
            if expected != piece {
                let i = expected
                    .iter()
                    .zip(piece)
                    .position(|(a, b)| a != b)
                    .expect("slices differ");
                return Err(format!(
                    "echoed stream byte {} differs: sent 0x{:02x}, got 0x{:02x}",
                    at + i as u64,
                    expected[i],
                    piece[i]
                ));
            }
            done += piece.len();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_differ_from_each_other() {
        for size in [1, 8, 12, 13, 64, 4096] {
            let mut pattern = MessagePattern::new(3, size, pattern_table(size));
            let first = pattern.message(0).to_vec();
            let second = pattern.message(1).to_vec();
            assert_eq!(first.len(), size);
            assert_ne!(first, second, "size {size}");
            assert_eq!(pattern.check(0, &first), Ok(()));
            assert_eq!(pattern.check(1, &second), Ok(()));
        }
    }

    #[test]
    fn a_flipped_byte_is_found_and_located() {
        let mut pattern = MessagePattern::new(1, 64, pattern_table(64));
        let mut echo = pattern.message(5).to_vec();
        echo[40] ^= 0xff;
        let e = pattern.check(5, &echo).unwrap_err();
        assert!(e.contains("message 5 differs at byte 40 of 64"), "{e}");
    }

    #[test]
    fn another_message_or_connection_is_named() {
        let mut pattern = MessagePattern::new(1, 64, pattern_table(64));
        let later = pattern.message(6).to_vec();
        let e = pattern.check(5, &later).unwrap_err();
        assert!(e.contains("message 6's"), "{e}");
        let other = MessagePattern::new(2, 64, pattern_table(64))
            .message(5)
            .to_vec();
        let e = pattern.check(5, &other).unwrap_err();
        assert!(e.contains("connection 2"), "{e}");
        let short = pattern.check(5, &later[..10]).unwrap_err();
        assert!(short.contains("10 bytes long"), "{short}");
    }

    #[test]
    fn the_stream_pattern_checks_every_byte_at_any_offset() {
        let pattern = StreamPattern::new(4, pattern_table(1000));
        let mut stream = Vec::new();
        let mut offset = 0u64;
        for len in [1000, 7, 999, 251, 1000] {
            stream.extend_from_slice(&pattern.chunk(offset, len));
            offset += len as u64;
        }
        // Reads split differently from writes, and longer than the window, still check.
        assert_eq!(pattern.check(0, &stream), Ok(()));
        assert_eq!(pattern.check(13, &stream[13..2500]), Ok(()));
        stream[2222] ^= 1;
        let e = pattern.check(0, &stream).unwrap_err();
        assert!(e.contains("stream byte 2222 differs"), "{e}");
        // Another connection's stream is another phase.
        let other = StreamPattern::new(5, pattern_table(1000));
        assert!(other.check(0, &pattern.chunk(0, 100)).is_err());
    }
}
