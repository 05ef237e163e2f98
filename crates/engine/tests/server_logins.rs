//! Logins through `auth`, many at once from one address: correct ones wait their turn and all
//! open a session; a flood of wrong ones is checked only a burst and then once a second, the
//! rest refused unchecked, and every checked failure is in the event log.

#[allow(dead_code)]
mod support;

use jetstream_engine::command;
use jetstream_engine::error::{Code, Error};
use jetstream_engine::server::{store_file, Caller, Server};
use jetstream_engine::store::{EventKind, Store};
use serde_json::{json, Value};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use support::open;

const USER: &str = "ann";
const PASSWORD: &str = "correct horse";

/// A server in `dir` with the user [`USER`].
async fn server_with_user(dir: &Path) -> Arc<Server> {
    let server = Arc::new(open(dir).await);
    Store::open(&store_file(dir))
        .unwrap()
        .add_user(USER, PASSWORD, 1)
        .unwrap();
    server
}

/// `count` logins with `password` at once, all from 127.0.0.1: their results in order.
async fn logins_at_once(
    server: &Arc<Server>,
    count: usize,
    password: &str,
) -> Vec<Result<Value, Error>> {
    let caller = Caller::anonymous(IpAddr::from([127, 0, 0, 1]));
    let login = json!({ "method": "auth", "params": { "userName": USER, "password": password } });
    let logins: Vec<_> = (0..count)
        .map(|_| {
            let command = command::parse(&login).unwrap();
            let (server, caller) = (Arc::clone(server), caller.clone());
            tokio::spawn(async move { server.execute_as(caller, command).await })
        })
        .collect();
    let mut results = Vec::new();
    for login in logins {
        results.push(login.await.unwrap());
    }
    results
}

/// How many events of `kind` the server's event log holds.
fn events(dir: &Path, kind: EventKind) -> usize {
    Store::open(&store_file(dir))
        .unwrap()
        .list_events(None, None)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == kind)
        .count()
}

#[tokio::test]
async fn twenty_correct_logins_at_once_from_one_address_all_open_a_session() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_user(dir.path()).await;
    let results = logins_at_once(&server, 20, PASSWORD).await;
    let mut tokens = Vec::new();
    for result in results {
        let session = result.unwrap_or_else(|e| panic!("a correct login was refused: {e:?}"));
        assert_eq!(session["userName"], USER);
        tokens.push(session["sessionToken"].as_str().unwrap().to_owned());
    }
    tokens.sort();
    tokens.dedup();
    assert_eq!(tokens.len(), 20, "each login has its own session");
    assert_eq!(events(dir.path(), EventKind::LoggedIn), 20);
    assert_eq!(events(dir.path(), EventKind::LoginFailed), 0);
    server.close().await;
}

#[tokio::test]
async fn a_thousand_wrong_logins_at_once_are_refused_and_only_a_few_checked() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_user(dir.path()).await;
    let start = Instant::now();
    let results = logins_at_once(&server, 1000, "wrong").await;
    let elapsed = start.elapsed();
    let mut checked = 0;
    let mut limited = 0;
    let mut busy = 0;
    for result in results {
        let e = result.expect_err("a wrong password opened a session");
        match (e.code, e.message.as_str()) {
            (Code::AuthFailed, "wrong user name or password") => checked += 1,
            (Code::AuthFailed, m) if m.starts_with("too many failed logins from 127.0.0.1") => {
                limited += 1;
            }
            (Code::Unavailable, m) if m.starts_with("too many logins from 127.0.0.1") => busy += 1,
            other => panic!("unexpected refusal {other:?}"),
        }
    }
    // Five at once, then one per second of the flood (a second more for the one under way).
    let allowed = 5 + elapsed.as_secs() as usize + 1;
    assert!(
        (5..=allowed).contains(&checked),
        "{checked} checked in {elapsed:?}"
    );
    assert_eq!(checked + limited + busy, 1000);
    assert!(limited > 0 && busy > 0, "limited {limited}, busy {busy}");
    // Every password checked and failed is in the event log; the refused ones are not.
    assert_eq!(events(dir.path(), EventKind::LoginFailed), checked);
    assert_eq!(events(dir.path(), EventKind::LoggedIn), 0);
    // The address is limited, not locked out: the right password waits for a token and works.
    let session = logins_at_once(&server, 1, PASSWORD)
        .await
        .remove(0)
        .unwrap();
    assert_eq!(session["userName"], USER);
    server.close().await;
}
