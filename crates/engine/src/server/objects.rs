//! Shared tokens and user data: records the store keeps for the API, with no session behind
//! them.

use super::actor::{now_us, to_json, Actor};
use crate::command::{
    CreateSharedToken, DeleteObjectUserData, ObjectId, UpdateObjectUserData, UpdateSharedToken,
};
use crate::error::Result;
use crate::store::{NewToken, ObjectRef};
use serde_json::Value;

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
