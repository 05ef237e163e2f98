//! Store writes that fail are not silent: a SQLite trigger added beside the running server
//! makes chosen writes fail, and the failure reaches the transfer or manifest it concerns, or
//! the caller waiting for it, with the store's reason.

#[allow(dead_code)]
mod support;

use jetstream_engine::error::Code;
use jetstream_engine::store::StoreError;
use serde_json::json;
use std::error::Error as _;
use std::path::Path;
use std::time::Duration;
use support::{call, generated_pair, ok, open, sessions};

/// Makes the store of the server whose state is in `state` refuse the writes `when` names (the
/// event of a `CREATE TRIGGER`, such as `BEFORE INSERT ON t`): they fail with `reason`.
fn refuse(state: &Path, when: &str, reason: &str) {
    let db = rusqlite::Connection::open(state.join("jetstream.db")).unwrap();
    let sql = format!("CREATE TRIGGER refuse {when} BEGIN SELECT RAISE(ABORT, '{reason}'); END");
    db.execute_batch(&sql).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_the_store_refuses_fails_the_transfer_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (sender, receiver, destination_id, manifest_id) =
        generated_pair(dir.path(), 50_000_000).await;
    let reason = "checkpoints refused by the test";
    refuse(
        &dir.path().join("a"),
        "BEFORE UPDATE OF acked_ranges ON transfers",
        reason,
    );
    // 2 MB/s: 25 s of data, checkpointed every second.
    let params = json!({ "destinationId": destination_id, "manifestId": manifest_id,
                         "transferFlags": 0, "sendRateMax": 16_000,
                         "checkpointFrequencySeconds": 1 });
    let id = ok(&sender, "createTransfer", params).await["transferId"].clone();
    let ended = tokio::time::timeout(
        Duration::from_secs(10),
        ok(&sender, "waitForTransfer", json!({ "transferId": id })),
    )
    .await
    .expect("the transfer went on without its checkpoints");
    assert_eq!(ended["status"], "error", "{ended}");
    let message = ended["errorMessage"].as_str().unwrap();
    assert!(
        message.starts_with("INTERNAL: the checkpoint was not saved: ") && message.contains(reason),
        "{message}"
    );
    assert!(ended["bytesAcked"].as_u64() < Some(50_000_000), "{ended}");
    sender.close().await;
    receiver.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_end_the_store_refuses_reaches_the_waiter_and_the_transfer_does_not_start_again() {
    let dir = tempfile::tempdir().unwrap();
    let (sender, receiver, destination_id, manifest_id) = generated_pair(dir.path(), 100_000).await;
    let reason = "ends refused by the test";
    let when = "BEFORE UPDATE OF status ON transfers WHEN NEW.status IN ('complete', 'error')";
    refuse(&dir.path().join("a"), when, reason);
    let params = json!({ "destinationId": destination_id, "manifestId": manifest_id,
                         "transferFlags": 0 });
    let id = ok(&sender, "createTransfer", params).await["transferId"].clone();
    let params = json!({ "transferId": id });
    let error = tokio::time::timeout(
        Duration::from_secs(10),
        call(&sender, "waitForTransfer", params),
    )
    .await
    .expect("the waiter was never answered")
    .unwrap_err();
    assert_eq!(error.code, Code::Internal);
    let message = &error.message;
    assert!(
        message.starts_with(&format!("transfer {id} ended (complete): object store: ")),
        "{message}"
    );
    assert!(message.contains(reason), "{message}");
    // The store's error and SQLite's beneath it stay reachable.
    let store = error.source().and_then(|e| e.downcast_ref::<StoreError>());
    assert!(matches!(store, Some(StoreError::Sqlite(_))), "{error:?}");
    let sqlite = store.and_then(|e| e.source());
    assert!(
        sqlite.is_some_and(|e| e.is::<rusqlite::Error>()),
        "{error:?}"
    );

    // Still queued in the store, yet not sent a second time; waiting again gets the failure
    // at once, and failing it is refused the same way.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let params = json!({ "transferId": id });
    let transfer = ok(&sender, "getTransfer", params.clone()).await;
    assert_eq!(transfer["processing"], true, "{transfer}");
    assert_eq!(sessions(&receiver, id.as_u64().unwrap()).await.len(), 1);
    let again = call(&sender, "waitForTransfer", params.clone()).await;
    assert_eq!(again.unwrap_err().message, error.message);
    let failed = call(&sender, "failTransfer", params).await.unwrap_err();
    let message = &failed.message;
    assert!(
        message.starts_with(&format!("transfer {id} ended (error): ")),
        "{message}"
    );
    sender.close().await;
    receiver.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_the_store_refuses_fail_the_manifest_instead_of_completing_it_short() {
    let dir = tempfile::tempdir().unwrap();
    let sender = open(dir.path()).await;
    let reason = "entries refused by the test";
    refuse(dir.path(), "BEFORE INSERT ON manifest_files", reason);
    let params = json!({ "mappings": { "a": { "src": "/nonexistent", "size": 1 } } });
    let manifest = ok(&sender, "createManifest", params).await;
    let params = json!({ "manifestId": manifest["manifestId"] });
    let ended = ok(&sender, "waitForManifest", params).await;
    assert_eq!(ended["status"], "error", "{ended}");
    let message = ended["errorMessage"].as_str().unwrap();
    assert!(
        message.starts_with("entries were not saved (a batch of 1): ") && message.contains(reason),
        "{message}"
    );
    sender.close().await;
}
