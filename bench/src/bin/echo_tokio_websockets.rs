//! Load-race echo server: tokio-websockets, as its own benchmark server
//! (`examples/echo_server.rs` in its repository) does it: `ServerBuilder`
//! with unlimited frame size and limits, each connection task
//! `unconstrained`, `StreamExt::next` / `SinkExt::send`, on a
//! `current_thread` runtime. `echo_tokio_websockets [PORT]`.

#[path = "../load_race_server.rs"]
mod server;

use futures_util::{SinkExt, StreamExt};
use tokio_websockets::{Config, Limits, ServerBuilder};

fn main() -> std::io::Result<()> {
    server::run("tokio-websockets", |stream| {
        tokio::task::unconstrained(async move {
            let Ok((_request, mut ws)) = ServerBuilder::new()
                .config(Config::default().frame_size(usize::MAX))
                .limits(Limits::unlimited())
                .accept(stream)
                .await
            else {
                return;
            };
            while let Some(Ok(message)) = ws.next().await {
                if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
                    break;
                }
            }
        })
    })
}
