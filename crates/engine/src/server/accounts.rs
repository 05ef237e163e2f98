//! The methods about who calls: `auth`/`authAsync` check a user's password (off the actor, on
//! a blocking thread: argon2 takes tens of milliseconds) and open a session; a sender that
//! logs in inside its handshake goes through the same check and is told where its transfer
//! lands. Failed logins are limited per address and logged. `createAPIToken`/`deleteAPIToken` keep the API tokens,
//! which never grant more than their creator holds.

use super::actor::{now_us, to_json, Actor, Msg, Responder};
use super::caller::Caller;
use crate::command::{Auth, CreateApiToken, Permission};
use crate::error::{Code, Error, Result};
use crate::receive::Login;
use crate::sandbox::check_path;
use crate::store::{verify_password, ApiToken, EventKind, NewApiToken, NewEvent};
use jetstream_wire::session::{ErrorCode, SessionError};
use serde::Serialize;
use serde_json::{json, Value};
use std::net::IpAddr;
use std::time::Instant;

/// Who a login came from, for the log.
fn from(address: Option<IpAddr>) -> String {
    address.map_or_else(|| "the embedding process".to_owned(), |a| a.to_string())
}

/// A new API token: the secret, shown this once, and the token's record.
#[derive(Serialize)]
struct Created<'a> {
    token: &'a str,
    #[serde(flatten)]
    record: &'a ApiToken,
}

/// What waits for a password check: a client of `auth`, or a sender's session.
pub(super) enum Waiter {
    /// `auth`/`authAsync`: a session token, or `AUTH_FAILED`.
    Api(Responder),
    /// A sender that logged in inside its handshake: the receiver's verdict.
    Transfer(Login),
}

impl Actor {
    pub(super) fn auth(&mut self, caller: &Caller, p: Auth, responder: Responder) {
        self.check_password(
            caller.address,
            p.user_name,
            p.password,
            Waiter::Api(responder),
        );
    }

    /// Checks the password of a sender that logged in inside its handshake.
    pub(super) fn check_transfer_login(&mut self, mut login: Login) {
        let user = login.user.clone();
        let password = std::mem::take(&mut login.password);
        self.check_password(
            Some(login.peer.ip()),
            user,
            password,
            Waiter::Transfer(login),
        );
    }

    /// Checks `password` of `user_name` for a login from `address`, unless that address
    /// failed too often: off the actor, on a blocking thread; the verdict comes back as
    /// [`Msg::Authenticated`].
    fn check_password(
        &mut self,
        address: Option<IpAddr>,
        user_name: String,
        password: String,
        waiter: Waiter,
    ) {
        if let Err(wait) = self.logins.attempt(address, Instant::now()) {
            // Not a warning: a flood of these would flood the log; the checked failures,
            // at most one a second from the address, say what goes on.
            tracing::debug!(
                "login as {user_name:?} from {} refused unchecked: too many failed logins",
                from(address)
            );
            let message = format!(
                "too many failed logins from {}: try again in {} ms",
                from(address),
                wait.as_millis().max(1)
            );
            return self.answer(waiter, Err(Error::new(Code::AuthFailed, message)));
        }
        let hash = match self.store.user_password_hash(&user_name) {
            Ok(hash) => hash,
            Err(e) => return self.answer(waiter, Err(e.into())),
        };
        let waiter = match waiter {
            Waiter::Api(responder) => Waiter::Api(self.defer(responder)),
            transfer => transfer,
        };
        let tx = self.tx.clone();
        tokio::task::spawn_blocking(move || {
            let ok = verify_password(hash.as_deref(), &password);
            let _ = tx.send(Msg::Authenticated {
                user_name,
                address,
                ok,
                waiter,
            });
        });
    }

    /// A password check ended: for `auth`, a session; for a sender, the directory its transfer
    /// lands in. A wrong password gets `AUTH_FAILED`, the same for an unknown user.
    pub(super) fn on_authenticated(
        &mut self,
        user_name: String,
        address: Option<IpAddr>,
        ok: bool,
        waiter: Waiter,
    ) {
        let by = match &waiter {
            Waiter::Api(_) => String::new(),
            Waiter::Transfer(login) => format!(" by the sender of a transfer (key {})", login.key),
        };
        let (kind, message) = if ok {
            (
                EventKind::LoggedIn,
                format!("{user_name:?} logged in from {}{by}", from(address)),
            )
        } else {
            (
                EventKind::LoginFailed,
                format!("failed login as {user_name:?} from {}{by}", from(address)),
            )
        };
        if ok {
            self.logins.succeeded(address);
            tracing::info!("{message}");
        } else {
            tracing::warn!("{message}");
        }
        self.record(NewEvent {
            user_name: Some(user_name.clone()),
            ..NewEvent::new(kind, message)
        });
        if !ok {
            let refused = Error::new(Code::AuthFailed, "wrong user name or password");
            return self.answer(waiter, Err(refused));
        }
        let result = match &waiter {
            Waiter::Api(_) => self.sessions.open(&user_name, now_us()).map(|(token, expiry)| {
                json!({ "sessionToken": token, "userName": user_name, "expiryTime": expiry })
            }),
            Waiter::Transfer(_) => self.landing(user_name, address).map(Value::String),
        };
        self.answer(waiter, result);
    }

