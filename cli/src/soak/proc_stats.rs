//! What `/proc` says about a process: resident memory (`VmRSS`), open descriptors (the
//! entries of `/proc/PID/fd`), the open-file limit; and a thread sampling the peaks of a
//! process while a phase runs.

use std::io;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How often the sampler reads the server's memory and descriptors.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// One reading of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sample {
    /// Resident memory in KiB.
    pub rss_kib: u64,
    /// Open file descriptors.
    pub fds: u64,
}

impl Sample {
    /// The larger of each field.
    pub fn max(self, other: Sample) -> Sample {
        Sample {
            rss_kib: self.rss_kib.max(other.rss_kib),
            fds: self.fds.max(other.fds),
        }
    }
}

/// Reads process `pid` now.
///
/// # Errors
/// When the process is gone or its `/proc` entries cannot be read.
pub fn sample(pid: u32) -> io::Result<Sample> {
    let status_path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&status_path)
        .map_err(|e| io::Error::new(e.kind(), format!("reading {status_path}: {e}")))?;
    let rss_kib = parse_rss_kib(&status).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{status_path} has no VmRSS line (is the process a zombie?)"),
        )
    })?;
    let fd_path = format!("/proc/{pid}/fd");
    let fds = std::fs::read_dir(&fd_path)
        .map_err(|e| io::Error::new(e.kind(), format!("listing {fd_path}: {e}")))?
        .count() as u64;
    Ok(Sample { rss_kib, fds })
}

/// `VmRSS:   12345 kB` of a `/proc/PID/status`.
fn parse_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A thread reading a process every [`SAMPLE_EVERY`] and keeping the peaks.
pub struct Sampler {
    stop: Sender<()>,
    thread: JoinHandle<Sample>,
}

impl Sampler {
    /// Starts sampling `pid`, from `first` on.
    pub fn start(pid: u32, first: Sample) -> Sampler {
        let (stop, stopped) = mpsc::channel();
        let thread = thread::spawn(move || {
            let mut peak = first;
            loop {
                // A failed reading (the process just ended) leaves the peak as it is; the
                // caller notices the end itself.
                if let Ok(now) = sample(pid) {
                    peak = peak.max(now);
                }
                match stopped.recv_timeout(SAMPLE_EVERY) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return peak,
                }
            }
        });
        Sampler { stop, thread }
    }

    /// Stops sampling; the peaks seen.
    pub fn finish(self) -> Option<Sample> {
        let _ = self.stop.send(());
        self.thread.join().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_parses() {
        let status = "Name:\tringstream\nVmPeak:\t  99 kB\nVmRSS:\t   12345 kB\nThreads: 2\n";
        assert_eq!(parse_rss_kib(status), Some(12345));
        assert_eq!(parse_rss_kib("Name: x\n"), None);
    }

    #[test]
    fn this_process_can_be_sampled() {
        let now = sample(std::process::id()).expect("/proc/self");
        assert!(now.rss_kib > 0 && now.fds >= 3, "{now:?}");
        let peak = Sampler::start(std::process::id(), Sample::default())
            .finish()
            .expect("the sampler thread");
        assert!(peak.rss_kib > 0, "{peak:?}");
    }
}
