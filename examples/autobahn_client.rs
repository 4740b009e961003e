//! Client for the Autobahn TestSuite's fuzzingserver, on the tokio
//! front-end.
//!
//! ```text
//! cargo run --release --example autobahn_client [BASE_URL] [AGENT]
//! # defaults: ws://127.0.0.1:9001 wsmachine
//! ```
//!
//! Asks `/getCaseCount`, runs every case on `/runCase?case=N&agent=AGENT`
//! (echoing each message back), then asks `/updateReports?agent=AGENT`.

use wsmachine::tokio::connect;
use wsmachine::{Message, WsError};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let base = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let agent = args.next().unwrap_or_else(|| "wsmachine".into());
    let base = base.trim_end_matches('/');

    let count: u32 = run(&format!("{base}/getCaseCount"))
        .await?
        .ok_or("no case count received")?
        .trim()
        .parse()?;
    println!("{count} cases");
    for case in 1..=count {
        if let Err(e) = run(&format!("{base}/runCase?case={case}&agent={agent}")).await {
            eprintln!("case {case}: {e}");
        }
    }
    run(&format!("{base}/updateReports?agent={agent}")).await?;
    println!("reports updated");
    Ok(())
}

/// Connects to `url`, echoes every message until the connection closes, and
/// returns the first text message received.
async fn run(url: &str) -> Result<Option<String>, WsError> {
    let (mut ws, _) = connect(url).await?;
    let mut first_text = None;
    while let Some(message) = ws.recv().await {
        let message = message?;
        if let Message::Text(text) = &message {
            first_text.get_or_insert_with(|| text.to_string());
        }
        ws.feed(message).await?;
    }
    Ok(first_text)
}
