//! Shared support for the control port's tests: a server served by a control port on a free
//! loopback port, and HTTP spoken by hand on a raw connection.

#![allow(dead_code)]

use jetstream_control::{Client, ClientOptions, Control, ControlOptions};
use jetstream_engine::server::{Server, ServerOptions};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A server in `dir` served by a control port on a free loopback port.
pub struct Port {
    pub control: Option<Control>,
    pub server: Arc<Server>,
    pub addr: SocketAddr,
}

impl Port {
    pub async fn start(dir: &Path, opts: ControlOptions) -> Port {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut server_opts = ServerOptions::new(dir.to_path_buf());
        server_opts.api_control_port = Some(addr.port());
        server_opts.auth_required = opts.auth_required;
        let server = Arc::new(Server::open(server_opts).await.unwrap());
        let control = Control::start(listener, Arc::clone(&server), opts).unwrap();
        Port {
            control: Some(control),
            server,
            addr,
        }
    }

    /// Plain HTTP, every request run without a login.
    pub async fn without_login(dir: &Path) -> Port {
        Port::start(
            dir,
            ControlOptions {
                auth_required: false,
                ..ControlOptions::default()
            },
        )
        .await
    }

    /// Plain HTTP, logins required.
    pub async fn with_login(dir: &Path) -> Port {
        Port::start(dir, ControlOptions::default()).await
    }

    pub async fn client(
        &self,
        opts: ClientOptions,
    ) -> Result<Client, jetstream_engine::error::Error> {
        Client::connect("127.0.0.1", self.addr.port(), opts).await
    }

    pub async fn plain_client(&self) -> Client {
        self.client(ClientOptions {
            plain: true,
            ..ClientOptions::default()
        })
        .await
        .unwrap()
    }

    pub async fn stop(mut self) {
        self.server.close().await;
        if let Some(control) = self.control.take() {
            control.shutdown(Duration::from_secs(1)).await;
        }
    }
}

/// An HTTP answer read off a raw connection: status and body.
pub struct Raw {
    pub status: u16,
    pub headers: String,
    pub body: Value,
}

/// Reads one HTTP answer (with a Content-Length) from `stream`.
pub fn read_answer(stream: &mut TcpStream) -> Raw {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            stream.read(&mut byte).unwrap(),
            1,
            "the answer ended early: {head:?}"
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let status = head[9..12].parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .unwrap();
    let mut body = vec![0; length];
    stream.read_exact(&mut body).unwrap();
    Raw {
        status,
        headers: head.to_ascii_lowercase(),
        body: serde_json::from_slice(&body).unwrap(),
    }
}

/// Sends `POST /api` with `body` on `stream` and reads the answer.
pub fn post(stream: &mut TcpStream, body: &str) -> Raw {
    post_with(stream, body, "")
}

/// Sends `POST /api` with `body` and the header lines `headers` (each ending in CRLF).
pub fn post_with(stream: &mut TcpStream, body: &str, headers: &str) -> Raw {
    write!(
        stream,
        "POST /api HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    read_answer(stream)
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream
}
