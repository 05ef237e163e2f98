//! Sandbox mappings: each user's root below the server's sandbox, kept in the store
//! (`createSandboxMapping` is ours: the vendor's API only lists and deletes them).

use super::actor::{to_json, Actor};
use super::caller::Caller;
use crate::command::CreateSandboxMapping;
use crate::error::{Code, Error, Result};
use crate::sandbox::check_path;
use crate::store::{EventKind, NewEvent, SandboxMapping};
use serde_json::Value;

impl Actor {
    pub(super) fn create_sandbox_mapping(
        &mut self,
        caller: &Caller,
        p: &CreateSandboxMapping,
    ) -> Result<Value> {
        check_path(&p.path).map_err(|e| {
            Error::new(
                Code::InvalidArgument,
                format!("createSandboxMapping: path: {e} (it is relative to the sandbox)"),
            )
        })?;
        let mapping = SandboxMapping {
            user_name: p.user_name.clone(),
            path: p.path.clone(),
        };
        self.store.set_sandbox_mapping(&mapping)?;
        self.record(NewEvent {
            user_name: caller.user.clone(),
            path: Some(mapping.path.clone()),
            ..NewEvent::new(
                EventKind::SandboxMappingChanged,
                format!("sandbox mapping of {:?} set to {:?}", p.user_name, p.path),
            )
        });
        to_json(&mapping)
    }

    pub(super) fn delete_sandbox_mapping(&mut self, caller: &Caller, name: &str) -> Result<Value> {
        self.store.delete_sandbox_mapping(name)?;
        self.record(NewEvent {
            user_name: caller.user.clone(),
            ..NewEvent::new(
                EventKind::SandboxMappingChanged,
                format!("sandbox mapping of {name:?} deleted"),
            )
        });
        Ok(Value::Null)
    }
}
