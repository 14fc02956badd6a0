//! A TCP server that takes requests and stalls: for timeout tests of
//! HTTP and JSON-RPC clients.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A loopback server answering every connection with `head` (after
/// reading the request, up to 4 KiB) and then nothing, holding the
/// connection open for an hour: a node that accepts the call and never
/// finishes the answer (`b""`: never starts it).
pub async fn stalling_server(head: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding a loopback port");
    let addr = listener.local_addr().expect("the bound address");
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = conn.read(&mut request).await;
                let _ = conn.write_all(head).await;
                tokio::time::sleep(Duration::from_secs(3600)).await;
                drop(conn);
            });
        }
    });
    addr
}
