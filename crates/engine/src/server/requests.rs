//! The request queue's answers: the status of an `*Async` request, and its result once it
//! ends (callers of `getRequestResult` wait for that).

use super::actor::{now_us, Actor, Responder};
use super::caller::Caller;
use crate::error::{Code, Error, Result};
use crate::store::{Request, RequestStatus};
use serde_json::Value;

impl Actor {
    pub(super) fn get_request_result(&mut self, caller: &Caller, id: u64, responder: Responder) {
        match self.store.get_request(id) {
            // Its result opens a session: only for a caller who holds every right already.
            Ok(request) if request.command == "authAsync" && caller.permissions.is_some() => {
                let e = Error::new(
                    Code::PermissionDenied,
                    format!(
                        "getRequestResult: request {id} is a login, whose session only a \
                         caller with every right may read"
                    ),
                );
                self.respond(responder, Err(e));
            }
            Ok(request) if request.processing => {
                self.request_waiters.entry(id).or_default().push(responder);
            }
            Ok(request) => self.respond(responder, result_of(request)),
            Err(e) => self.respond(responder, Err(e.into())),
        }
    }

    /// Records the end of request `id` and answers whoever waits for it.
    pub(super) fn finish_request(&mut self, id: u64, result: Result<Value>) {
        let now = now_us();
        let recorded = match &result {
            Ok(value) => self.store.complete_request(id, value, now),
            Err(e) => self
                .store
                .fail_request(id, e.code.as_str(), &e.message, now),
        };
        if let Err(e) = recorded {
            tracing::warn!("recording request {id}: {e}");
        }
        for responder in self.request_waiters.remove(&id).unwrap_or_default() {
            self.respond(responder, result.clone());
        }
    }
}

/// The result of a finished request, or its stored error.
fn result_of(request: Request) -> Result<Value> {
    match request.status {
        RequestStatus::Error => {
            let code = request
                .error_code
                .as_deref()
                .and_then(Code::parse)
                .unwrap_or(Code::Internal);
            Err(Error::new(code, request.error_message.unwrap_or_default()))
        }
        _ => Ok(request.result.unwrap_or(Value::Null)),
    }
}
