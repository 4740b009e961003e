//! Load-race idle client: opens N WebSocket connections, completes every
//! handshake, then holds them idle (answering any Ping, sending nothing).
//!
//! ```text
//! ws_idle <connections> <host> <port> [hold seconds, default 60]
//! ```
//!
//! Prints `READY <n>` once `n` connections are upgraded (all of them, or as
//! many as succeeded if some failed: the failures are counted on stderr),
//! then holds them for the given time or until killed. Every socket has
//! `SO_LINGER` 0, so that when this process dies its connections are reset
//! rather than left in TIME_WAIT (thousands of them per run would eat the
//! loopback's ephemeral ports across servers). wsmachine's tokio client, no
//! extension offered, no keepalive Ping of its own; one `current_thread`
//! runtime, at most 64 handshakes under way at once.

use std::process::ExitCode;
use std::time::Duration;

use tokio::task::JoinSet;
use wsmachine::tokio::ClientBuilder;
use wsmachine::Config;

const CONNECTING_AT_ONCE: usize = 64;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !(3..=4).contains(&args.len()) {
        eprintln!("usage: ws_idle <connections> <host> <port> [hold seconds]");
        return ExitCode::from(2);
    }
    let connections: usize = args[0].parse().expect("connections");
    let url = format!("ws://{}:{}/", args[1], args[2]);
    let hold = Duration::from_secs(args.get(3).map_or(60, |s| s.parse().expect("seconds")));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        #[allow(unused_mut)]
        let mut config = Config::default().with_ping_interval(None);
        // Plain connections whatever features the build unified.
        #[cfg(feature = "deflate")]
        {
            config.deflate = None;
        }
        let mut connecting = JoinSet::new();
        let (mut started, mut upgraded, mut failed) = (0, 0, 0);
        while upgraded + failed < connections {
            while started < connections && connecting.len() < CONNECTING_AT_ONCE {
                let builder = ClientBuilder::new(&url)
                    .config(config.clone())
                    .connect_timeout(Duration::from_secs(10))
                    .handshake_timeout(Duration::from_secs(10));
                connecting.spawn(builder.connect());
                started += 1;
            }
            match connecting.join_next().await {
                Some(Ok(Ok((mut ws, _)))) => {
                    let _ = ws.get_ref().tcp().set_zero_linger();
                    upgraded += 1;
                    // Reads (and so answers Pings) until the connection ends.
                    tokio::spawn(async move { while let Some(Ok(_)) = ws.recv().await {} });
                }
                Some(Ok(Err(e))) => {
                    failed += 1;
                    if failed <= 5 {
                        eprintln!("ws_idle: connection failed: {e}");
                    }
                }
                Some(Err(e)) => panic!("connect task: {e}"),
                None => break,
            }
        }
        if failed > 0 {
            eprintln!("ws_idle: {failed} of {connections} connections failed");
        }
        println!("READY {upgraded}");
        tokio::time::sleep(hold).await;
    });
    ExitCode::SUCCESS
}
