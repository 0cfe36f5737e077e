//! One soak phase as the command line writes it: `MODE:CONNS:SIZE`, such as
//! `stream:256:16KiB` or `pingpong:2000:64`.

use std::fmt;

use ringstream_harness::load::Mode;
use ringstream_harness::units::{format_size, parse_size};

/// The phases run when `--phase` is not given: streaming then ping-pong, with a few
/// hundred connections and then with thousands.
pub const DEFAULT_PHASES: [&str; 4] = [
    "stream:256:16KiB",
    "pingpong:256:64",
    "stream:2000:4KiB",
    "pingpong:2000:64",
];

/// Most connections one phase may open.
const MAX_CONNS: usize = 100_000;

/// What one phase runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phase {
    /// Ping-pong or stream.
    pub mode: Mode,
    /// Connections.
    pub conns: usize,
    /// Message (ping-pong) or chunk (stream) size.
    pub size: usize,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} x {}",
            self.mode,
            self.conns,
            format_size(self.size)
        )
    }
}

/// Parses `MODE:CONNS:SIZE` (for clap's `value_parser`).
///
/// # Errors
/// A message naming the part that is wrong and the expected form.
pub fn parse_phase(text: &str) -> Result<Phase, String> {
    let form = "expected MODE:CONNS:SIZE, such as stream:256:16KiB or pingpong:2000:64";
    let parts: Vec<&str> = text.trim().split(':').collect();
    let [mode, conns, size] = parts[..] else {
        return Err(format!("invalid phase {text:?}: {form}"));
    };
    let mode = match mode {
        "stream" => Mode::Stream,
        "pingpong" => Mode::PingPong,
        "reset" => Mode::Reset,
        _ => {
            return Err(format!(
                "invalid phase {text:?}: the mode is stream, pingpong or reset ({form})"
            ))
        }
    };
    let conns = conns
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_CONNS).contains(n))
        .ok_or_else(|| {
            format!("invalid phase {text:?}: the connections are 1 to {MAX_CONNS} ({form})")
        })?;
    let size = parse_size(size).map_err(|e| format!("invalid phase {text:?}: {e}"))?;
    Ok(Phase { mode, conns, size })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_parse_and_print() {
        let p = parse_phase("stream:256:16KiB").expect("valid");
        assert_eq!(
            p,
            Phase {
                mode: Mode::Stream,
                conns: 256,
                size: 16 * 1024
            }
        );
        assert_eq!(p.to_string(), "stream 256 x 16 KiB");
        for text in DEFAULT_PHASES {
            parse_phase(text).expect("the defaults parse");
        }
        for bad in [
            "",
            "stream:256",
            "walk:1:64",
            "stream:0:64",
            "stream:x:64",
            "pingpong:2:0",
        ] {
            let e = parse_phase(bad).unwrap_err();
            assert!(e.contains("invalid phase"), "{bad:?}: {e}");
        }
    }
}
