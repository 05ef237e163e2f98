//! `jetstream api`: runs one API method on a server through its control port and prints the
//! JSON result. The method is named `interface.method` (or just `method`); its parameters come
//! as `--name=value` options (a value is read as JSON when it is JSON, else as a string) or as
//! one JSON object.

use crate::control_port::{self, ControlArgs};
use clap::Args;
use jetstream_engine::error::{Code, Error};
use serde_json::{Map, Value};

/// The interfaces a method may be named under.
const INTERFACES: [&str; 3] = ["send", "recv", "server"];

#[derive(Args)]
pub struct ApiArgs {
    /// The server's host.
    #[arg(long, default_value = "localhost")]
    host: String,
    /// The server's control port.
    #[arg(long, default_value_t = 8886)]
    api_control_port: u16,
    #[command(flatten)]
    control: ControlArgs,
    /// The method, as interface.method (send.createDestination) or method.
    method: String,
    /// The parameters: --name=value (or --name value) options, or one JSON object.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    params: Vec<String>,
}

/// Runs the method and prints its result.
pub async fn run(args: ApiArgs) -> Result<(), Error> {
    let method = method(&args.method)?;
    let params = params(&args.params)?;
    let client = control_port::connect(&args.host, args.api_control_port, &args.control).await?;
    let result = client.execute(method, Value::Object(params)).await?;
    let text = serde_json::to_string_pretty(&result)
        .map_err(|e| Error::new(Code::Internal, e.to_string()))?;
    println!("{text}");
    Ok(())
}

/// The method of `interface.method` or `method`.
fn method(name: &str) -> Result<&str, Error> {
    match name.split_once('.') {
        None => Ok(name),
        Some((interface, method)) if INTERFACES.contains(&interface) => Ok(method),
        Some((interface, _)) => Err(Error::new(
            Code::InvalidArgument,
            format!(
                "{name}: unknown interface {interface} (one of {})",
                INTERFACES.join(", ")
            ),
        )),
    }
}

/// The parameters given on the command line.
fn params(args: &[String]) -> Result<Map<String, Value>, Error> {
    let invalid = |why: String| Error::new(Code::InvalidArgument, why);
    if let [only] = args {
        if !only.starts_with("--") {
            return match serde_json::from_str(only) {
                Ok(Value::Object(params)) => Ok(params),
                _ => Err(invalid(format!(
                    "{only}: the parameters are --name=value options or one JSON object"
                ))),
            };
        }
    }
    let mut params = Map::new();
    let mut rest = args.iter().peekable();
    while let Some(arg) = rest.next() {
        let Some(option) = arg.strip_prefix("--").filter(|o| !o.is_empty()) else {
            return Err(invalid(format!(
                "{arg}: expected --name=value (the parameters are options or one JSON object)"
            )));
        };
        let (name, value) = match option.split_once('=') {
            Some((name, value)) => (name, value.to_owned()),
            None => match rest.next_if(|next| !next.starts_with("--")) {
                Some(value) => (option, value.clone()),
                None => (option, "true".to_owned()),
            },
        };
        let value = serde_json::from_str(&value).unwrap_or(Value::String(value));
        if params.insert(name.to_owned(), value).is_some() {
            return Err(invalid(format!("--{name} is given twice")));
        }
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn options_are_json_when_they_parse_and_strings_otherwise() {
        let got = params(&strings(&[
            "--destinationAddress=127.0.0.1",
            "--destinationPort=9000",
            "--permanent",
            "--mappings",
            r#"{"/a":"/b"}"#,
            "--description=",
        ]))
        .unwrap();
        assert_eq!(
            Value::Object(got),
            json!({ "destinationAddress": "127.0.0.1", "destinationPort": 9000,
                    "permanent": true, "mappings": { "/a": "/b" }, "description": "" })
        );
        let json = params(&strings(&[r#"{"limit": 3}"#])).unwrap();
        assert_eq!(Value::Object(json), json!({ "limit": 3 }));
        assert!(params(&strings(&["[1]"])).is_err());
        assert!(params(&strings(&["--a=1", "--a=2"])).is_err());
        assert!(params(&strings(&["--a=1", "loose"])).is_err());
    }

    #[test]
    fn a_method_is_named_alone_or_under_its_interface() {
        assert_eq!(
            method("send.createDestination").unwrap(),
            "createDestination"
        );
        assert_eq!(method("getServerInfo").unwrap(), "getServerInfo");
        assert_eq!(method("nope.x").unwrap_err().code, Code::InvalidArgument);
    }
}
