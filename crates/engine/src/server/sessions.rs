//! Session tokens: what a successful `auth` or `authToken` hands out, kept in memory only (a
//! restart logs everyone out), each valid for [`SESSION_LIFETIME_US`]. Shared by the actor, which opens
//! them, and the readers that check the bearer of each request of the control port.

use crate::error::{Code, Error, Result};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// How long a session lasts: 24 hours, in µs.
pub const SESSION_LIFETIME_US: i64 = 24 * 3600 * 1_000_000;
/// The most sessions kept at once; opening one more drops the one nearest its end.
const MAX_SESSIONS: usize = 10_000;

/// Who opened a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Holder {
    /// A user, with its password.
    User(String),
    /// The holder of a shared token (the token), with its password if it has one.
    SharedToken(String),
}

/// One open session.
struct Session {
    holder: Holder,
    expiry: i64,
}

/// The open sessions, by token.
#[derive(Default)]
pub(crate) struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Opens a session for `holder` at `now`: its token (64 hex digits) and expiry time.
    pub(crate) fn open(&self, holder: Holder, now: i64) -> Result<(String, i64)> {
        let bytes: [u8; 32] = ring::rand::generate(&ring::rand::SystemRandom::new())
            .map_err(|_| Error::new(Code::Internal, "the system random generator failed"))?
            .expose();
        let token = hex::encode(bytes);
        let expiry = now.saturating_add(SESSION_LIFETIME_US);
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, session| session.expiry > now);
        }
        if map.len() >= MAX_SESSIONS {
            let nearest = map
                .iter()
                .min_by_key(|(_, session)| session.expiry)
                .map(|(token, _)| token.clone());
            if let Some(nearest) = nearest {
                map.remove(&nearest);
            }
        }
        map.insert(token.clone(), Session { holder, expiry });
        Ok((token, expiry))
    }

    /// Who holds the session `token` if it is open at `now`; an ended one is forgotten.
    pub(crate) fn holder(&self, token: &str, now: i64) -> Option<Holder> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        match map.get(token) {
            Some(session) if session.expiry > now => Some(session.holder.clone()),
            Some(_) => {
                map.remove(token);
                None
            }
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_names_its_holder_until_it_ends() {
        let sessions = Sessions::default();
        let ann = Holder::User("ann".into());
        let (token, expiry) = sessions.open(ann.clone(), 1_000).unwrap();
        assert_eq!(token.len(), 64);
        assert_eq!(expiry, 1_000 + SESSION_LIFETIME_US);
        assert_eq!(sessions.holder(&token, expiry - 1), Some(ann));
        assert_eq!(sessions.holder(&token, expiry), None);
        assert_eq!(
            sessions.holder(&token, 1_000),
            None,
            "an ended session is forgotten"
        );
        assert_eq!(sessions.holder("nonsense", 1_000), None);
    }
}
