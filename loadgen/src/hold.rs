//! Holding a connection open: a task that keeps reading it (so the
//! server's keepalive Pings are answered) until told to echo one checked
//! message, to close, or to reset.

use crate::client::{exchange, Exchange, Ws};
use crate::ledger::{Latencies, Ledger};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use wsmachine::{CloseCode, Message};

/// What a held connection saw while it was held.
#[derive(Clone, Copy, Debug, Default)]
pub struct HoldStats {
    pub pings: u64,
    /// Data messages while idle (the servers send none unasked).
    pub unexpected: u64,
    /// The connection ended (or an echo failed) before the harness ended it.
    pub ended_early: bool,
}

enum Command {
    Echo(oneshot::Sender<(Ledger, Latencies)>),
    Close,
    Reset,
}

/// A connection held by its own task.
pub struct Holder {
    commands: mpsc::UnboundedSender<Command>,
    task: JoinHandle<HoldStats>,
}

/// Longest an echo or a closing handshake of a held connection may take.
const PATIENCE: Duration = Duration::from_secs(30);

impl Holder {
    pub fn new(ws: Box<Ws>, id: u32) -> Holder {
        let (commands, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(ws, id, rx));
        Holder { commands, task }
    }

    /// Echoes one checked message; its account (one message sent, lost if
    /// the connection had ended) and latency. Runs without borrowing the
    /// holder, so that many can run at once.
    pub fn echo(&self) -> impl std::future::Future<Output = (Ledger, Latencies)> + Send + 'static {
        let (reply, answer) = oneshot::channel();
        let sent = self.commands.send(Command::Echo(reply)).is_ok();
        async move {
            match (sent, answer.await) {
                (true, Ok(result)) => result,
                _ => {
                    // The task is gone: one message, lost.
                    let mut ledger = Ledger::new(u32::MAX);
                    ledger.next_seq();
                    (ledger, Latencies::default())
                }
            }
        }
    }

    /// Closes it with the closing handshake.
    pub async fn close(self) -> HoldStats {
        let _ = self.commands.send(Command::Close);
        self.task.await.expect("holder panicked")
    }

    /// Resets it (`SO_LINGER` 0).
    pub async fn reset(self) -> HoldStats {
        let _ = self.commands.send(Command::Reset);
        self.task.await.expect("holder panicked")
    }
}

async fn run(
    mut ws: Box<Ws>,
    id: u32,
    mut commands: mpsc::UnboundedReceiver<Command>,
) -> HoldStats {
    let mut stats = HoldStats::default();
    ws.set_receive_control(true);
    loop {
        tokio::select! {
            message = ws.recv(), if !stats.ended_early => match message {
                Some(Ok(Message::Ping(_))) => stats.pings += 1,
                Some(Ok(Message::Pong(_))) => {}
                Some(Ok(Message::Text(_) | Message::Binary(_))) => stats.unexpected += 1,
                Some(Ok(Message::Close(_)) | Err(_)) | None => stats.ended_early = true,
            },
            command = commands.recv() => match command {
                Some(Command::Echo(reply)) => {
                    let mut ledger = Ledger::new(id);
                    let mut latencies = Latencies::default();
                    if stats.ended_early {
                        ledger.next_seq();
                    } else {
                        ws.set_receive_control(false);
                        let plan = Exchange {
                            count: Some(1),
                            window: 1,
                            size: &mut || 100,
                            stop: None,
                            patience: PATIENCE,
                        };
                        if exchange(&mut ws, &mut ledger, &mut latencies, plan).await.is_err() {
                            stats.ended_early = true;
                        }
                        ws.set_receive_control(true);
                    }
                    let _ = reply.send((ledger, latencies));
                }
                Some(Command::Close) => {
                    let _ = tokio::time::timeout(PATIENCE, ws.close(CloseCode::NORMAL, "done")).await;
                    return stats;
                }
                Some(Command::Reset) | None => {
                    let _ = ws.get_ref().set_zero_linger();
                    return stats;
                }
            },
        }
    }
}
