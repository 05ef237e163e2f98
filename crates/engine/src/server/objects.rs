//! Shared tokens and user data: records the store keeps for the API; and the downloads a
//! shared token's holder starts (`createDownload`): the token's manifest sent to the holder's
//! receiver as any transfer is.

use super::actor::{now_us, to_json, Actor};
use super::caller::Caller;
use crate::command::{
    self, Command, CreateDownload, CreateSharedToken, DeleteObjectUserData, ObjectId,
    UpdateObjectUserData, UpdateSharedToken,
};
use crate::error::{Code, Error, Result};
use crate::store::{DownloadCheck, EventKind, NewEvent, NewToken, ObjectRef};
use serde_json::{json, Value};

impl Actor {
    pub(super) fn create_shared_token(&mut self, p: &CreateSharedToken) -> Result<Value> {
        self.store.get_manifest(&p.manifest_id)?;
        let token = self.store.insert_token(
            &NewToken {
                manifest_id: p.manifest_id.clone(),
                download_limit: p.download_limit,
                time_limit_seconds: p.time_limit_seconds,
                description: p.description.clone(),
            },
            p.password.as_deref(),
            now_us(),
        )?;
        to_json(&token)
    }

    pub(super) fn update_shared_token(&mut self, p: &UpdateSharedToken) -> Result<Value> {
        self.store.update_token(
            &p.token,
            p.time_limit_seconds,
            p.description.as_deref(),
            now_us(),
        )?;
        // The seed documents `None`; the token's new state is read with getSharedToken.
        Ok(Value::Null)
    }

    pub(super) fn delete_shared_token(&mut self, token: &str) -> Result<Value> {
        self.store.delete_token(token)?;
        Ok(Value::Null)
    }

    /// Sends the manifest of the caller's shared token to the caller's receiver, counting one
    /// download against the token: the transfer, which runs and is kept as any other.
    pub(super) fn create_download(&mut self, caller: &Caller, p: &CreateDownload) -> Result<Value> {
        let Some(token) = &caller.shared_token else {
            return Err(Error::new(
                Code::PermissionDenied,
                "createDownload: only the holder of a shared token may download: log in with \
                 authToken first",
            ));
        };
        let address = match (&p.destination_address, caller.address) {
            (Some(address), _) => address.clone(),
            (None, Some(ip)) => ip.to_string(),
            (None, None) => {
                return Err(Error::new(
                    Code::InvalidArgument,
                    "createDownload: destinationAddress is needed for a caller in this process",
                ))
            }
        };
        let refused = |why: &str| {
            Err(Error::new(
                Code::AuthFailed,
                format!("createDownload: {why}"),
            ))
        };
        let manifest_id = match self.store.get_token(token) {
            Ok(shared) => shared.manifest_id,
            Err(_) => return refused("the shared token was deleted"),
        };
        let count = match self.store.count_token_download(token, now_us())? {
            DownloadCheck::Expired => return refused("the shared token has expired"),
            DownloadCheck::Exhausted => {
                return refused("the shared token has reached its download limit")
            }
            DownloadCheck::Counted { download_count } => download_count,
        };
        let mut destination =
            json!({ "destinationAddress": address, "destinationPort": p.destination_port });
        if let Some(key) = &p.destination_public_key {
            destination["destinationPublicKey"] = json!(key);
            destination["authenticateDestination"] = json!(true);
        }
        let Command::CreateDestination(destination) =
            command::parse(&json!({ "method": "createDestination", "params": destination }))?
        else {
            unreachable!("parsed as createDestination")
        };
        let destination = self.create_destination(&destination)?;
        let mut transfer =
            json!({ "destinationId": destination["destinationId"], "manifestId": manifest_id });
        if let Some(path) = &p.destination_path {
            transfer["destinationPath"] = json!(path);
        }
        let Command::CreateTransfer(transfer) =
            command::parse(&json!({ "method": "createTransfer", "params": transfer }))?
        else {
            unreachable!("parsed as createTransfer")
        };
        let transfer = self.create_transfer_by(&transfer, true)?;
        self.record(NewEvent {
            transfer_id: transfer["transferId"].as_u64(),
            ..NewEvent::new(
                EventKind::DownloadStarted,
                format!(
                    "download {count} of shared token {}… (manifest {manifest_id}) to {address}:{}",
                    token.get(..8).unwrap_or(token),
                    p.destination_port
                ),
            )
        });
        Ok(transfer)
    }

    pub(super) fn update_object_user_data(&mut self, p: &UpdateObjectUserData) -> Result<Value> {
        let object = self.object(&p.obj_id)?;
        match &p.value {
            Some(value) => self.store.set_user_data(&object, &p.key, value)?,
            None => self.store.delete_user_data(&object, &p.key)?,
        }
        // The seed documents `None` for both user-data calls; the data is read with the
        // object's get call.
        Ok(Value::Null)
    }

    pub(super) fn delete_object_user_data(&mut self, p: &DeleteObjectUserData) -> Result<Value> {
        let object = self.object(&p.obj_id)?;
        self.store.delete_user_data(&object, &p.key)?;
        Ok(Value::Null)
    }

    /// The existing object an `objId` names.
    fn object(&self, id: &ObjectId) -> Result<ObjectRef> {
        let object = match id {
            ObjectId::Text(id) => self.store.resolve_object(id)?,
            ObjectId::Transfer(id) => ObjectRef::Transfer(*id),
            ObjectId::Destination(id) => ObjectRef::Destination(id.clone()),
            ObjectId::Manifest(id) => ObjectRef::Manifest(id.clone()),
            ObjectId::Token(id) => ObjectRef::Token(id.clone()),
        };
        // Checked here, so that a missing object is reported as the objId parameter.
        self.store
            .user_data(&object)
            .map_err(|e| e.for_param("objId"))?;
        Ok(object)
    }
}
