//! The `ringstream` command: an echo server, a load generator for any echo server, and a
//! self-contained benchmark of both over loopback.
//!
//! - `echo.rs` — `ringstream echo`: a `StreamServer` echo server until Ctrl-C / SIGTERM.
//! - `load.rs` (+ `load/`) — `ringstream load`: ping-pong or streaming load, every byte
//!   checked, latency percentiles, a `RESULT` line.
//! - `bench.rs` — `ringstream bench`: both in one process through fixed scenarios;
//!   `runtime_demo.rs` is `bench --runtime`.
//! - `soak.rs` (+ `soak/`) — `ringstream soak`: the echo server as a child process
//!   through phases of `load`, watching its memory and descriptors.
//! - `output.rs` (printing that survives a closed stdout), `logger.rs` (the library's
//!   warnings on stderr, `RUST_LOG`).
//!
//! The load generator, the echo handler, CPU accounting, tables and units are the
//! harness's (`ringstream_harness`), which the benches share.
//!
//! Exit codes: 0 on success, 1 when the command fails (it says why), 2 for invalid
//! arguments (from clap, with the usage); `echo` stopped by a second signal exits with
//! 128 + its number.

// Every print goes through `output` (a closed stdout must not panic the command).
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod echo;
mod load;
mod logger;
mod output;
mod runtime_demo;
mod soak;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use output::errln;

/// asyncio-style Streams on io_uring, one single-threaded runtime per core.
#[derive(Debug, Parser)]
#[command(name = "ringstream", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Run a sharded echo server (one pinned thread and ring per core) until Ctrl-C or
    /// SIGTERM.
    Echo(echo::EchoArgs),
    /// Load an echo server (any echo server) with ping-pong or streaming connections and
    /// report throughput and latency; every echoed byte is checked.
    Load(load::LoadArgs),
    /// Benchmark the echo server and the load generator together over loopback (or the
    /// runtime alone with --runtime).
    Bench(bench::BenchArgs),
    /// Run the echo server as a child process through phases of streaming and ping-pong
    /// load, and check that it lost no byte, stalled no connection, and gave back its
    /// file descriptors and memory afterwards.
    Soak(soak::SoakArgs),
}

impl Command {
    /// Option combinations clap cannot express (e.g. `--pipeline` with `--mode stream`).
    ///
    /// # Errors
    /// What is wrong with the combination.
    fn check(&self) -> Result<(), String> {
        match self {
            Command::Load(args) => load::config_from_args(args).map(drop),
            Command::Echo(_) | Command::Bench(_) | Command::Soak(_) => Ok(()),
        }
    }

    /// The subcommand's name, for error messages.
    fn name(&self) -> &'static str {
        match self {
            Command::Echo(_) => "echo",
            Command::Load(_) => "load",
            Command::Bench(_) => "bench",
            Command::Soak(_) => "soak",
        }
    }
}

/// The most cores (pinned threads, one ring each) `echo`, `load` and `soak` accept.
const MAX_CORES: i64 = 1024;

/// Parses the command line, runs the command, and maps the outcome to an exit code.
fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(why) = cli.command.check() {
        // An invalid combination of options is a usage error, as clap's own: status 2.
        let mut command = Cli::command();
        let sub = command.find_subcommand_mut(cli.command.name()).map(|sub| {
            sub.clone()
                .bin_name(format!("ringstream {}", cli.command.name()))
        });
        sub.unwrap_or(command)
            .error(clap::error::ErrorKind::ArgumentConflict, why)
            .exit();
    }
    logger::init();
    let outcome = match &cli.command {
        Command::Echo(args) => echo::run(args).map(echo::Stopped::exit_code),
        Command::Load(args) => load::run(args).map(failed_if_false),
        Command::Bench(args) => bench::run(args).map(failed_if_false),
        Command::Soak(args) => soak::run(args).map(failed_if_false),
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            errln!("ringstream {}: error: {e}", cli.command.name());
            ExitCode::from(1)
        }
    }
}

/// 0 for a run that went well, 1 for one that did not (the command has printed why).
fn failed_if_false(ok: bool) -> u8 {
    if ok {
        0
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn subcommands_parse() {
        let cli = Cli::try_parse_from([
            "ringstream",
            "load",
            "--conns",
            "8",
            "--size",
            "4KiB",
            "--duration",
            "500ms",
            "--pipeline",
            "4",
        ])
        .expect("valid load arguments");
        let Command::Load(args) = cli.command else {
            panic!("not load: {cli:?}");
        };
        assert_eq!((args.conns, args.size, args.pipeline), (8, 4096, Some(4)));
        assert_eq!(args.duration, std::time::Duration::from_millis(500));

        let cli = Cli::try_parse_from(["ringstream", "bench", "--scenario", "pp64x4k"])
            .expect("valid bench arguments");
        assert!(matches!(
            cli.command,
            Command::Bench(bench::BenchArgs {
                scenario: Some(bench::Scenario::Pp64x4k),
                runtime: false,
                ..
            })
        ));
    }

    #[test]
    fn bad_arguments_are_rejected() {
        for args in [
            &["ringstream", "load", "--duration", "ten"][..],
            &["ringstream", "load", "--size", "0"],
            &["ringstream", "load", "--conns", "0"],
            &["ringstream", "echo", "--addr", "x:1", "--unix", "/tmp/s"],
            &["ringstream", "bench", "--runtime", "--scenario", "pp1"],
            &["ringstream", "bench", "--scenario", "nope"],
            &["ringstream", "serve"],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?} parsed");
        }
    }
}
