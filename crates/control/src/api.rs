//! `POST /api`: reads one command from the request body, runs it for the caller and answers
//! with its result. Commands that only read are answered by the store's reader on this task;
//! every other command goes through the server's actor.

use crate::auth::{self, Need};
use crate::reply::{self, Reply};
use crate::serve::Shared;
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::CONTENT_LENGTH;
use hyper::{Request, StatusCode};
use jetstream_engine::command::{self, Command};
use jetstream_engine::error::{Code, Error};
use jetstream_engine::server::Caller;
use std::net::IpAddr;

/// What an API call is counted as when its body is not a command.
const NOT_A_COMMAND: &str = "(none)";

/// Runs the command in the body of `request`, which came from `address`, on behalf of the
/// caller its credentials name, and counts the call.
pub(crate) async fn call(shared: &Shared, address: IpAddr, request: Request<Incoming>) -> Reply {
    let (method, outcome, reply) = answer(shared, address, request).await;
    shared.calls.count(method, outcome);
    reply
}

/// The reply to a call, with the method called and its outcome (`OK` or the error code).
async fn answer(
    shared: &Shared,
    address: IpAddr,
    request: Request<Incoming>,
) -> (&'static str, &'static str, Reply) {
    let headers = request.headers().clone();
    let body = match read_body(shared, request).await {
        Ok(body) => body,
        Err((code, reply)) => return (NOT_A_COMMAND, code.as_str(), reply),
    };
    let command = match std::str::from_utf8(&body)
        .map_err(|e| {
            Error::new(
                Code::InvalidArgument,
                format!("the request body is not UTF-8 text: {e}"),
            )
        })
        .and_then(command::parse_str)
    {
        Ok(command) => command,
        Err(e) => return (NOT_A_COMMAND, e.code.as_str(), reply::error(&e)),
    };
    let method = command.method();
    let need = match command {
        Command::Auth(_) | Command::AuthAsync(_) | Command::AuthToken(_) => Need::Nothing,
        _ => Need::Login,
    };
    let caller = match auth::caller(shared, &headers, address, need) {
        Ok(caller) => caller,
        Err(reply) => return (method, Code::AuthFailed.as_str(), reply),
    };
    match run(shared, caller, command).await {
        Ok(json) => (method, "OK", reply::result(json)),
        Err(e) => (method, e.code.as_str(), reply::error(&e)),
    }
}

/// The JSON result of `command`.
async fn run(shared: &Shared, caller: Caller, command: Command) -> Result<String, Error> {
    caller.check(&command)?;
    if let Some(answer) = shared.reader.execute(&command) {
        return answer;
    }
    let value = shared.server.execute_as(caller, command).await?;
    serde_json::to_string(&value).map_err(|e| Error::new(Code::Internal, e.to_string()))
}

/// The whole request body, or the reply refusing it and its code: over the size limit (413),
/// or not arriving in time (408). Either closes the connection, whose rest of the body is
/// unread.
async fn read_body(shared: &Shared, request: Request<Incoming>) -> Result<Bytes, (Code, Reply)> {
    let limit = shared.opts.max_body;
    let too_large = || {
        let reply = reply::closing(reply::error_with(
            StatusCode::PAYLOAD_TOO_LARGE,
            &Error::new(
                Code::InvalidArgument,
                format!("the request body is larger than the limit of {limit} bytes"),
            ),
        ));
        (Code::InvalidArgument, reply)
    };
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|length| length.to_str().ok())
        .and_then(|length| length.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    let timeout = shared.opts.body_timeout;
    let body = Limited::new(request.into_body(), limit).collect();
    match tokio::time::timeout(timeout, body).await {
        Ok(Ok(body)) => Ok(body.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(e)) => Err((
            Code::InvalidArgument,
            reply::closing(reply::error(&Error::new(
                Code::InvalidArgument,
                format!("reading the request body: {e}"),
            ))),
        )),
        Err(_) => Err((
            Code::TimedOut,
            reply::closing(reply::error_with(
                StatusCode::REQUEST_TIMEOUT,
                &Error::new(
                    Code::TimedOut,
                    format!(
                        "the request body did not arrive within {} s",
                        timeout.as_secs()
                    ),
                ),
            )),
        )),
    }
}
