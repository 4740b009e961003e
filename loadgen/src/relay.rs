//! A TCP relay that mangles segmentation without touching the bytes:
//! between a client and the server it delays, splits (down to single
//! bytes) and coalesces what passes, at random, in both directions.

use crate::client::Rng;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the relay did.
#[derive(Debug, Default)]
pub struct RelayStats {
    pub connections: AtomicU64,
    pub bytes: AtomicU64,
    /// Reads from either side.
    pub reads: AtomicU64,
    /// Writes to either side: more than reads where reads were split.
    pub writes: AtomicU64,
    /// Times a read waited and took more of what had arrived meanwhile.
    pub coalesced: AtomicU64,
    /// Pauses inserted between the pieces of a read.
    pub delays: AtomicU64,
}

impl RelayStats {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// A running relay: connect to `addr` instead of the server.
pub struct Relay {
    pub addr: SocketAddr,
    pub stats: Arc<RelayStats>,
    task: JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Relay {
    /// Listens on 127.0.0.1 and relays every connection to `upstream`.
    /// Pauses last at most `max_delay`.
    pub async fn start(upstream: SocketAddr, seed: u64, max_delay: Duration) -> io::Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(RelayStats::default());
        let shared = stats.clone();
        let task = tokio::spawn(async move {
            let mut n = 0u64;
            while let Ok((client, _)) = listener.accept().await {
                n += 1;
                shared.connections.fetch_add(1, Ordering::Relaxed);
                let stats = shared.clone();
                let seed = seed ^ n.wrapping_mul(0x9E37_79B9);
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = (client.set_nodelay(true), server.set_nodelay(true));
                    let (client_in, client_out) = client.into_split();
                    let (server_in, server_out) = server.into_split();
                    let up = pump(
                        client_in,
                        server_out,
                        Rng::new(seed),
                        max_delay,
                        stats.clone(),
                    );
                    let down = pump(server_in, client_out, Rng::new(!seed), max_delay, stats);
                    let _ = tokio::join!(up, down);
                });
            }
        });
        Ok(Relay { addr, stats, task })
    }
}

/// Copies `from` to `to`, mangling the segmentation; on end of stream
/// shuts `to` down for writing.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut rng: Rng,
    max_delay: Duration,
    stats: Arc<RelayStats>,
) -> io::Result<()> {
    let max_us = max_delay.as_micros().max(1) as u64;
    let mut buf = vec![0u8; 64 << 10];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return to.shutdown().await;
        }
        stats.reads.fetch_add(1, Ordering::Relaxed);
        pending.extend_from_slice(&buf[..n]);
        // Coalesce: wait a little and take what arrived meanwhile.
        if rng.one_in(3) {
            tokio::time::sleep(Duration::from_micros(rng.below(max_us))).await;
            while let Ok(more) = from.try_read(&mut buf) {
                if more == 0 {
                    break;
                }
                stats.coalesced.fetch_add(1, Ordering::Relaxed);
                pending.extend_from_slice(&buf[..more]);
            }
        }
        stats
            .bytes
            .fetch_add(pending.len() as u64, Ordering::Relaxed);
        // Split: pieces of random length, small ones often, with pauses.
        let mut at = 0;
        while at < pending.len() {
            let left = (pending.len() - at) as u64;
            let piece = match rng.below(4) {
                0 => 1 + rng.below(left.min(3)),
                1 => 1 + rng.below(left.min(64)),
                _ => 1 + rng.below(left),
            } as usize;
            to.write_all(&pending[at..at + piece]).await?;
            stats.writes.fetch_add(1, Ordering::Relaxed);
            at += piece;
            if at < pending.len() && rng.one_in(4) {
                stats.delays.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_micros(rng.below(max_us))).await;
            }
        }
        pending.clear();
    }
}
