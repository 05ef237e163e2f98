//! The answers the control port sends: a method's JSON result, or an error body
//! `{"code": CODE, "message": TEXT}` with the HTTP status its code maps to.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderName, HeaderValue, CONNECTION, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use jetstream_engine::error::{Code, Error};
use serde_json::json;
use std::time::Duration;

/// The header that tells a client how long an idle connection stays open.
pub(crate) const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");

/// What every handler answers with.
pub(crate) type Reply = Response<Full<Bytes>>;

/// The HTTP status an error with `code` is sent with. Clients read the code from the body; the
/// status only lets generic HTTP tools tell the kinds of failure apart.
pub fn status_of(code: Code) -> StatusCode {
    match code {
        Code::InvalidArgument => StatusCode::BAD_REQUEST,
        Code::AuthFailed => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::InvalidState | Code::AlreadyExists => StatusCode::CONFLICT,
        Code::TimedOut => StatusCode::GATEWAY_TIMEOUT,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::Protocol => StatusCode::BAD_GATEWAY,
        Code::Io | Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A success: `json` (a JSON text) with status 200.
pub(crate) fn result(json: String) -> Reply {
    with_type(
        Response::new(Full::new(Bytes::from(json))),
        "application/json",
    )
}

/// A failure with the status its code maps to.
pub(crate) fn error(e: &Error) -> Reply {
    error_with(status_of(e.code), e)
}

/// A failure sent with `status` instead of the one its code maps to (a body over the limit,
/// a method the endpoint does not take).
pub(crate) fn error_with(status: StatusCode, e: &Error) -> Reply {
    let body = json!({ "code": e.code.as_str(), "message": e.message }).to_string();
    let mut reply = with_type(
        Response::new(Full::new(Bytes::from(body))),
        "application/json",
    );
    *reply.status_mut() = status;
    reply
}

/// `reply`, after which the connection closes (the rest of a request body was not read).
pub(crate) fn closing(mut reply: Reply) -> Reply {
    reply
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    reply
}

/// `reply`, telling the client how long the connection may stay idle before the port closes it
/// (`Keep-Alive: timeout=SECONDS`), so that it stops reusing the connection before then; a
/// reply that closes the connection is left as it is.
pub(crate) fn keep_alive(mut reply: Reply, idle: Duration) -> Reply {
    if !reply.headers().contains_key(CONNECTION) {
        let value = HeaderValue::try_from(format!("timeout={}", idle.as_secs()))
            .expect("digits and letters make a header value");
        reply.headers_mut().insert(KEEP_ALIVE, value);
    }
    reply
}

fn with_type(mut reply: Reply, content_type: &'static str) -> Reply {
    reply
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_the_status_the_contract_gives_it() {
        let expected = [
            (Code::InvalidArgument, 400),
            (Code::AuthFailed, 401),
            (Code::PermissionDenied, 403),
            (Code::NotFound, 404),
            (Code::InvalidState, 409),
            (Code::AlreadyExists, 409),
            (Code::TimedOut, 504),
            (Code::Unavailable, 503),
            (Code::Protocol, 502),
            (Code::Io, 500),
            (Code::Internal, 500),
        ];
        assert_eq!(expected.len(), Code::ALL.len());
        for (code, status) in expected {
            assert_eq!(status_of(code).as_u16(), status, "{code:?}");
        }
    }
}
