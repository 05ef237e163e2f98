//! Who a request comes from: the caller its `Authorization: Bearer TOKEN` header names (a
//! session token from `auth`, or an API token), checked by the server's reader. Without
//! credentials, a server that requires logins answers only `auth`/`authAsync`/`authToken`; everything else
//! gets 401 `AUTH_FAILED`.

use crate::reply::{self, Reply};
use crate::serve::Shared;
use hyper::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use hyper::HeaderMap;
use jetstream_engine::error::{Code, Error};
use jetstream_engine::server::Caller;
use std::net::IpAddr;

/// What a request may do without credentials.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// Credentials, when the server requires logins.
    Login,
    /// Nothing: it is a login itself (credentials, if sent, are not looked at).
    Nothing,
}

/// The caller of a request from `address` with `headers`, or the 401 reply refusing it.
pub(crate) fn caller(
    shared: &Shared,
    headers: &HeaderMap,
    address: IpAddr,
    need: Need,
) -> Result<Caller, Reply> {
    if need == Need::Nothing {
        return Ok(Caller::anonymous(address));
    }
    match bearer(headers) {
        Some(Ok(token)) => shared
            .reader
            .authenticate(token, Some(address))
            .map_err(|e| refused(&e)),
        Some(Err(e)) => Err(refused(&e)),
        None if shared.opts.auth_required => Err(refused(&Error::new(
            Code::AuthFailed,
            "this server requires a login: send Authorization: Bearer TOKEN with a session \
             token from auth or an API token",
        ))),
        None => Ok(Caller {
            address: Some(address),
            ..Caller::local()
        }),
    }
}

/// The token of an `Authorization: Bearer TOKEN` header, if there is one.
fn bearer(headers: &HeaderMap) -> Option<Result<&str, Error>> {
    let value = headers.get(AUTHORIZATION)?;
    let malformed = || {
        Error::new(
            Code::AuthFailed,
            "the Authorization header must be Bearer TOKEN",
        )
    };
    Some(
        value
            .to_str()
            .ok()
            .and_then(|value| {
                let (scheme, token) = value.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| token.trim())
                    .filter(|token| !token.is_empty())
            })
            .ok_or_else(malformed),
    )
}

/// A 401 with `e` and the scheme to authenticate with.
fn refused(e: &Error) -> Reply {
    let mut reply = reply::error(e);
    reply
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    reply
}
