//! Which deadlines apply in which state, and how long each runs.

use crate::config::Config;
use crate::connection::link::{Link, Phase};
use crate::timers::{Deadline, Lengths, Timers};

/// How long each deadline runs in the connection's current state; `None`
/// where it does not apply now. `message_open`: a fragmented message is
/// being received.
pub(crate) fn lengths(
    config: &Config,
    link: &Link,
    timers: &Timers,
    message_open: bool,
) -> Lengths {
    let open = link.can_send();
    let mut lengths: Lengths = [None; 6];
    for which in Deadline::ALL {
        lengths[which as usize] = match which {
            Deadline::Handshake if link.phase() == Phase::Handshaking => config.handshake_timeout,
            // While a keepalive Ping is unanswered, the Pong deadline runs instead.
            Deadline::Keepalive if open && timers.get(Deadline::Pong).is_none() => {
                config.ping_interval
            }
            Deadline::Pong if open => timers.get(Deadline::Pong).map(|_| config.pong_timeout),
            Deadline::Close if link.is_open() && link.close_sent() && !link.close_received() => {
                config.close_timeout
            }
            Deadline::Message if open && message_open => config.message_timeout,
            Deadline::Idle if open => config.idle_timeout,
            _ => None,
        };
    }
    lengths
}
