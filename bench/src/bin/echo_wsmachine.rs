//! Load-race echo server: wsmachine's tokio front-end, the loop of
//! `examples/echo_server_tokio.rs` (`accept`, then `recv` / `feed`), default
//! `Config`, on a `current_thread` runtime. `echo_wsmachine [PORT]`.

#[path = "../load_race_server.rs"]
mod server;

use std::sync::Arc;

use wsmachine::tokio::accept;
use wsmachine::Config;

fn main() -> std::io::Result<()> {
    let config = Arc::new(Config::default());
    server::run("wsmachine", move |stream| {
        let config = Arc::clone(&config);
        async move {
            let Ok(mut ws) = accept(stream, config).await else {
                return;
            };
            // `feed` queues without writing: the next `recv` writes the
            // batch before it waits for more.
            while let Some(Ok(message)) = ws.recv().await {
                if ws.feed(message).await.is_err() {
                    break;
                }
            }
        }
    })
}
