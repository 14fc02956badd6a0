//! What the RPC test files share: a minimal HTTP/1.1 client that posts a
//! raw JSON-RPC body with any `Authorization` header (or none), to check
//! what a peer that is not our client sees on the wire.

/// Posts `body` with an optional raw Authorization header; returns the
/// parsed JSON answer (a minimal HTTP/1.1 client over a TCP stream).
#[allow(dead_code)]
pub async fn raw_post(url: &str, auth: Option<&str>, body: &str) -> serde_json::Value {
    let host = url.trim_start_matches("http://");
    let stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let (head, payload) = exchange(stream, host, auth, body).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    serde_json::from_str(&payload).unwrap_or_else(|e| panic!("{e}: {payload}"))
}

/// Posts `body` without a token from the local address `from` (any
/// `127.x.y.z` on Linux); returns the status line and the body.
#[allow(dead_code)]
pub async fn raw_post_from(from: std::net::IpAddr, url: &str, body: &str) -> (String, String) {
    let host = url.trim_start_matches("http://");
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::new(from, 0)).unwrap();
    let stream = socket.connect(host.parse().unwrap()).await.unwrap();
    let (head, payload) = exchange(stream, host, None, body).await;
    (head.lines().next().unwrap_or_default().to_string(), payload)
}

/// `GET <path>` without a token from the local address `from`, as
/// damocles-worker fetches a piece; returns the response's head (status
/// line and headers).
#[allow(dead_code)]
pub async fn raw_get_from(from: std::net::IpAddr, url: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = url.trim_start_matches("http://");
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::new(from, 0)).unwrap();
    let mut stream = socket.connect(host.parse().unwrap()).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let _ = stream.write_all(request.as_bytes()).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response).into_owned();
    let head = response
        .split_once("\r\n\r\n")
        .map_or(&*response, |(h, _)| h);
    head.to_string()
}

/// One request on `stream`; the response's head and (dechunked) body.
async fn exchange(
    mut stream: tokio::net::TcpStream,
    host: &str,
    auth: Option<&str>,
    body: &str,
) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    // A refused client may be cut off before its request is written.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, payload) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let payload = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(payload)
    } else {
        payload.to_string()
    };
    (head.to_string(), payload)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = s.split_once("\r\n").unwrap();
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        s = &rest[size + 2..];
    }
}
