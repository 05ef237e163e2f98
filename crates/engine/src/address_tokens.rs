//! The resumption tokens receivers handed to this process, by receiver address: every send to
//! a receiver presents the newest one, so only the first session to it pays the round trip of
//! the receiver's address check.

use jetstream_wire::crypto::token::Token;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{LazyLock, Mutex, PoisonError};

/// Receivers remembered at most; past that the memory starts afresh (a forgotten token costs
/// one round trip).
const MAX_RECEIVERS: usize = 4096;

static TOKENS: LazyLock<Mutex<HashMap<SocketAddr, Token>>> = LazyLock::new(Mutex::default);

/// The token `receiver` gave last, if any.
pub fn get(receiver: SocketAddr) -> Option<Token> {
    let tokens = TOKENS.lock().unwrap_or_else(PoisonError::into_inner);
    tokens.get(&receiver).copied()
}

/// Remembers the token `receiver` gave.
pub fn put(receiver: SocketAddr, token: Token) {
    let mut tokens = TOKENS.lock().unwrap_or_else(PoisonError::into_inner);
    if tokens.len() >= MAX_RECEIVERS && !tokens.contains_key(&receiver) {
        tokens.clear();
    }
    tokens.insert(receiver, token);
}
