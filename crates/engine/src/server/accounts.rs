//! The methods about who calls: `auth`/`authAsync` check a user's password (off the actor, on
//! the password-check threads: argon2 takes tens of milliseconds) and open a session; a sender
//! that logs in inside its handshake goes through the same check and is told where its
//! transfer lands; `authToken` opens a session for the holder of a shared token. Logins wait
//! their turn per address, failed ones are limited per address and logged.
//! `createAPIToken`/`deleteAPIToken` keep the API tokens, which never grant more than their
//! creator holds.

use super::actor::{now_us, to_json, Actor, Msg, Responder};
use super::caller::Caller;
use super::logins::{Admission, Refusal, MAX_WAIT};
use super::sessions::Holder;
use crate::command::{Auth, AuthToken, CreateApiToken, Permission};
use crate::error::{Code, Error, Result};
use crate::receive;
use crate::sandbox::check_path;
use crate::store::{
    verify_password, ApiToken, CheckMemory, EventKind, NewApiToken, NewEvent, TokenSecret,
};
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

/// What waits for a login's check, and whose secret it is.
pub(super) enum Waiter {
    /// `auth`/`authAsync` as `user`: a session, or `AUTH_FAILED`.
    User { user: String, responder: Responder },
    /// A sender that logged in inside its handshake: the receiver's verdict.
    Transfer(receive::Login),
    /// `authToken`: a session that may download the shared `token`'s manifest.
    SharedToken { token: String, responder: Responder },
}

impl Waiter {
    /// Who logged in, for the log: never a whole shared token.
    fn who(&self) -> String {
        match self {
            Waiter::User { user, .. } => format!("{user:?}"),
            Waiter::Transfer(login) => format!(
                "{:?} by the sender of a transfer (key {})",
                login.user, login.key
            ),
            Waiter::SharedToken { token, .. } => {
                format!("shared token {}…", token.get(..8).unwrap_or(token))
            }
        }
    }

    /// The account, if the login names one.
    fn user(&self) -> Option<String> {
        match self {
            Waiter::User { user, .. } => Some(user.clone()),
            Waiter::Transfer(login) => Some(login.user.clone()),
            Waiter::SharedToken { .. } => None,
        }
    }
}

/// A login, from the moment it arrives until its password is checked or it is refused.
pub(super) struct Login {
    /// The password given (a shared token's may be none).
    password: Option<String>,
    waiter: Waiter,
}

impl Actor {
    pub(super) fn auth(&mut self, caller: &Caller, p: Auth, responder: Responder) {
        let waiter = Waiter::User {
            user: p.user_name,
            responder,
        };
        self.attempt(caller.address, Some(p.password), waiter);
    }

    /// Checks the password of a sender that logged in inside its handshake.
    pub(super) fn check_transfer_login(&mut self, mut login: receive::Login) {
        let password = std::mem::take(&mut login.password);
        self.attempt(
            Some(login.peer.ip()),
            Some(password),
            Waiter::Transfer(login),
        );
    }

    /// Opens a session for the holder of a shared token that has not expired nor reached its
    /// download limit, with its password if it has one.
    pub(super) fn auth_token(&mut self, caller: &Caller, p: AuthToken, responder: Responder) {
        let waiter = Waiter::SharedToken {
            token: p.token,
            responder,
        };
        self.attempt(caller.address, p.password, waiter);
    }

    /// A login from `address`: checked now, queued behind the address's others, or refused
    /// unchecked.
    fn attempt(&mut self, address: Option<IpAddr>, password: Option<String>, waiter: Waiter) {
        let login = Login { password, waiter };
        match self.logins.attempt(address, login, Instant::now()) {
            Admission::Check(login) => self.check(address, login),
            Admission::Queued => {}
            Admission::Refused(login, why) => self.refuse_login(address, login, why),
        }
    }

    /// Goes on with the logins whose turn came, and refuses those that waited too long.
    pub(super) fn logins_due(&mut self) {
        for (address, admission) in self.logins.due(Instant::now()) {
            match admission {
                Admission::Check(login) => self.check(address, login),
                Admission::Refused(login, why) => self.refuse_login(address, login, why),
                Admission::Queued => {}
            }
        }
    }

    /// Refuses a login without checking its password.
    fn refuse_login(&mut self, address: Option<IpAddr>, login: Login, why: Refusal) {
        // Not a warning: a flood of these would flood the log; the checked failures, at most
        // one a second from the address once it failed a few, say what goes on.
        tracing::debug!(
            "login as {} from {} refused unchecked: {why:?}",
            login.waiter.who(),
            from(address)
        );
        let error = match why {
            Refusal::Failures { retry_in } => Error::new(
                Code::AuthFailed,
                format!(
                    "too many failed logins from {}: try again in {} ms",
                    from(address),
                    retry_in.as_millis().max(1)
                ),
            ),
            Refusal::Busy => Error::new(
                Code::Unavailable,
                format!(
                    "too many logins from {} under way or waiting their turn (each waits {} s \
                     at most): try again later",
                    from(address),
                    MAX_WAIT.as_secs()
                ),
            ),
        };
        self.answer(login.waiter, Err(error));
    }

