//! Printing for the command: writes to stdout and stderr that never panic.
//!
//! `println!` panics when stdout is a pipe nobody reads any more (`ringstream echo | head
//! -1` once `head` has exited): Rust ignores SIGPIPE, so the write fails with EPIPE. A
//! reader that went away is not the command's failure: what it would have read is
//! dropped, the command goes on (a server keeps serving) and exits as it would have.
//! Every print of the command goes through [`out!`], [`outln!`], [`err!`] or [`errln!`]
//! (main.rs denies `print!` and friends).

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once a write to stdout failed: later output to it is dropped without trying.
static STDOUT_GONE: AtomicBool = AtomicBool::new(false);

/// `print!` that survives a closed stdout.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::stdout(format_args!($($arg)*), false)
    };
}

/// `println!` that survives a closed stdout.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::stdout(format_args!($($arg)*), true)
    };
}

/// `eprint!` that survives a closed stderr.
macro_rules! err {
    ($($arg:tt)*) => {
        $crate::output::stderr(format_args!($($arg)*), false)
    };
}

/// `eprintln!` that survives a closed stderr.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::output::stderr(format_args!($($arg)*), true)
    };
}

pub(crate) use {err, errln, out, outln};

/// Writes `args` (and a newline) to stdout and flushes it, so progress lines without a
/// newline show too. A broken pipe drops this and every later write silently; another
/// error is reported once on stderr, then output to stdout is dropped as well.
pub fn stdout(args: fmt::Arguments<'_>, newline: bool) {
    if STDOUT_GONE.load(Ordering::Relaxed) {
        return;
    }
    if let Err(e) = write_to(&mut io::stdout().lock(), args, newline) {
        if !STDOUT_GONE.swap(true, Ordering::Relaxed) && e.kind() != io::ErrorKind::BrokenPipe {
            stderr(
                format_args!("ringstream: writing to stdout failed ({e}); its output is dropped"),
                true,
            );
        }
    }
}

/// Writes `args` (and a newline) to stderr; a failure is ignored, as there is nowhere
/// left to report it.
pub fn stderr(args: fmt::Arguments<'_>, newline: bool) {
    let _ = write_to(&mut io::stderr().lock(), args, newline);
}

/// Writes `args`, a newline if asked, and flushes.
fn write_to(out: &mut impl Write, args: fmt::Arguments<'_>, newline: bool) -> io::Result<()> {
    out.write_fmt(args)?;
    if newline {
        out.write_all(b"\n")?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer whose reader went away.
    struct ClosedPipe;

    impl Write for ClosedPipe {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_is_an_error_not_a_panic() {
        let e = write_to(&mut ClosedPipe, format_args!("x{}", 1), true).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
        let mut text = Vec::new();
        write_to(&mut text, format_args!("a{}", 2), true).expect("a Vec takes it");
        write_to(&mut text, format_args!("b"), false).expect("a Vec takes it");
        assert_eq!(text, b"a2\nb");
    }
}
