//! Giving memory back after a burst.
//!
//! A burst of connections leaves the C allocator holding what their buffers freed: after
//! 2,000 streaming connections closed, a server kept 440 MB resident with nothing open,
//! free memory stuck between live chunks that glibc hands back to the kernel only when
//! asked. So each core asks (`malloc_trim`) once its last connection has left and a second
//! has passed without a new one — after the closes have finished and freed their buffers,
//! and at most once a second, so a server that is never idle never pays for it. The trim
//! runs on the core's own thread while it serves nobody.

use std::future::poll_fn;
use std::rc::Rc;
use std::time::Duration;

use crate::runtime::time::sleep;
use crate::sys;

use super::clients::Clients;

/// How long a core must have had no connection before it trims.
const SETTLE: Duration = Duration::from_secs(1);

/// Runs for the life of the core's server: trims after every burst.
pub(crate) async fn release_after_bursts(clients: Rc<Clients>) {
    loop {
        poll_fn(|cx| clients.poll_emptied(cx)).await;
        sleep(SETTLE).await;
        if clients.is_empty() {
            let released = sys::release_free_heap_memory();
            log::debug!("ringstream server: idle, freed heap memory released: {released}");
        }
    }
}