    /// Checks a login on the password-check threads (an account's argon2id hash, a shared
    /// token's PBKDF2 one); the outcome comes back as [`Msg::Authenticated`]. A shared token
    /// that is unknown, expired or used up is refused without a check.
    fn check(&mut self, address: Option<IpAddr>, login: Login) {
        let Login { password, waiter } = login;
        let check: Box<dyn FnOnce(&mut CheckMemory) -> bool + Send> = match &waiter {
            Waiter::User { .. } | Waiter::Transfer(_) => {
                let user = waiter.user().unwrap_or_default();
                let hash = match self.store.user_password_hash(&user) {
                    Ok(hash) => hash,
                    Err(e) => {
                        // Nothing was checked: the login costs the address nothing.
                        self.logins.ended(address, true);
                        return self.answer(waiter, Err(e.into()));
                    }
                };
                let password = password.unwrap_or_default();
                Box::new(move |memory| verify_password(memory, hash.as_deref(), &password))
            }
            Waiter::SharedToken { token, .. } => match self.usable_token(token) {
                Ok(secret) => Box::new(move |_| secret.opens(password.as_deref())),
                Err(e) => {
                    self.logins.ended(address, false);
                    return self.refuse(address, waiter, e);
                }
            },
        };
        let waiter = match waiter {
            Waiter::User { user, responder } => Waiter::User {
                user,
                responder: self.defer(responder),
            },
            Waiter::SharedToken { token, responder } => Waiter::SharedToken {
                token,
                responder: self.defer(responder),
            },
            transfer => transfer,
        };
        let tx = self.tx.clone();
        self.password_checks.run(check, move |ok| {
            let _ = tx.send(Msg::Authenticated {
                address,
                ok,
                waiter,
            });
        });
    }

    /// The password of shared `token`, if the token may still be used.
    fn usable_token(&self, token: &str) -> Result<TokenSecret> {
        let shared = self
            .store
            .get_token(token)
            .map_err(|e| match Error::from(e) {
                e if e.code == Code::NotFound => {
                    Error::new(Code::AuthFailed, "no such shared token (deleted?)")
                }
                e => e,
            })?;
        let now = now_us();
        if shared.expiry_time.is_some_and(|expiry| expiry <= now) {
            return Err(Error::new(Code::AuthFailed, "the shared token has expired"));
        }
        if shared
            .download_limit
            .is_some_and(|limit| shared.download_count >= limit)
        {
            return Err(Error::new(
                Code::AuthFailed,
                "the shared token has reached its download limit",
            ));
        }
        Ok(self.store.token_secret(token)?)
    }

    /// A check ended: a session for `auth` and `authToken`, for a sender the directory its
    /// transfer lands in; otherwise `AUTH_FAILED`, the same for an unknown user as for a wrong
    /// password.
    pub(super) fn on_authenticated(&mut self, address: Option<IpAddr>, ok: bool, waiter: Waiter) {
        self.logins.ended(address, ok);
        if ok {
            self.logged_in(address, waiter);
        } else {
            let wrong = match waiter {
                Waiter::SharedToken { .. } => "wrong password for the shared token",
                _ => "wrong user name or password",
            };
            self.refuse(address, waiter, Error::new(Code::AuthFailed, wrong));
        }
        // The check's token came back, or time refilled one meanwhile.
        self.logins_due();
    }

    /// A login succeeded: logged, recorded, and its session or verdict given.
    fn logged_in(&mut self, address: Option<IpAddr>, waiter: Waiter) {
        let message = format!("{} logged in from {}", waiter.who(), from(address));
        tracing::info!("{message}");
        self.record(NewEvent {
            user_name: waiter.user(),
            ..NewEvent::new(EventKind::LoggedIn, message)
        });
        let now = now_us();
        let result = match &waiter {
            Waiter::User { user, .. } => self
                .sessions
                .open(Holder::User(user.clone()), now)
                .map(|(token, expiry)| {
                    json!({ "sessionToken": token, "userName": user, "expiryTime": expiry })
                }),
            Waiter::SharedToken { token, .. } => self
                .sessions
                .open(Holder::SharedToken(token.clone()), now)
                .and_then(|(session, expiry)| {
                    let shared = self.store.get_token(token)?;
                    Ok(json!({ "sessionToken": session, "expiryTime": expiry,
                               "manifestId": shared.manifest_id }))
                }),
            Waiter::Transfer(login) => self
                .landing(login.user.clone(), address)
                .map(Value::String),
        };
        self.answer(waiter, result);
    }

    /// Logs and records a refused login, and tells `waiter` why.
    fn refuse(&mut self, address: Option<IpAddr>, waiter: Waiter, e: Error) {
        let message = format!(
            "failed login as {} from {}: {}",
            waiter.who(),
            from(address),
            e.message
        );
        tracing::warn!("{message}");
        self.record(NewEvent {
            user_name: waiter.user(),
            ..NewEvent::new(EventKind::LoginFailed, message)
        });
        self.answer(waiter, Err(e));
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

    /// Gives a login's result to what waited for it.
    fn answer(&mut self, waiter: Waiter, result: Result<Value>) {
        match waiter {
            Waiter::User { responder, .. } | Waiter::SharedToken { responder, .. } => {
                self.respond(responder, result)
            }
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
                        file: None,
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
