//! Inputs that once crashed a session target, kept in `regressions/<target>/` (the seed
//! corpus is written anew by the seeds example; these are not): each runs through its
//! harness again and must not panic.

use std::fs;
use std::path::PathBuf;

use arbitrary::{Arbitrary, Unstructured};
use jetstream_fuzz::receiver::{self, ReceiverInput};
use jetstream_fuzz::sender::{self, SenderInput};

/// The inputs kept for `target`, by name.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("regressions")
        .join(target);
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .map(|e| {
            let path = e.expect("entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&path).expect("input"))
        })
        .collect()
}

#[test]
fn sender_session_regressions_run_clean() {
    let kept = inputs("sender_session");
    assert!(
        !kept.is_empty(),
        "regressions/sender_session holds the inputs"
    );
    for (name, data) in kept {
        let input = SenderInput::arbitrary_take_rest(Unstructured::new(&data)).expect(&name);
        sender::run(&input);
    }
}

#[test]
fn receiver_session_regressions_run_clean() {
    for (name, data) in inputs("receiver_session") {
        let input = ReceiverInput::arbitrary_take_rest(Unstructured::new(&data)).expect(&name);
        receiver::run(&input);
    }
}