    /// The directory below the sandbox where the transfers a sender sends as `user` land:
    /// its sandbox mapping's, or the sandbox itself for a user that is not confined. Writing
    /// there takes the files permission.
    fn landing(&self, user: String, address: Option<IpAddr>) -> Result<String> {
        let caller = Caller::user(&self.store, &self.sandbox_root, user, address)?;
        if !caller.held().contains(Permission::Files) {
            return Err(Error::new(
                Code::PermissionDenied,
                format!(
                    "{} may not write files on this server",
                    caller.user.unwrap_or_default()
                ),
            ));
        }
        let base = caller.root.as_deref().map_or(Ok(""), |root| {
            root.strip_prefix(&self.sandbox_root)
                .map_err(|_| Error::new(Code::PermissionDenied, "a root outside the sandbox"))
                .and_then(|rel| {
                    rel.to_str()
                        .ok_or_else(|| Error::new(Code::PermissionDenied, "a root not in UTF-8"))
                })
        })?;
        Ok(base.to_owned())
    }

    /// Gives a password check's result to what waited for it.
    fn answer(&mut self, waiter: Waiter, result: Result<Value>) {
        match waiter {
            Waiter::Api(responder) => self.respond(responder, result),
            Waiter::Transfer(login) => {
                let verdict = result
                    .and_then(|base| match base {
                        Value::String(base) => Ok(base),
                        _ => Err(Error::new(Code::Internal, "no landing directory")),
                    })
                    .map_err(|e| SessionError {
                        code: match e.code {
                            Code::PermissionDenied => ErrorCode::PermissionDenied,
                            Code::AuthFailed => ErrorCode::AuthFailed,
                            _ => ErrorCode::Internal,
                        },
                        message: e.message,
                        remote: false,
                    });
                self.receiver.settle(login.id, verdict);
            }
        }
    }

    pub(super) fn create_api_token(
        &mut self,
        caller: &Caller,
        p: &CreateApiToken,
    ) -> Result<Value> {
        let held = caller.held();
        let permissions = p.permissions.unwrap_or(held);
        if !held.includes(permissions) {
            return Err(Error::new(
                Code::PermissionDenied,
                "createAPIToken: permissions: a token cannot hold a permission its creator \
                 does not",
            ));
        }
        let given = p.sandbox_path.as_deref().unwrap_or("");
        let sandbox_path = check_path(given.trim_start_matches('/')).map_err(|e| {
            Error::new(
                Code::InvalidArgument,
                format!("createAPIToken: sandboxPath: {e}"),
            )
        })?;
        if let Some(root) = &caller.root {
            if !self.sandbox_root.join(sandbox_path).starts_with(root) {
                return Err(Error::new(
                    Code::PermissionDenied,
                    format!(
                        "createAPIToken: sandboxPath {given} is outside the creator's own \
                         directory {}",
                        root.display()
                    ),
                ));
            }
        }
        let new = NewApiToken {
            user_name: caller.user.clone(),
            description: p.description.clone(),
            sandbox_path: sandbox_path.to_owned(),
            permissions,
            time_limit_seconds: p.time_limit_seconds,
        };
        let (token, record) = self.store.insert_api_token(&new, now_us())?;
        let message = format!(
            "API token {} created by {}",
            record.token_id,
            caller.user.as_deref().unwrap_or("the embedding process")
        );
        tracing::info!("{message}");
        self.record(NewEvent {
            user_name: caller.user.clone(),
            ..NewEvent::new(EventKind::ApiTokenChanged, message)
        });
        to_json(&Created {
            token: &token,
            record: &record,
        })
    }

    pub(super) fn delete_api_token(&mut self, caller: &Caller, token: &str) -> Result<Value> {
        let record = self.store.get_api_token(token)?;
        self.store.delete_api_token(token)?;
        self.record(NewEvent {
            user_name: caller.user.clone(),
            ..NewEvent::new(
                EventKind::ApiTokenChanged,
                format!("API token {} deleted", record.token_id),
            )
        });
        Ok(Value::Null)
    }
}
