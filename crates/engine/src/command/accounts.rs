//! The parameters of the methods about who calls: logging in (`auth`, `authAsync`, and
//! `authToken` with a shared token, whose holder may then `createDownload`) and the API tokens
//! (`createAPIToken`, `deleteAPIToken`, `getAPIToken`).

use super::args::{Args, Kind, NonBlank, Ref, StringList, Text};
use super::error::CommandError;
use super::params::{FromArgs, COUNT_U64, PORT, TOKEN};
use super::permissions::{Permission, Permissions};
use serde::Serialize;

/// `auth(userName, password)`, `authAsync(userName, password)`.
#[derive(Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Auth {
    /// The account.
    pub user_name: String,
    /// Its password.
    pub password: String,
}

/// Never shows the password.
impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("user_name", &self.user_name)
            .finish_non_exhaustive()
    }
}

impl FromArgs for Auth {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(Auth {
            user_name: args.req("userName", &NonBlank)?,
            password: args.req("password", &Text)?,
        })
    }
}

/// `authToken(token, password=None)`: opens a session for the holder of a shared token.
#[derive(Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthToken {
    /// The shared token (or its Token structure).
    pub token: String,
    /// Its password, when it was created with one.
    pub password: Option<String>,
}

/// Never shows the token or its password.
impl std::fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthToken").finish_non_exhaustive()
    }
}

impl FromArgs for AuthToken {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(AuthToken {
            token: args.req("token", &TOKEN)?,
            password: args.opt("password", &Text)?,
        })
    }
}

/// `createDownload(destinationPort, destinationAddress=None, destinationPublicKey=None,
/// destinationPath=None)` (ours): the holder of a shared token has the token's manifest sent to
/// its receiver.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateDownload {
    /// The holder's receive port.
    pub destination_port: u16,
    /// The holder's receiver; the address its API requests come from when `None`.
    pub destination_address: Option<String>,
    /// The key the holder's receiver must prove.
    pub destination_public_key: Option<String>,
    /// Directory below the holder's root that receives the files.
    pub destination_path: Option<String>,
}

impl FromArgs for CreateDownload {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(CreateDownload {
            destination_port: args.req("destinationPort", &PORT)?,
            destination_address: args.opt("destinationAddress", &NonBlank)?,
            destination_public_key: args.opt("destinationPublicKey", &NonBlank)?,
            destination_path: args.opt("destinationPath", &Text)?,
        })
    }
}

/// `createAPIToken(description=None, sandboxPath=None, permissions=None,
/// timeLimitSeconds=None)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateApiToken {
    /// What the token is for.
    pub description: Option<String>,
    /// The directory, inside the server's sandbox, that confines the token's paths; the whole
    /// sandbox when `None`.
    pub sandbox_path: Option<String>,
    /// What the token may do; everything its creator may when `None`.
    pub permissions: Option<Permissions>,
    /// Seconds from now until the token expires; never when `None`.
    pub time_limit_seconds: Option<u64>,
}

impl FromArgs for CreateApiToken {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(CreateApiToken {
            description: args.opt("description", &Text)?,
            sandbox_path: args.opt("sandboxPath", &Text)?,
            permissions: args.opt_with("permissions", |args, value| {
                let names = StringList
                    .read(value)
                    .ok_or_else(|| args.invalid("permissions", StringList.expected(), value))?;
                names
                    .iter()
                    .map(|name| Permission::parse(name))
                    .collect::<Option<Permissions>>()
                    .ok_or_else(|| {
                        args.invalid(
                            "permissions",
                            format!(
                                "an array of {}",
                                Permission::ALL.map(Permission::as_str).join(", ")
                            ),
                            value,
                        )
                    })
            })?,
            time_limit_seconds: args.opt("timeLimitSeconds", &COUNT_U64)?,
        })
    }
}

/// An API token's secret or id, or the APIToken structure (naming it by its id).
const API_TOKEN: Ref<NonBlank> = Ref {
    id: NonBlank,
    what: "an API token or its id",
    field: "tokenId",
};

/// `(token)`: deleteAPIToken, getAPIToken. The token itself, or its `tokenId`.
#[derive(Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiTokenRef {
    /// The token or its id.
    pub token: String,
}

/// Shows only the token's id form.
impl std::fmt::Debug for ApiTokenRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiTokenRef").finish_non_exhaustive()
    }
}

impl FromArgs for ApiTokenRef {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(ApiTokenRef {
            token: args.req("token", &API_TOKEN)?,
        })
    }
}
