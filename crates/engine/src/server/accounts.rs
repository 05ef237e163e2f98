//! The methods about who calls: `auth`/`authAsync` check a user's password (off the actor, on
//! the password-check threads: argon2 takes tens of milliseconds) and open a session; logins
//! wait their turn per address, failed ones are limited per address and logged. `createAPIToken`/`deleteAPIToken` keep the API tokens,
//! which never grant more than their creator holds.

use super::actor::{now_us, to_json, Actor, Msg, Responder};
use super::caller::Caller;
use super::logins::{Admission, Refusal, MAX_WAIT};
use crate::command::{Auth, CreateApiToken};
use crate::error::{Code, Error, Result};
use crate::sandbox::check_path;
use crate::store::{ApiToken, EventKind, NewApiToken, NewEvent};
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

/// A login, from the moment it arrives until its password is checked or it is refused.
pub(super) struct Login {
    user_name: String,
    password: String,
    responder: Responder,
}

impl Actor {
    pub(super) fn auth(&mut self, caller: &Caller, p: Auth, responder: Responder) {
        let address = caller.address;
        let login = Login {
            user_name: p.user_name,
            password: p.password,
            responder,
        };
        match self.logins.attempt(address, login, Instant::now()) {
            Admission::Check(login) => self.check_password(address, login),
            Admission::Queued => {}
            Admission::Refused(login, why) => self.refuse_login(address, login, why),
        }
    }

    /// Goes on with the logins whose turn came, and refuses those that waited too long.
    pub(super) fn logins_due(&mut self) {
        for (address, admission) in self.logins.due(Instant::now()) {
            match admission {
                Admission::Check(login) => self.check_password(address, login),
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
            "login as {:?} from {} refused unchecked: {why:?}",
            login.user_name,
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
        self.respond(login.responder, Err(error));
    }

    /// Checks a login's password on the password-check threads; the outcome comes back as
    /// [`Msg::Authenticated`].
    fn check_password(&mut self, address: Option<IpAddr>, login: Login) {
        let hash = match self.store.user_password_hash(&login.user_name) {
            Ok(hash) => hash,
            Err(e) => {
                // Nothing was checked: the login costs the address nothing.
                self.logins.ended(address, true);
                return self.respond(login.responder, Err(e.into()));
            }
        };
        let responder = self.defer(login.responder);
        let tx = self.tx.clone();
        let user_name = login.user_name;
        self.password_checks.check(hash, login.password, move |ok| {
            let _ = tx.send(Msg::Authenticated {
                user_name,
                address,
                ok,
                responder,
            });
        });
    }

    /// A password check ended: a session, or `AUTH_FAILED` (the same for an unknown user as
    /// for a wrong password).
    pub(super) fn on_authenticated(
        &mut self,
        user_name: String,
        address: Option<IpAddr>,
        ok: bool,
        responder: Responder,
    ) {
        let (kind, message) = if ok {
            (
                EventKind::LoggedIn,
                format!("{user_name:?} logged in from {}", from(address)),
            )
        } else {
            (
                EventKind::LoginFailed,
                format!("failed login as {user_name:?} from {}", from(address)),
            )
        };
        self.logins.ended(address, ok);
        let result = if ok {
            tracing::info!("{message}");
            self.sessions.open(&user_name, now_us()).map(|(token, expiry)| {
                json!({ "sessionToken": token, "userName": user_name, "expiryTime": expiry })
            })
        } else {
            tracing::warn!("{message}");
            Err(Error::new(Code::AuthFailed, "wrong user name or password"))
        };
        self.record(NewEvent {
            user_name: Some(user_name),
            ..NewEvent::new(kind, message)
        });
        self.respond(responder, result);
        // The check's token came back, or time refilled one meanwhile.
        self.logins_due();
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
