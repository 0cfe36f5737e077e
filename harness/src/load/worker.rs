//! One load thread: opens its share of the connections, reports whether they all opened,
//! waits for the start signal (so every thread starts measuring at the same moment), runs
//! its connections, and sends back what it measured.

use std::rc::Rc;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use ringstream::time::timeout;
use ringstream::{Stream, StreamOptions};

use super::conn::{self, Job};
use super::deadline::Deadline;
use super::pattern::pattern_table;
use super::stats::{Counters, Recorder, ThreadStats};
use super::{Mode, Target};

/// Longest wait for one connection to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What every load thread is told to do.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Where to connect.
    pub target: Target,
    /// Ping-pong or stream.
    pub mode: Mode,
    /// Message or chunk size.
    pub size: usize,
    /// Messages in flight per connection (ping-pong).
    pub pipeline: usize,
    /// When to stop sending (set when the gate opens).
    pub deadline: Arc<Deadline>,
    /// No echo for this long while bytes are outstanding is a stall.
    pub stall_timeout: Duration,
    /// Stream mode: most unechoed bytes per connection (0: no bound).
    pub window: usize,
    /// Speak TLS on every connection.
    pub tls: Option<super::ClientTls>,
}

/// A thread's report after opening its connections.
#[derive(Debug)]
pub struct Ready {
    /// Connections that failed to open.
    pub failed: usize,
    /// Why the first of them failed.
    pub first_error: Option<String>,
}

/// The start signal: go (the plan's deadline is set), or give up (another thread could
/// not open its connections). Set once, waited for by every thread.
#[derive(Debug, Default)]
pub struct Gate {
    state: Mutex<Option<bool>>,
    opened: Condvar,
}

impl Gate {
    /// Releases the waiting threads: to run if `go`, else to stop. Only the first call
    /// counts.
    pub fn open(&self, go: bool) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.is_none() {
            *state = Some(go);
            self.opened.notify_all();
        }
    }

    /// Blocks until [`open`](Gate::open); whether to run.
    fn wait(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(go) = *state {
                return go;
            }
            state = self.opened.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Everything one load thread needs.
pub struct Worker {
    /// The ids of this thread's connections.
    pub conn_ids: Vec<u32>,
    /// What to do.
    pub plan: Arc<Plan>,
    /// Live totals for the progress line.
    pub counters: Arc<Counters>,
    /// Where to report that the connections are open (or not).
    pub ready: Sender<Ready>,
    /// The start signal.
    pub gate: Arc<Gate>,
    /// Where to send the results.
    pub done: Sender<ThreadStats>,
}

impl Worker {
    /// Runs this thread's part of the load (on a ringstream runtime).
    pub async fn run(self) {
        let opened = self.open_all().await;
        let failed = self.conn_ids.len() - opened.iter().filter(|r| r.is_ok()).count();
        let first_error = opened.iter().find_map(|r| r.as_ref().err().cloned());
        let _ = self.ready.send(Ready {
            failed,
            first_error,
        });
        // Blocking is fine here: this runtime has nothing else to run until the start.
        if !self.gate.wait() {
            return;
        }
        let job = Job {
            mode: self.plan.mode,
            size: self.plan.size,
            pipeline: self.plan.pipeline,
            deadline: self.plan.deadline.clone(),
            stall_timeout: self.plan.stall_timeout,
            window: self.plan.window,
        };
        let recorder = Rc::new(Recorder::new(self.counters.clone()));
        let table = pattern_table(conn::table_window(&job));
        let tasks: Vec<_> = self
            .conn_ids
            .iter()
            .zip(opened)
            .filter_map(|(&id, stream)| stream.ok().map(|s| (id, s)))
            .map(|(id, stream)| {
                let run = conn::run(id, stream, job.clone(), table.clone(), recorder.clone());
                ringstream::spawn(run)
            })
            .collect();
        for task in tasks {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(message)) => recorder.error(message),
                Err(e) => recorder.error(format!("a connection task failed: {e}")),
            }
        }
        let _ = self.done.send(recorder.finish());
    }

    /// Opens every connection of this thread at once, each bounded by [`CONNECT_TIMEOUT`].
    async fn open_all(&self) -> Vec<Result<Stream, String>> {
        let tasks: Vec<_> = self
            .conn_ids
            .iter()
            .map(|_| ringstream::spawn(open(self.plan.clone())))
            .collect();
        let mut streams = Vec::with_capacity(tasks.len());
        for task in tasks {
            streams.push(match task.await {
                Ok(result) => result,
                Err(e) => Err(format!("the connect task failed: {e}")),
            });
        }
        streams
    }
}

/// Opens one connection with options that suit the mode.
async fn open(plan: Arc<Plan>) -> Result<Stream, String> {
    let mut options = StreamOptions::default();
    if plan.mode.streams() {
        // Room for a few chunks in the write buffer, so the writer is not stopped by the
        // watermark after every chunk.
        options.high = Some((4 * plan.size).max(256 * 1024));
    }
    let connecting = async {
        let stream = match &plan.target {
            Target::Tcp(addr) => ringstream::connect_with(addr, options).await,
            Target::Unix(path) => ringstream::connect_unix_with(path, options).await,
        }?;
        if let Some(tls) = &plan.tls {
            tls.start(&stream).await?;
        }
        Ok::<Stream, std::io::Error>(stream)
    };
    match timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "connecting to {} took longer than {CONNECT_TIMEOUT:?}",
            plan.target
        )),
    }
}
