//! Load-race echo server: tokio-tungstenite with its default config
//! (`accept_async`, then `StreamExt::next` / `SinkExt::send`, one flush per
//! echo), on a `current_thread` runtime. `echo_tokio_tungstenite [PORT]`.

#[path = "../load_race_server.rs"]
mod server;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

fn main() -> std::io::Result<()> {
    server::run("tokio-tungstenite", |stream| async move {
        let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
            return;
        };
        // A Close is answered by tungstenite itself; the stream then ends.
        while let Some(Ok(message)) = ws.next().await {
            if matches!(message, Message::Binary(_) | Message::Text(_))
                && ws.send(message).await.is_err()
            {
                break;
            }
        }
    })
}
