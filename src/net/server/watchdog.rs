//! The idle and read timeouts: one interval per core looks at every open connection
//! every `tick` (an eighth of the shortest timeout, at most a second), instead of a timer
//! per read or per connection. A connection reports only that bytes moved since the last
//! look (a bit set by its completions), so a look costs a few loads per connection, and a
//! busy connection costs nothing more than an idle one.
//!
//! Since activity is seen at the ticks, a connection is closed no sooner than its timeout
//! and at most two ticks later.

use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::runtime::time::sleep;
use crate::transport::conn::{Conn, RECEIVED, SENT};

/// How long a timed-out connection may take to close gracefully (flush what is queued,
/// FIN) before it is aborted: a peer that reads nothing would otherwise hold it open.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

const MAX_TICK: Duration = Duration::from_secs(1);
const MIN_TICK: Duration = Duration::from_millis(5);

/// The timeouts a server was built with.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Timeouts {
    /// No byte received and none sent for this long: closed.
    pub idle: Option<Duration>,
    /// A read waiting for data this long since it began waiting or since the last bytes
    /// arrived, whichever is later: closed.
    pub read: Option<Duration>,
}

impl Timeouts {
    /// How often the connections are looked at; `None` when no timeout is set.
    pub(crate) fn tick(&self) -> Option<Duration> {
        let shortest = match (self.idle, self.read) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        Some((shortest / 8).clamp(MIN_TICK, MAX_TICK))
    }
}

/// What a look decided for one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Keep,
    /// Timed out (by the named setting): close it.
    Close(&'static str),
}

/// One connection's activity as seen at the ticks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Watch {
    /// The last tick that saw bytes move either way (or the accept).
    last_active: Instant,
    /// The last tick that saw bytes arrive (or the accept).
    last_received: Instant,
    /// The first tick of the current run of ticks that saw a read waiting.
    waiting_since: Option<Instant>,
    /// Closed for a timeout already.
    timed_out: bool,
}

impl Watch {
    pub(crate) fn new(now: Instant) -> Watch {
        Watch {
            last_active: now,
            last_received: now,
            waiting_since: None,
            timed_out: false,
        }
    }

    /// Looks at `conn` at tick `now`.
    pub(crate) fn look(&mut self, conn: &Conn, now: Instant, timeouts: &Timeouts) -> Verdict {
        let moved = conn.take_activity();
        if moved & RECEIVED != 0 {
            self.last_received = now;
        }
        if moved & (RECEIVED | SENT) != 0 {
            self.last_active = now;
        }
        if self.timed_out {
            return Verdict::Keep;
        }
        // A waiting read finishes only when data, EOF or an error arrives (or when it is
        // dropped), so two ticks that both see one waiting saw one wait unless bytes
        // arrived in between, which `last_received` covers.
        self.waiting_since = if conn.inbound.borrow().read_pending() {
            Some(self.waiting_since.unwrap_or(now))
        } else {
            None
        };
        let idle = timeouts
            .idle
            .is_some_and(|t| now.duration_since(self.last_active) >= t);
        let slow = match (timeouts.read, self.waiting_since) {
            (Some(t), Some(since)) => now.duration_since(since.max(self.last_received)) >= t,
            _ => false,
        };
        let verdict = if idle {
            Verdict::Close("idle_timeout")
        } else if slow {
            Verdict::Close("read_timeout")
        } else {
            Verdict::Keep
        };
        self.timed_out = verdict != Verdict::Keep;
        verdict
    }
}

/// Closes a timed-out connection: gracefully, then aborted if it has not closed within
/// [`CLOSE_GRACE`] (its own timer, which outlives the handler: a handler that ends on the
/// EOF its reads now see would otherwise leave the flush to a peer that reads nothing).
pub(crate) fn close(conn: Rc<Conn>) {
    conn.close();
    drop(crate::spawn(async move {
        sleep(CLOSE_GRACE).await;
        if !conn.outbound.borrow().is_torn_down() {
            conn.abort();
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_is_an_eighth_of_the_shortest_timeout_within_bounds() {
        let ms = Duration::from_millis;
        let t = |idle, read| Timeouts { idle, read }.tick();
        assert_eq!(t(None, None), None);
        assert_eq!(t(Some(ms(800)), None), Some(ms(100)));
        assert_eq!(t(Some(ms(800)), Some(ms(400))), Some(ms(50)));
        assert_eq!(t(None, Some(ms(8))), Some(MIN_TICK));
        assert_eq!(t(Some(Duration::from_secs(600)), None), Some(MAX_TICK));
    }
}
