//! The control port as a client meets it: commands answered with their result or with
//! `{code, message}` and the status the code maps to, connections kept alive, and bad input
//! refused with a clear code while the port goes on serving everyone else: malformed JSON, a
//! body over the limit, a client that sends its request a byte a second, unknown methods and
//! endpoints. And TLS: the certificate pinned by its fingerprint or trusted through a CA file,
//! any other refused by the client, a renewed certificate served to new connections.

mod support;

use jetstream_control::{
    fingerprint, Client, ClientOptions, ControlOptions, TlsIdentity, CERT_FILE, KEY_FILE,
};
use jetstream_engine::error::Code;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::{connect, post, read_answer, Port};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_and_refusals_carry_the_engines_json_and_codes() {
    let dir = tempfile::tempdir().unwrap();
    let port = Port::without_login(dir.path()).await;
    let identity = TlsIdentity::load_or_create(&dir.path().join("tls"), &[]).unwrap();
    let plain_port = port
        .control
        .as_ref()
        .unwrap()
        .replace_certificate(&identity);
    assert_eq!(plain_port.unwrap_err().code, Code::InvalidState);
    let client = port.plain_client().await;
    let info = client.execute("getServerInfo", json!({})).await.unwrap();
    assert_eq!(info["apiControlPort"], json!(port.addr.port()));
    assert_eq!(
        info,
        port.server
            .execute_json(r#"{"method":"getServerInfo"}"#)
            .await
            .map(|t| serde_json::from_str::<Value>(&t).unwrap())
            .unwrap()
    );
    let missing = client
        .execute("getTransfer", json!({ "transferId": 999 }))
        .await
        .unwrap_err();
    assert_eq!(missing.code, Code::NotFound, "{missing}");
    let unknown = client.execute("noSuchMethod", json!({})).await.unwrap_err();
    assert_eq!(unknown.code, Code::InvalidArgument);
    assert!(unknown.message.contains("noSuchMethod"), "{unknown}");
    let bad_param = client
        .execute("getTransfer", json!({ "transferId": "x" }))
        .await
        .unwrap_err();
    assert_eq!(bad_param.code, Code::InvalidArgument);
    // The same answers on the wire: status by code, JSON bodies, one connection kept alive.
    let addr = port.addr;
    let raw = tokio::task::spawn_blocking(move || {
        let mut stream = connect(addr);
        [
            post(
                &mut stream,
                r#"{"method":"getTransfer","params":{"transferId":999}}"#,
            ),
            post(&mut stream, r#"{"method":"noSuchMethod"}"#),
            post(&mut stream, r#"{"method":"getDestinations"}"#),
        ]
    })
    .await
    .unwrap();
    assert_eq!(raw[0].status, 404);
    assert_eq!(raw[0].body["code"], "NOT_FOUND");
    assert!(raw[0].headers.contains("content-type: application/json"));
    assert_eq!(raw[1].status, 400);
    assert_eq!(raw[1].body["code"], "INVALID_ARGUMENT");
    assert_eq!(raw[2].status, 200);
    assert_eq!(raw[2].body, json!([]));
    port.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_unknown_endpoints_and_methods_are_refused_and_the_connection_serves_on() {
    let dir = tempfile::tempdir().unwrap();
    let port = Port::without_login(dir.path()).await;
    let addr = port.addr;
    tokio::task::spawn_blocking(move || {
        let mut stream = connect(addr);
        for bad in [
            "{bad",
            "",
            "[]",
            r#"{"method":"getDestinations","params":[]}"#,
            "\u{0}",
        ] {
            let answer = post(&mut stream, bad);
            assert_eq!(answer.status, 400, "{bad:?}");
            assert_eq!(answer.body["code"], "INVALID_ARGUMENT", "{bad:?}");
            assert!(!answer.body["message"].as_str().unwrap().is_empty());
        }
        write!(stream, "GET /api HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let answer = read_answer(&mut stream);
        assert_eq!(
            (answer.status, answer.body["code"].as_str()),
            (405, Some("INVALID_ARGUMENT"))
        );
        write!(stream, "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let answer = read_answer(&mut stream);
        assert_eq!(
            (answer.status, answer.body["code"].as_str()),
            (404, Some("NOT_FOUND"))
        );
        // Not UTF-8.
        stream
            .write_all(b"POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n\xff\xfe")
            .unwrap();
        let answer = read_answer(&mut stream);
        assert_eq!(
            (answer.status, answer.body["code"].as_str()),
            (400, Some("INVALID_ARGUMENT"))
        );
        let answer = post(&mut stream, r#"{"method":"getDestinations"}"#);
        assert_eq!((answer.status, answer.body.clone()), (200, json!([])));
    })
    .await
    .unwrap();
    port.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_gets_413_and_the_port_still_serves() {
    let dir = tempfile::tempdir().unwrap();
    let port = Port::without_login(dir.path()).await;
    let addr = port.addr;
    tokio::task::spawn_blocking(move || {
        // Declared: refused from its length, before the body is read.
        let mut stream = connect(addr);
        let size = 100 << 20;
        write!(
            stream,
            "POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n"
        )
        .unwrap();
        let mut writer = stream.try_clone().unwrap();
        let sender = std::thread::spawn(move || {
            let chunk = vec![b' '; 1 << 20];
            for _ in 0..100 {
                if writer.write_all(&chunk).is_err() {
                    return;
                }
            }
        });
        let answer = read_answer(&mut stream);
        assert_eq!(answer.status, 413);
        assert_eq!(answer.body["code"], "INVALID_ARGUMENT");
        assert!(answer.headers.contains("connection: close"));
        drop(stream);
        sender.join().unwrap();
        // Chunked, with no length: refused once the limit is crossed.
        let mut stream = connect(addr);
        write!(
            stream,
            "POST /api HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        .unwrap();
        let mut writer = stream.try_clone().unwrap();
        let sender = std::thread::spawn(move || {
            let chunk = vec![b' '; 1 << 20];
            for _ in 0..100 {
                if write!(writer, "{:x}\r\n", chunk.len()).is_err()
                    || writer.write_all(&chunk).is_err()
                    || writer.write_all(b"\r\n").is_err()
                {
                    return;
                }
            }
        });
        let answer = read_answer(&mut stream);
        assert_eq!(answer.status, 413);
        assert_eq!(answer.body["code"], "INVALID_ARGUMENT");
        drop(stream);
        sender.join().unwrap();
        // A body just under the limit is read (and refused for what it says).
        let mut stream = connect(addr);
        let big = format!(
            r#"{{"method":"getDestinations","params":{{"limit":1{}}}}}"#,
            " ".repeat((8 << 20) - 60)
        );
        let answer = post(&mut stream, &big);
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        let answer = post(&mut connect(addr), r#"{"method":"getDestinations"}"#);
        assert_eq!(answer.status, 200);
    })
    .await
    .unwrap();
    port.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_a_byte_a_second_is_cut_off_while_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let port = Port::without_login(dir.path()).await;
    let addr = port.addr;
    let request = format!(
        "POST /api HTTP/1.1\r\nHost: x\r\nX-Padding: {}\r\nContent-Length: 2\r\n\r\n{{}}",
        "p".repeat(60)
    );
    let whole = request.len();
    let slow = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        // Each read waits a second for the server to close: one byte a second.
        stream
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        for (sent, byte) in request.bytes().enumerate() {
            if stream.write_all(&[byte]).is_err() {
                return sent;
            }
            let mut buf = [0u8; 256];
            match stream.read(&mut buf) {
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                // End of file, a reset, or an answer before the request was whole: cut off.
                _ => return sent + 1,
            }
        }
        whole
    });
    // Meanwhile others are served, each on a new connection.
    let mut served = 0;
    while !slow.is_finished() {
        let client = port.plain_client().await;
        assert_eq!(
            client.execute("getDestinations", json!({})).await.unwrap(),
            json!([])
        );
        served += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let sent = slow.await.unwrap();
    assert!(
        sent < whole,
        "the slow client sent its whole request ({sent} bytes)"
    );
    assert!(served > 0);
    port.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_beyond_the_limit_is_served_once_another_closes() {
    let dir = tempfile::tempdir().unwrap();
    let port = Port::start(
        dir.path(),
        ControlOptions {
            auth_required: false,
            max_connections: 2,
            ..ControlOptions::default()
        },
    )
    .await;
    let addr = port.addr;
    let list = r#"{"method":"getDestinations"}"#;
    tokio::task::spawn_blocking(move || {
        let mut first = connect(addr);
        let mut second = connect(addr);
        assert_eq!(post(&mut first, list).status, 200);
        assert_eq!(post(&mut second, list).status, 200);
        let mut third = connect(addr);
        write!(
            third,
            "POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{list}",
            list.len()
        )
        .unwrap();
        // A round trip on a served connection, after the third's request was sent: the third
        // has no answer, its connection waits for a slot.
        assert_eq!(post(&mut second, list).status, 200);
        third.set_nonblocking(true).unwrap();
        let mut byte = [0u8];
        let waiting = third.read(&mut byte).unwrap_err();
        assert_eq!(waiting.kind(), std::io::ErrorKind::WouldBlock);
        third.set_nonblocking(false).unwrap();
        drop(first);
        let answer = read_answer(&mut third);
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body, json!([]));
    })
    .await
    .unwrap();
    port.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_is_reused_only_while_the_port_keeps_it_open() {
    let dir = tempfile::tempdir().unwrap();
    let port = Port::start(
        dir.path(),
        ControlOptions {
            auth_required: false,
            header_timeout: Duration::from_secs(3),
            ..ControlOptions::default()
        },
    )
    .await;
    // The port tells how long it keeps an idle connection.
    let addr = port.addr;
    let answer = tokio::task::spawn_blocking(move || {
        post(&mut connect(addr), r#"{"method":"getDestinations"}"#)
    })
    .await
    .unwrap();
    assert!(
        answer.headers.contains("\r\nkeep-alive: timeout=3\r\n"),
        "{}",
        answer.headers
    );
    // A client, through a relay that counts the connections it opens.
    let relay = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_port = relay.local_addr().unwrap().port();
    let opened = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&opened);
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = relay.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut outbound = tokio::net::TcpStream::connect(addr).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    let client = Client::connect(
        "127.0.0.1",
        relay_port,
        ClientOptions {
            plain: true,
            ..ClientOptions::default()
        },
    )
    .await
    .unwrap();
    let call = || async { client.execute("getDestinations", json!({})).await.unwrap() };
    assert_eq!(call().await, json!([]));
    assert_eq!(call().await, json!([]));
    assert_eq!(opened.load(Ordering::SeqCst), 1, "calls in a row share one");
    // Idle for 2.5 s of the 3: too close to the port's closing it to be sent a request.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(call().await, json!([]));
    assert_eq!(
        opened.load(Ordering::SeqCst),
        2,
        "a new one near the idle limit"
    );
    port.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_certificate_is_pinned_by_its_fingerprint_or_trusted_through_a_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let tls_dir = dir.path().join("api-tls");
    let names = ["localhost".to_owned(), "127.0.0.1".to_owned()];
    let identity = TlsIdentity::load_or_create(&tls_dir, &names).unwrap();
    // Made once, kept, and its key readable by its owner only.
    let again = TlsIdentity::load_or_create(&tls_dir, &names).unwrap();
    assert_eq!(identity.fingerprint(), again.fingerprint());
    let mode = std::fs::metadata(tls_dir.join(KEY_FILE))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let der = CertificateDer::from_pem_file(tls_dir.join(CERT_FILE)).unwrap();
    assert_eq!(identity.fingerprint(), fingerprint(&der));

    let port = Port::start(
        dir.path(),
        ControlOptions {
            tls: Some(identity.clone()),
            auth_required: false,
            ..ControlOptions::default()
        },
    )
    .await;
    let pinned = port
        .client(ClientOptions {
            fingerprint: Some(identity.fingerprint().to_uppercase().replace("SHA256:", "")),
            ..ClientOptions::default()
        })
        .await
        .unwrap();
    assert_eq!(
        pinned.execute("getDestinations", json!({})).await.unwrap(),
        json!([])
    );
    let wrong = port
        .client(ClientOptions {
            fingerprint: Some(format!("sha256:{}", "0".repeat(64))),
            ..ClientOptions::default()
        })
        .await
        .unwrap_err();
    assert_eq!(wrong.code, Code::AuthFailed, "{wrong}");
    assert!(wrong.message.contains(identity.fingerprint()), "{wrong}");
    // Through the CA file, the name is checked too.
    let ca = Client::connect(
        "localhost",
        port.addr.port(),
        ClientOptions {
            ca: Some(tls_dir.join(CERT_FILE)),
            ..ClientOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        ca.execute("getDestinations", json!({})).await.unwrap(),
        json!([])
    );
    let other_dir = tempfile::tempdir().unwrap();
    TlsIdentity::load_or_create(other_dir.path(), &names).unwrap();
    let other_ca = port
        .client(ClientOptions {
            ca: Some(other_dir.path().join(CERT_FILE)),
            ..ClientOptions::default()
        })
        .await
        .unwrap_err();
    assert_eq!(other_ca.code, Code::AuthFailed, "{other_ca}");
    // A renewed certificate is served to new connections; those open keep theirs.
    let renewed = TlsIdentity::load_or_create(other_dir.path(), &names).unwrap();
    let control = port.control.as_ref().unwrap();
    control.replace_certificate(&renewed).unwrap();
    assert_eq!(
        pinned.execute("getDestinations", json!({})).await.unwrap(),
        json!([])
    );
    let old = port
        .client(ClientOptions {
            fingerprint: Some(identity.fingerprint().to_owned()),
            ..ClientOptions::default()
        })
        .await
        .unwrap_err();
    assert_eq!(old.code, Code::AuthFailed, "{old}");
    let new = port
        .client(ClientOptions {
            fingerprint: Some(renewed.fingerprint().to_owned()),
            ..ClientOptions::default()
        })
        .await
        .unwrap();
    assert_eq!(
        new.execute("getDestinations", json!({})).await.unwrap(),
        json!([])
    );
    // A plain client gets no answer from a TLS port.
    let plain = port
        .client(ClientOptions {
            plain: true,
            ..ClientOptions::default()
        })
        .await;
    match plain {
        Ok(client) => {
            let e = client
                .execute("getDestinations", json!({}))
                .await
                .unwrap_err();
            assert!(matches!(e.code, Code::Unavailable | Code::Protocol), "{e}");
        }
        Err(e) => assert!(matches!(e.code, Code::Unavailable | Code::Protocol), "{e}"),
    }
    port.stop().await;
}
