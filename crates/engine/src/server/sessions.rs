//! Session tokens: what a successful `auth` hands out, kept in memory only (a restart logs
//! everyone out), each valid for [`SESSION_LIFETIME_US`]. Shared by the actor, which opens
//! them, and the readers that check the bearer of each request of the control port.

use crate::error::{Code, Error, Result};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// How long a session lasts: 24 hours, in µs.
pub const SESSION_LIFETIME_US: i64 = 24 * 3600 * 1_000_000;
/// The most sessions kept at once; opening one more drops the one nearest its end.
const MAX_SESSIONS: usize = 10_000;

/// One logged-in user's session.
struct Session {
    user: String,
    expiry: i64,
}

/// The open sessions, by token.
#[derive(Default)]
pub(crate) struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Opens a session for `user` at `now`: its token (64 hex digits) and expiry time.
    pub(crate) fn open(&self, user: &str, now: i64) -> Result<(String, i64)> {
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
        map.insert(
            token.clone(),
            Session {
                user: user.to_owned(),
                expiry,
            },
        );
        Ok((token, expiry))
    }

    /// The user of the session `token` if it is open at `now`; an ended one is forgotten.
    pub(crate) fn user(&self, token: &str, now: i64) -> Option<String> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        match map.get(token) {
            Some(session) if session.expiry > now => Some(session.user.clone()),
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
    fn a_session_names_its_user_until_it_ends() {
        let sessions = Sessions::default();
        let (token, expiry) = sessions.open("ann", 1_000).unwrap();
        assert_eq!(token.len(), 64);
        assert_eq!(expiry, 1_000 + SESSION_LIFETIME_US);
        assert_eq!(sessions.user(&token, expiry - 1).as_deref(), Some("ann"));
        assert_eq!(sessions.user(&token, expiry), None);
        assert_eq!(
            sessions.user(&token, 1_000),
            None,
            "an ended session is forgotten"
        );
        assert_eq!(sessions.user("nonsense", 1_000), None);
    }
}
