//! The idle and read timeouts: one interval per core looks at every open connection
//! every `tick` (an eighth of the shortest timeout, at most a second), instead of a timer
//! per read or per connection. A connection reports only that bytes moved since the last
//! look (a bit set by its completions), so a look costs a few loads per connection, a
//! busy connection costs nothing more than an idle one, and the registry keeps 16 bytes
//! of stamps per connection (tick numbers, not `Instant`s).
//!
//! Activity is seen at the ticks and stamped with the next tick number, so a connection is
//! closed no sooner than its timeout and at most about three ticks later.

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

    /// The tick numbering of one core, starting at `origin`; `None` when no timeout is set.
    pub(crate) fn clock(&self, origin: Instant) -> Option<Clock> {
        let period = self.tick()?;
        let ticks = |t: Duration| u32::try_from(t.as_nanos().div_ceil(period.as_nanos())).ok();
        Some(Clock {
            origin,
            period,
            // Longer than 2^32 ticks (136 years at the longest tick): as good as none.
            idle: self.idle.and_then(ticks),
            read: self.read.and_then(ticks),
        })
    }
}

/// Tick numbers of one core: time since `origin` in periods, wrapping at 2^32 (a
/// difference of tick numbers is right as long as it is below 2^32 ticks, and every
/// timeout is shorter).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    origin: Instant,
    period: Duration,
    /// The timeouts in ticks, rounded up.
    idle: Option<u32>,
    read: Option<u32>,
}

impl Clock {
    /// The last tick boundary at or before `now`.
    fn floor(&self, now: Instant) -> u32 {
        (now.duration_since(self.origin).as_nanos() / self.period.as_nanos()) as u32
    }

    /// A stamp for something seen at `now`: the next tick boundary, so that it is never
    /// earlier than what it stamps.
    pub(crate) fn stamp(&self, now: Instant) -> u32 {
        self.floor(now).wrapping_add(1)
    }
}

/// What a look decided for one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Keep,
    /// Timed out (by the named setting): close it.
    Close(&'static str),
}

/// One connection's activity as seen at the ticks (tick numbers of its core's [`Clock`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Watch {
    /// Bytes last moved either way (or the accept).
    last_active: u32,
    /// Bytes last arrived (or the accept).
    last_received: u32,
    /// The first look of the current run of looks that saw a read waiting.
    waiting_since: u32,
    waiting: bool,
    /// Closed for a timeout already.
    timed_out: bool,
}

impl Watch {
    /// A connection accepted at tick stamp `now`.
    pub(crate) fn new(now: u32) -> Watch {
        Watch {
            last_active: now,
            last_received: now,
            waiting_since: now,
            waiting: false,
            timed_out: false,
        }
    }

    /// Looks at `conn` at `now`.
    pub(crate) fn look(&mut self, conn: &Conn, clock: &Clock, now: Instant) -> Verdict {
        let stamp = clock.stamp(now);
        let moved = conn.take_activity();
        if moved & RECEIVED != 0 {
            self.last_received = stamp;
        }
        if moved & (RECEIVED | SENT) != 0 {
            self.last_active = stamp;
        }
        if self.timed_out {
            return Verdict::Keep;
        }
        // A waiting read finishes only when data, EOF or an error arrives (or when it is
        // dropped), so two looks that both see one waiting saw one wait unless bytes
        // arrived in between, which `last_received` covers.
        let waiting = conn.read_pending();
        if waiting && !self.waiting {
            self.waiting_since = stamp;
        }
        self.waiting = waiting;
        // Whole ticks since a stamp; never more than the time really passed.
        let floor = clock.floor(now);
        let since = |stamp: u32| {
            let ticks = floor.wrapping_sub(stamp);
            // A stamp from this very tick is "ahead" of the floor: no time passed yet.
            if ticks > u32::MAX / 2 {
                0
            } else {
                ticks
            }
        };
        let idle = clock.idle.is_some_and(|t| since(self.last_active) >= t);
        let slow = clock.read.is_some_and(|t| {
            self.waiting && since(self.waiting_since).min(since(self.last_received)) >= t
        });
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
    drop(crate::runtime::spawn(async move {
        sleep(CLOSE_GRACE).await;
        if !conn.is_torn_down() {
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

    /// Stamps round up and elapsed ticks round down, so a timeout never fires early.
    #[test]
    fn stamps_never_make_a_timeout_early() {
        let origin = Instant::now();
        let clock = Timeouts {
            idle: Some(Duration::from_millis(80)),
            read: None,
        }
        .clock(origin)
        .expect("clock");
        assert_eq!(clock.period, Duration::from_millis(10));
        assert_eq!(clock.idle, Some(8));
        let at = |ms: u64| origin + Duration::from_millis(ms);
        // Seen at 3 ms: stamped tick 1 (10 ms), so 8 ticks have passed only at 90 ms.
        assert_eq!(clock.stamp(at(3)), 1);
        assert_eq!(clock.floor(at(89)), 8);
        assert_eq!(clock.floor(at(90)), 9);
        assert_eq!(clock.floor(at(90)).wrapping_sub(clock.stamp(at(3))), 8);
        assert_eq!(clock.stamp(at(10)), 2);
    }
}
