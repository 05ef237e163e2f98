//! Downloads by shared token: the holder logs in with the token (`authToken`) and has its
//! manifest sent to the holder's receiver (`createDownload`); a wrong password, an exhausted,
//! expired or deleted token is refused with `AUTH_FAILED` and a reason.

#[allow(dead_code)]
mod support;

use jetstream_engine::command;
use jetstream_engine::error::{Code, Error};
use jetstream_engine::server::{Caller, Server};
use serde_json::{json, Value};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;
use support::{authorize, call, digests, ok, ok_async, open};

const HOLDER: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A token for a manifest of `src` on `server`, created with `params`: the token string.
async fn token(server: &Server, src: &Path, params: Value) -> String {
    let manifest = ok(
        server,
        "createManifest",
        json!({ "mappings": { "tree": src } }),
    )
    .await;
    let id = json!({ "manifestId": manifest["manifestId"] });
    ok(server, "waitForManifest", id).await;
    let mut params = params;
    params["manifestId"] = manifest["manifestId"].clone();
    let token = ok(server, "createSharedToken", params).await;
    token["token"].as_str().unwrap().to_owned()
}

/// Logs in with `token` (and `password`) as a client at [`HOLDER`] does: the caller its
/// session makes, or the refusal.
async fn log_in(server: &Server, token: &str, password: Option<&str>) -> Result<Caller, Error> {
    let session = call(
        server,
        "authToken",
        json!({ "token": token, "password": password }),
    )
    .await?;
    let session = session["sessionToken"].as_str().unwrap().to_owned();
    server.reader()?.authenticate(&session, Some(HOLDER))
}

/// Runs `method` for `caller`.
async fn run_as(
    server: &Server,
    caller: &Caller,
    method: &str,
    params: Value,
) -> Result<Value, Error> {
    let command = command::parse(&json!({ "method": method, "params": params }))?;
    server.execute_as(caller.clone(), command).await
}

/// Downloads into `holder` (below `path`) as `caller`: the transfer's end on `server`.
async fn download(
    server: &Server,
    caller: &Caller,
    holder: &Server,
    path: &str,
) -> Result<Value, Error> {
    let params = json!({
        "destinationPort": holder.info().recv_port,
        "destinationPublicKey": holder.info().public_key,
        "destinationPath": path,
    });
    let transfer = run_as(server, caller, "createDownload", params).await?;
    let id = json!({ "transferId": transfer["transferId"] });
    Ok(ok(server, "waitForTransfer", id).await)
}

fn refused_because(result: Result<impl std::fmt::Debug, Error>, why: &str) {
    let e = result.expect_err(why);
    assert_eq!(e.code, Code::AuthFailed, "{e:?}");
    assert!(
        e.message.contains(why),
        "{:?} does not say {why:?}",
        e.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_downloads_its_manifest_within_its_limits_and_no_more() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("a.txt"), b"shared by token").unwrap();
    let bytes: Vec<u8> = (0..500_000u32).map(|i| (i * 13 % 251) as u8).collect();
    std::fs::write(src.join("sub/b.bin"), bytes).unwrap();
    let server = open(&dir.path().join("server")).await;
    let holder = open(&dir.path().join("holder")).await;
    authorize(&holder, &server).await;

    let once = token(
        &server,
        &src,
        json!({ "password": "pw", "downloadLimit": 1 }),
    )
    .await;
    refused_because(
        log_in(&server, &once, Some("wrong")).await,
        "wrong password",
    );
    refused_because(log_in(&server, &once, None).await, "wrong password");
    let caller = log_in(&server, &once, Some("pw")).await.unwrap();
    // The session may download and nothing else.
    let listed = run_as(&server, &caller, "getTransfers", json!({})).await;
    assert_eq!(listed.unwrap_err().code, Code::PermissionDenied);

    let done = download(&server, &caller, &holder, "first").await.unwrap();
    assert_eq!(done["status"], "complete", "{done}");
    assert_eq!(done["usesToken"], true, "{done}");
    let received = dir.path().join("holder/received/first/tree");
    assert_eq!(digests(&received), digests(&src));
    // The holder's records tell a download from a transfer sent to it.
    let arrived = ok_async(&holder, "getTransfersAsync", json!({})).await;
    assert_eq!(arrived[0]["usesToken"], true, "{arrived}");
    assert_eq!(arrived[0]["userName"], Value::Null, "{arrived}");
    let counted = ok(&server, "getSharedToken", json!({ "token": once })).await;
    assert_eq!(counted["downloadCount"], 1);
    refused_because(
        download(&server, &caller, &holder, "second").await,
        "download limit",
    );
    refused_because(log_in(&server, &once, Some("pw")).await, "download limit");
    assert!(!dir.path().join("holder/received/second").exists());

    let brief = token(&server, &src, json!({ "timeLimitSeconds": 1 })).await;
    let caller = log_in(&server, &brief, None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    refused_because(download(&server, &caller, &holder, "late").await, "expired");
    refused_because(log_in(&server, &brief, None).await, "expired");

    let deleted = token(&server, &src, json!({})).await;
    let caller = log_in(&server, &deleted, None).await.unwrap();
    ok(&server, "deleteSharedToken", json!({ "token": deleted })).await;
    refused_because(download(&server, &caller, &holder, "gone").await, "deleted");
    refused_because(
        log_in(&server, &deleted, None).await,
        "no such shared token",
    );
    let received = digests(&dir.path().join("holder/received"));
    assert_eq!(
        received.len(),
        2,
        "only the first download landed: {received:?}"
    );

    // Every refusal is in the event log, with the download that started.
    let log = ok(&server, "getEventLog", json!({})).await;
    let count = |kind: &str| {
        log.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == kind)
            .count()
    };
    assert_eq!(count("downloadStarted"), 1);
    assert_eq!(count("loginFailed"), 5);
    server.close().await;
    holder.close().await;
}
