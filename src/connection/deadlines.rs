//! Which deadlines apply in which state, and how long each runs.

use crate::config::Config;
use crate::connection::link::{Link, Phase};
use crate::timers::{Deadline, Lengths, Timers};

/// How long each deadline runs in the connection's current state; `None`
/// where it does not apply now. `message_open`: a fragmented message is
/// being received. Asked twice per message received (after the read and
/// before the next wait), so the state is read once and each entry set
/// straight, without a loop of matches.
pub(crate) fn lengths(
    config: &Config,
    link: &Link,
    timers: &Timers,
    message_open: bool,
) -> Lengths {
    let phase = link.phase();
    let close_sent = link.close_sent();
    let open = phase == Phase::Open && !close_sent;
    // While a keepalive Ping is unanswered, the Pong deadline runs instead.
    let ping_unanswered = timers.get(Deadline::Pong).is_some();
    let mut lengths: Lengths = [None; 6];
    if phase == Phase::Handshaking {
        lengths[Deadline::Handshake as usize] = config.handshake_timeout;
    }
    if open {
        if ping_unanswered {
            lengths[Deadline::Pong as usize] = Some(config.pong_timeout);
        } else {
            lengths[Deadline::Keepalive as usize] = config.ping_interval;
        }
        if message_open {
            lengths[Deadline::Message as usize] = config.message_timeout;
        }
        lengths[Deadline::Idle as usize] = config.idle_timeout;
    } else if phase == Phase::Open && close_sent && !link.close_received() {
        lengths[Deadline::Close as usize] = config.close_timeout;
    }
    lengths
}
