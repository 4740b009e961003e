//! What the load-race echo servers share (included with `#[path]` by each
//! `src/bin/echo_*.rs`): the port, a `current_thread` runtime, and an accept
//! loop that spawns one task per connection.
//!
//! Every server binds `127.0.0.1:PORT` (the first argument, else `$PORT`,
//! else 9001), sets `TCP_NODELAY` on each accepted socket, prints one
//! `listening on ...` line and serves until it is killed.

use std::future::Future;
use std::io;

use tokio::net::{TcpListener, TcpStream};

/// The port from the first argument, else `$PORT`, else 9001.
pub fn port() -> u16 {
    std::env::args()
        .nth(1)
        .or_else(|| std::env::var("PORT").ok())
        .map(|p| p.parse().expect("PORT must be a port number"))
        .unwrap_or(9001)
}

/// Runs `serve` for every accepted connection, each in its own task, on a
/// single-threaded runtime (IO and time drivers).
pub fn run<F, Fut>(name: &str, serve: F) -> io::Result<()>
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(("127.0.0.1", port())).await?;
        println!("{name} listening on ws://{}", listener.local_addr()?);
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve(stream));
                }
                // Out of file descriptors and the like: keep serving the
                // connections we have.
                Err(e) => {
                    eprintln!("{name}: accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            }
        }
    })
}
