//! `GET /metrics`: behind the same login as the API, the Prometheus text of a real transfer
//! between two servers (transfers by status, bytes sent and received, the connection's
//! round-trip time, the sessions the receiver admitted) and of the API calls by method and
//! outcome.

mod support;

use jetstream_control::{Client, ClientOptions};
use jetstream_engine::error::Code;
use jetstream_engine::server::store_file;
use jetstream_engine::store::Store;
use serde_json::json;
use support::Port;

/// The value of the sample `name{labels}` (labels as written, `""` for none).
fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    let key = if labels.is_empty() {
        format!("{name} ")
    } else {
        format!("{name}{{{labels}}} ")
    };
    text.lines()
        .find_map(|line| line.strip_prefix(&key))
        .map(|value| value.parse().unwrap())
}

async fn logged_in(port: &Port) -> Client {
    let client = port
        .client(ClientOptions {
            plain: true,
            ..ClientOptions::default()
        })
        .await
        .unwrap();
    client.auth("ops", "pw").await.unwrap();
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_figures_of_a_transfer_and_of_the_api_calls_are_exposed_to_logged_in_callers() {
    let (sender_dir, receiver_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for dir in [&sender_dir, &receiver_dir] {
        Store::open(&store_file(dir.path()))
            .unwrap()
            .add_user("ops", "pw", 1)
            .unwrap();
    }
    let sender = Port::with_login(sender_dir.path()).await;
    let receiver = Port::with_login(receiver_dir.path()).await;
    let anonymous = sender
        .client(ClientOptions {
            plain: true,
            ..ClientOptions::default()
        })
        .await
        .unwrap();
    assert_eq!(
        anonymous.metrics().await.unwrap_err().code,
        Code::AuthFailed
    );
    let refused = anonymous
        .execute("getServerInfo", json!({}))
        .await
        .unwrap_err();
    assert_eq!(refused.code, Code::AuthFailed);

    let (s, r) = (logged_in(&sender).await, logged_in(&receiver).await);
    let sender_key = s.execute("getServerInfo", json!({})).await.unwrap()["publicKey"].clone();
    let info = r.execute("getServerInfo", json!({})).await.unwrap();
    let request = r
        .execute(
            "addAuthorizedClientAsync",
            json!({ "publicKey": sender_key }),
        )
        .await
        .unwrap();
    r.execute("getRequestResult", request).await.unwrap();
    let source = sender_dir.path().join("data.bin");
    let size = 3_000_000u64;
    std::fs::write(&source, vec![7u8; size as usize]).unwrap();
    let destination = s
        .execute(
            "createDestination",
            json!({ "destinationAddress": "127.0.0.1", "destinationPort": info["recvPort"] }),
        )
        .await
        .unwrap();
    let manifest = s
        .execute(
            "createManifest",
            json!({ "mappings": { "data.bin": source.to_str().unwrap() } }),
        )
        .await
        .unwrap();
    s.execute(
        "waitForManifest",
        json!({ "manifestId": manifest["manifestId"] }),
    )
    .await
    .unwrap();
    let transfer = s
        .execute(
            "createTransfer",
            json!({ "destinationId": destination["destinationId"],
                    "manifestId": manifest["manifestId"] }),
        )
        .await
        .unwrap();
    let done = s
        .execute(
            "waitForTransfer",
            json!({ "transferId": transfer["transferId"] }),
        )
        .await
        .unwrap();
    assert_eq!(done["status"], "complete", "{done}");
    s.execute("getTransfer", json!({ "transferId": 999 }))
        .await
        .unwrap_err();

    let sent = s.metrics().await.unwrap();
    assert!(sent.contains("# TYPE jetstream_transfers gauge"), "{sent}");
    assert_eq!(
        sample(&sent, "jetstream_transfers", r#"status="complete""#),
        Some(1.0),
        "{sent}"
    );
    assert!(
        sample(&sent, "jetstream_sent_bytes", "").unwrap() >= size as f64,
        "{sent}"
    );
    assert!(
        sample(&sent, "jetstream_retransmitted_bytes", "").is_some(),
        "{sent}"
    );
    assert_eq!(
        sample(&sent, "jetstream_active_sessions", r#"direction="send""#),
        Some(0.0),
        "{sent}"
    );
    let connection = s.execute("getConnections", json!({})).await.unwrap()[0].clone();
    let labels = format!(
        r#"connection_id="{}",destination="127.0.0.1:{}""#,
        connection["connectionId"], info["recvPort"]
    );
    let rtt = sample(&sent, "jetstream_connection_rtt_seconds", &labels);
    assert!(rtt.is_some_and(|rtt| rtt > 0.0), "{labels}: {sent}");
    assert!(
        sample(&sent, "jetstream_connection_loss_ratio", &labels).is_some(),
        "{sent}"
    );
    for (method, code, at_least) in [
        ("createTransfer", "OK", 1.0),
        ("waitForTransfer", "OK", 1.0),
        ("getTransfer", "NOT_FOUND", 1.0),
        ("auth", "OK", 1.0),
    ] {
        let labels = format!(r#"method="{method}",code="{code}""#);
        let n = sample(&sent, "jetstream_api_calls_total", &labels);
        assert!(n.is_some_and(|n| n >= at_least), "{labels}: {sent}");
    }
    assert_eq!(
        sample(
            &sent,
            "jetstream_api_calls_total",
            r#"method="getServerInfo",code="AUTH_FAILED""#
        ),
        Some(1.0),
        "{sent}"
    );

    let received = r.metrics().await.unwrap();
    assert_eq!(
        sample(&received, "jetstream_received_bytes", ""),
        Some(size as f64),
        "{received}"
    );
    assert!(
        sample(&received, "jetstream_sessions_admitted_total", "").unwrap() >= 1.0,
        "{received}"
    );
    assert!(
        sample(
            &received,
            "jetstream_handshake_refusals_total",
            r#"reason="retry""#
        )
        .is_some(),
        "{received}"
    );
    assert_eq!(
        sample(&received, "jetstream_transfers", r#"status="complete""#),
        None
    );
    sender.stop().await;
    receiver.stop().await;
}
