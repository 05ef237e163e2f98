//! The parameters of the methods about who calls: logging in (`auth`, `authAsync`) and the API
//! tokens (`createAPIToken`, `deleteAPIToken`, `getAPIToken`).

use super::args::{Args, Kind, NonBlank, Ref, StringList, Text};
use super::error::CommandError;
use super::params::{FromArgs, COUNT_U64};
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
