//! The server's object commands through `execute_json`: manifest destination paths and globs
//! checked when the manifest is created, `limit: 0` meaning every object, received transfers
//! paged by `receivedId`, `NOT_FOUND` messages naming the parameter, and `deleteDestination`
//! stopping a suspended transfer and answering its waiters.

#[allow(dead_code)]
mod support;

use jetstream_engine::error::Code;
use serde_json::{json, Value};
use std::fs;
use std::net::UdpSocket;
use support::{authorize, call, code, open};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_destinations_are_relative_and_checked_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("readme.txt");
    fs::write(&file, b"hello").unwrap();
    let server = open(&dir.path().join("state")).await;
    let src = file.to_str().unwrap();

    // The seed's own example: a leading slash is relative to the transfer's destination.
    let manifest = call(
        &server,
        "createManifest",
        json!({ "mappings": { "/project/introduction.txt": src } }),
    )
    .await
    .unwrap();
    let id = &manifest["manifestId"];
    let ready = call(&server, "waitForManifest", json!({ "manifestId": id }))
        .await
        .unwrap();
    assert_eq!(ready["status"], "complete", "{ready}");
    let files = call(&server, "getManifestFiles", json!({ "manifestId": id }))
        .await
        .unwrap();
    assert_eq!(
        files["fileMappings"][0]["destPath"],
        "project/introduction.txt"
    );

    for dest in ["../up", "a/../../b", "a\\b"] {
        for source in [json!(src), json!({ "src": "/x", "size": 1 })] {
            let err = call(
                &server,
                "createManifest",
                json!({ "mappings": { (dest): source } }),
            )
            .await
            .unwrap_err();
            assert_eq!(err.code, Code::InvalidArgument, "{dest}: {}", err.message);
            assert!(err.message.contains("mappings"), "{}", err.message);
        }
    }
    let err = call(
        &server,
        "createManifest",
        json!({ "mappings": { "d": { "src": src, "exclude": ["[a-"] } } }),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, Code::InvalidArgument);
    assert!(err.message.contains("exclude"), "{}", err.message);
    // Nothing was created by the refused calls.
    let all = call(&server, "getManifests", json!({})).await.unwrap();
    assert_eq!(all.as_array().unwrap().len(), 1);
    server.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_of_zero_lists_everything() {
    let dir = tempfile::tempdir().unwrap();
    let server = open(dir.path()).await;
    for port in [7001, 7002, 7003] {
        call(
            &server,
            "createDestination",
            json!({ "destinationAddress": "127.0.0.1", "destinationPort": port }),
        )
        .await
        .unwrap();
    }
    let count = |v: Value| v.as_array().unwrap().len();
    let all = call(&server, "getDestinations", json!({ "limit": 0 }))
        .await
        .unwrap();
    assert_eq!(count(all), 3);
    let two = call(&server, "getDestinations", json!({ "limit": 2 }))
        .await
        .unwrap();
    assert_eq!(count(two), 2);
    let connections = call(&server, "getConnections", json!({ "limit": 0 }))
        .await
        .unwrap();
    assert_eq!(count(connections), 3);
    server.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_messages_name_the_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let server = open(dir.path()).await;
    let unknown = "0123456789abcdef0123456789abcdef";
    let cases = [
        (
            "getDestination",
            json!({ "destinationId": unknown }),
            "destinationId",
        ),
        (
            "getManifest",
            json!({ "manifestId": unknown }),
            "manifestId",
        ),
        ("getManifests", json!({ "after": unknown }), "after"),
        ("getManifests", json!({ "before": unknown }), "before"),
        ("getTransfer", json!({ "transferId": 77 }), "transferId"),
        (
            "getConnection",
            json!({ "connectionId": 77 }),
            "connectionId",
        ),
        ("getSharedToken", json!({ "token": unknown }), "token"),
        ("getRequestStatus", json!({ "requestId": 77 }), "requestId"),
        (
            "updateObjectUserData",
            json!({ "objId": 77, "key": "k", "value": "v" }),
            "objId",
        ),
        (
            "deleteObjectUserData",
            json!({ "objId": unknown, "key": "k" }),
            "objId",
        ),
        (
            "removeAuthorizedClientAsync",
            json!({ "publicKey": "ab".repeat(32) }),
            "clientPublicKey",
        ),
    ];
    for (method, params, param) in cases {
        let err = call(&server, method, params).await.unwrap_err();
        assert_eq!(err.code, Code::NotFound, "{method}: {}", err.message);
        assert!(err.message.contains(param), "{method}: {}", err.message);
    }
    let destination = call(
        &server,
        "createDestination",
        json!({ "destinationAddress": "127.0.0.1", "destinationPort": 7004 }),
    )
    .await
    .unwrap();
    let err = call(
        &server,
        "deleteObjectUserData",
        json!({ "objId": destination, "key": "absent" }),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, Code::NotFound);
    assert!(err.message.contains("key"), "{}", err.message);
    server.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn received_transfers_page_by_received_id() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("f.bin"), vec![7u8; 10_000]).unwrap();
    let sender = open(&dir.path().join("a")).await;
    let receiver = open(&dir.path().join("b")).await;
    authorize(&receiver, &sender).await;
    let destination = call(
        &sender,
        "createDestination",
        json!({ "destinationAddress": "127.0.0.1", "destinationPort": receiver.info().recv_port }),
    )
    .await
    .unwrap();
    let manifest = call(
        &sender,
        "createManifest",
        json!({ "mappings": { "t": src.to_str().unwrap() } }),
    )
    .await
    .unwrap();
    for _ in 0..3 {
        let transfer = call(
            &sender,
            "createTransfer",
            json!({ "destinationId": destination, "manifestId": manifest }),
        )
        .await
        .unwrap();
        let done = call(
            &sender,
            "waitForTransfer",
            json!({ "transferId": transfer }),
        )
        .await
        .unwrap();
        assert_eq!(done["status"], "complete", "{done}");
    }
    let list = |params: Value| {
        let receiver = &receiver;
        async move {
            let request = call(receiver, "getTransfersAsync", params).await.unwrap();
            let result = call(receiver, "getRequestResult", request).await.unwrap();
            result
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["receivedId"].as_u64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    let all = list(json!({})).await;
    assert_eq!(all.len(), 3);
    assert_eq!(list(json!({ "after": all[0] })).await, all[1..]);
    assert_eq!(
        list(json!({ "before": all[2], "limit": 1 })).await,
        [all[1]]
    );
    assert_eq!(
        list(json!({ "after": { "receivedId": all[0] }, "before": all[2] })).await,
        [all[1]]
    );
    assert_eq!(
        code(&receiver, "getTransfersAsync", json!({ "after": 0 })).await,
        Code::InvalidArgument
    );
    sender.close().await;
    receiver.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_destination_stops_its_suspended_transfer_and_answers_waiters() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("f.bin");
    fs::write(&src, vec![1u8; 1_000]).unwrap();
    // A port that reads and never answers: the transfer waits for its receiver.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = open(&dir.path().join("state")).await;
    let destination = call(
        &server,
        "createDestination",
        json!({ "destinationAddress": "127.0.0.1",
                "destinationPort": silent.local_addr().unwrap().port() }),
    )
    .await
    .unwrap();
    let manifest = call(
        &server,
        "createManifest",
        json!({ "mappings": { "f.bin": src.to_str().unwrap() } }),
    )
    .await
    .unwrap();
    call(
        &server,
        "waitForManifest",
        json!({ "manifestId": manifest }),
    )
    .await
    .unwrap();
    let transfer = call(
        &server,
        "createTransfer",
        json!({ "destinationId": destination, "manifestId": manifest, "timeoutSeconds": 60 }),
    )
    .await
    .unwrap();
    assert_eq!(
        code(
            &server,
            "deleteDestination",
            json!({ "destinationId": destination })
        )
        .await,
        Code::InvalidState
    );
    call(
        &server,
        "suspendTransferAsync",
        json!({ "transferId": transfer }),
    )
    .await
    .unwrap();
    let wait =
        json!({ "method": "waitForTransfer", "params": { "transferId": transfer } }).to_string();
    let (waited, deleted) = tokio::join!(server.execute_json(&wait), async {
        // Let the waiter be queued first: the actor handles messages in order.
        tokio::task::yield_now().await;
        call(
            &server,
            "deleteDestination",
            json!({ "destinationId": destination }),
        )
        .await
    });
    deleted.unwrap();
    assert_eq!(waited.unwrap_err().code, Code::NotFound);
    assert_eq!(
        code(&server, "getTransfer", json!({ "transferId": transfer })).await,
        Code::NotFound
    );
    server.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_data_and_token_updates_return_none_as_the_seed_documents() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f.txt");
    fs::write(&file, b"x").unwrap();
    let server = open(&dir.path().join("state")).await;
    let manifest = call(
        &server,
        "createManifest",
        json!({ "mappings": { "f.txt": file.to_str().unwrap() } }),
    )
    .await
    .unwrap();
    let id = manifest["manifestId"].clone();
    let token = call(&server, "createSharedToken", json!({ "manifestId": id }))
        .await
        .unwrap();

    let set = json!({ "objId": id, "key": "k", "value": "v" });
    assert_eq!(
        call(&server, "updateObjectUserData", set).await.unwrap(),
        Value::Null
    );
    let got = call(&server, "getManifest", json!({ "manifestId": id }))
        .await
        .unwrap();
    assert_eq!(got["userData"], json!({ "k": "v" }));
    let delete = json!({ "objId": id, "key": "k" });
    assert_eq!(
        call(&server, "deleteObjectUserData", delete).await.unwrap(),
        Value::Null
    );
    let got = call(&server, "getManifest", json!({ "manifestId": id }))
        .await
        .unwrap();
    assert_eq!(got["userData"], json!({}));

    let update = json!({ "token": token["token"], "description": "renamed" });
    assert_eq!(
        call(&server, "updateSharedToken", update).await.unwrap(),
        Value::Null
    );
    let got = call(
        &server,
        "getSharedToken",
        json!({ "token": token["token"] }),
    )
    .await
    .unwrap();
    assert_eq!(got["description"], "renamed");
    server.close().await;
}
