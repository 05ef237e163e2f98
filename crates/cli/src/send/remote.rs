//! `jetstream send --server HOST:PORT`: the destination, manifest and transfer of a send handed
//! to a running `jetstream server` through its control port. The transfer is the server's: it
//! reads the paths on its machine and sends them from its identity; this command shows its
//! progress with the bar of a local send (read with `getTransfer` over the control port) and
//! waits for its end, then prints the server's figures for it.

use super::follow::follow;
use super::{
    create_transfer, host_port, list_dry_run, mappings, print_complete, server_name, SendArgs,
};
use crate::control_port;
use crate::progress::Progress;
use jetstream_engine::error::{Code, Error};
use serde_json::{json, Value};

/// Sends through the server whose control port is at `server` (HOST:PORT).
pub async fn send(args: &SendArgs, server: &str) -> Result<(), Error> {
    let (host, port) = host_port("--server", server)?;
    // The server resolves the receiver's name: it may know names this machine does not.
    let receiver = host_port("--to", &args.to)?;
    let mappings = mappings(args, server_name)?;
    let client = control_port::connect(&host, port, &args.control).await?;
    let id = create_transfer(&client, args, receiver, mappings).await?;
    eprintln!("transfer {id} runs on the server at {server}");
    let progress = Progress::new(!args.no_progress);
    // One request answered at the end, while the bar reads the figures on another connection.
    let ended = client.execute("waitForTransfer", json!({ "transferId": id }));
    let ended = follow(&client, id, &progress, ended).await;
    let transfer = ended?;
    if transfer["status"] != "complete" {
        return Err(failure(&transfer));
    }
    if args.dry_run {
        return list_dry_run(&client, id).await;
    }
    let number = |name: &str| transfer[name].as_u64().unwrap_or(0);
    eprintln!(
        "skipped {} files the receiver held ({} bytes)",
        number("filesSkipped"),
        number("bytesSkipped")
    );
    // From its first datagram (its request, when it sent none) to its end, on the server's clock.
    let start = transfer["startTime"]
        .as_i64()
        .or_else(|| transfer["requestTime"].as_i64())
        .unwrap_or(0);
    let end = transfer["endTime"].as_i64().unwrap_or(start);
    let seconds = end.saturating_sub(start) as f64 / 1e6;
    print_complete(number("filesComplete"), number("totalBytes"), seconds);
    Ok(())
}

/// The error of a transfer that ended without completing: its `errorMessage`, `CODE: message`
/// when the engine gave a code.
fn failure(transfer: &Value) -> Error {
    let status = transfer["status"].as_str().unwrap_or("unknown");
    let Some(message) = transfer["errorMessage"].as_str() else {
        return Error::new(
            Code::InvalidState,
            format!("the transfer ended {status} without an error message"),
        );
    };
    match message
        .split_once(": ")
        .and_then(|(code, rest)| Some((Code::parse(code)?, rest)))
    {
        Some((code, rest)) => Error::new(code, rest),
        None => Error::new(Code::InvalidState, message),
    }
}
