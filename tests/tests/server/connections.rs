//! What a client may hold of the server before it sends a request: slow request heads and
//! idle connections are closed, and one address holds a bounded share of connections, while
//! everyone else is served as usual.

use lm_tests::{Backend, Server};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A connection from `from` that sends half a request head and then nothing.
async fn slow_client(server: SocketAddr, from: [u8; 4]) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    let mut stream = socket.connect(server).await.unwrap();
    // The server may have closed it already (over the share): writing may fail then.
    let _ = stream
        .write_all(b"GET /v1/licenses HTTP/1.1\r\nHost: lm\r\n")
        .await;
    stream
}

/// Whether the server closes `stream` within `within` (end of stream or a reset).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // An answer (408, say) before the close: read on.
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn slow_idle_and_excess_connections_are_closed_while_others_are_served() {
    let server = Server::start_with(
        Backend::Sqlite,
        &[
            "--idle-timeout",
            "1s",
            "--max-connections-per-client",
            "20",
            "--rate-limit",
            "0",
        ],
    )
    .await;
    let alice = server.manager("alice");
    let address: SocketAddr = server.url.trim_start_matches("http://").parse().unwrap();

    // A slowloris of 60 connections from one address: 20 are held, 40 closed at once.
    let mut slow = Vec::new();
    for _ in 0..60 {
        slow.push(slow_client(address, [127, 0, 0, 2]).await);
    }
    let checks = slow
        .iter_mut()
        .map(|stream| closed_within(stream, Duration::from_millis(300)));
    let at_once = futures_util::future::join_all(checks)
        .await
        .into_iter()
        .filter(|closed| *closed)
        .count();
    assert_eq!(at_once, 40, "over the address's share");

    // Meanwhile another address is served as usual.
    for _ in 0..20 {
        alice.get("/v1/licenses").await.expect(200);
    }

    // The held ones never finish their request head: closed once the idle time is up.
    let started = Instant::now();
    for stream in &mut slow {
        assert!(
            closed_within(stream, Duration::from_secs(5)).await,
            "a slow head is closed"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    // A kept-alive connection that goes quiet after an answer is closed too.
    let mut idle = TcpStream::connect(address).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: lm\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 1024];
    let n = idle.read(&mut answer).await.unwrap();
    assert!(
        answer[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer[..n])
    );
    assert!(
        closed_within(&mut idle, Duration::from_secs(5)).await,
        "an idle connection is closed"
    );

    let metrics = server.metrics().await;
    assert!(
        metrics["lm_connections_refused_over_share_total"] >= 40.0,
        "{metrics:?}"
    );
}
