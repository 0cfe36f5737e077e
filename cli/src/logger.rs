//! The command's logger: the library reports through the `log` facade (accepts paused
//! for lack of descriptors, failed connection handlers); this writes those records to
//! stderr at the level `RUST_LOG` names (`off`, `error`, `warn`, `info`, `debug`,
//! `trace`), `warn` when it is unset.

use log::{LevelFilter, Log, Metadata, Record};

use crate::output::errln;

/// The level when `RUST_LOG` is unset or empty.
const DEFAULT_LEVEL: LevelFilter = LevelFilter::Warn;

/// Writes every enabled record to stderr as `LEVEL target: message`.
struct StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            errln!("{}", format_record(record));
        }
    }

    fn flush(&self) {}
}

static LOGGER: StderrLogger = StderrLogger;

/// Installs the logger at the level `RUST_LOG` asks for; an unknown level is reported on
/// stderr and the default is used.
pub fn init() {
    let requested = std::env::var("RUST_LOG").ok();
    let level = parse_level(requested.as_deref()).unwrap_or_else(|why| {
        errln!("ringstream: {why}");
        DEFAULT_LEVEL
    });
    // Fails only if a logger is already installed, and only main calls this.
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}

/// The level `RUST_LOG=text` names; `None` or blank is the default (`warn`).
///
/// # Errors
/// A message naming the accepted values.
fn parse_level(text: Option<&str>) -> Result<LevelFilter, String> {
    match text.map(str::trim) {
        None | Some("") => Ok(DEFAULT_LEVEL),
        Some(text) => text.parse().map_err(|_| {
            format!(
                "RUST_LOG={text:?} is not a level (off, error, warn, info, debug, trace); \
                 logging at {DEFAULT_LEVEL}"
            )
        }),
    }
}

/// `WARN ringstream::net::server::shard: <message>`.
fn format_record(record: &Record<'_>) -> String {
    format!("{} {}: {}", record.level(), record.target(), record.args())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_names_the_level() {
        assert_eq!(parse_level(None), Ok(LevelFilter::Warn));
        assert_eq!(parse_level(Some(" ")), Ok(LevelFilter::Warn));
        assert_eq!(parse_level(Some("off")), Ok(LevelFilter::Off));
        assert_eq!(parse_level(Some("ERROR")), Ok(LevelFilter::Error));
        assert_eq!(parse_level(Some("debug")), Ok(LevelFilter::Debug));
        assert_eq!(parse_level(Some("trace")), Ok(LevelFilter::Trace));
        let e = parse_level(Some("ringstream=debug")).unwrap_err();
        assert!(e.contains("off, error, warn"), "{e}");
    }

    #[test]
    fn a_record_names_level_and_target() {
        let text = format_record(
            &Record::builder()
                .level(log::Level::Warn)
                .target("ringstream::net")
                .args(format_args!("out of descriptors"))
                .build(),
        );
        assert_eq!(text, "WARN ringstream::net: out of descriptors");
    }
}
