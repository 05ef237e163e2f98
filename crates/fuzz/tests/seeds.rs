//! The committed seeds still reach what they were chosen for: handshake messages verify, and
//! the session inputs complete a file and a transfer. After a change to the handshake or the
//! sessions, `cargo run --manifest-path crates/fuzz/Cargo.toml --example seeds` writes them anew.

use std::fs;
use std::path::PathBuf;

use arbitrary::{Arbitrary, Unstructured};
use jetstream_fuzz::keys;
use jetstream_fuzz::receiver::{self, ReceiverInput};
use jetstream_fuzz::sender::{self, SenderInput};
use jetstream_wire::crypto::aead::CipherLevel;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut paths: Vec<_> = fs::read_dir(dir)
        .expect("corpus directory")
        .map(|e| e.expect("entry").path())
        .collect();
    paths.sort();
    paths.iter().map(|p| fs::read(p).expect("seed")).collect()
}

#[test]
fn handshake_seeds_verify() {
    let auth = keys::auth().encode().expect("short credentials");
    for seed in seeds("server_hello") {
        let (initiator, _) = keys::initiator(keys::level_of(seed[0]));
        assert!(initiator.finish(&seed[1..], None, &auth).is_ok());
    }
    for seed in seeds("client_hello") {
        assert!(keys::respond(&seed[1..], keys::level_of(seed[0])).is_ok());
    }
    for seed in seeds("client_finish") {
        let (_, hello) = keys::initiator(keys::level_of(seed[0]));
        let (responder, _) = keys::respond(&hello, CipherLevel::None).expect("real hello");
        assert!(responder.finish(&seed[1..]).is_ok());
    }
}

#[test]
fn session_seeds_complete_a_file_and_a_transfer() {
    let receiver: Vec<_> = seeds("receiver_session")
        .iter()
        .map(|s| receiver::run(&ReceiverInput::arbitrary_take_rest(Unstructured::new(s)).unwrap()))
        .collect();
    assert!(receiver.iter().any(|o| o.files_complete > 0) && receiver.iter().any(|o| o.complete));
    let sender: Vec<_> = seeds("sender_session")
        .iter()
        .map(|s| sender::run(&SenderInput::arbitrary_take_rest(Unstructured::new(s)).unwrap()))
        .collect();
    assert!(sender.iter().any(|o| o.files_complete > 0) && sender.iter().any(|o| o.complete));
}
