//! Parsing commands from JSON: every method in its id and structure forms, each refusal rule,
//! and hostile JSON.

use jetstream_engine::command::{
    parse, parse_str, Command, ObjectId, Source, FILETYPE_REGULAR_FILE, METHODS,
};
use jetstream_engine::error::{Code, Error};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const DEST: &str = "0123456789abcdef0123456789abcdef";
const MANIFEST: &str = "fedcba9876543210fedcba9876543210";
const TOKEN: &str = "00112233445566778899aabbccddeeff";

/// One valid parameter object per method, ids given alone.
fn valid_params() -> Vec<(&'static str, Value)> {
    vec![
        (
            "createDestination",
            json!({ "destinationAddress": "receiver01", "sendRateMax": 1000, "destinationPort": 8886,
                    "authenticateDestination": true, "destinationPublicKey": "key",
                    "relayAddress": "relay", "relayPort": 9000, "senderPort": -1,
                    "exclusive": false, "permanent": true }),
        ),
        (
            "createManifest",
            json!({ "mappings": { "/project/intro.txt": "/usr/docs/readme.txt",
                                  "/storage/dest.txt": { "src": "/source.txt", "size": 100,
                                                         "flags": 4, "access": "x",
                                                         "include": ["*.mp3"], "exclude": ["*.png"] },
                                  "/project/empty": { "src": "/emptyDir" } },
                    "symlinkOptions": 3 }),
        ),
        (
            "createSharedToken",
            json!({ "manifestId": MANIFEST, "password": "pw", "downloadLimit": 3,
                    "timeLimitSeconds": 3600, "description": "d" }),
        ),
        (
            "createTransfer",
            json!({ "destinationId": DEST, "manifestId": MANIFEST, "destinationPath": "/in",
                    "userName": "alice", "password": "pw", "priority": 4294967295u64,
                    "transferFlags": 15, "checkpointFrequencySeconds": 0, "sendRateMax": 1.5,
                    "priorityLane": "High", "overwriteMode": 5, "minCipher": 3,
                    "fileTimeResolutionMicroseconds": 1000000, "timeoutSeconds": 2.5,
                    "userData": { "k": "v" }, "transferLog": true }),
        ),
        ("deleteDestination", json!({ "destinationId": DEST })),
        ("deleteManifest", json!({ "manifestId": MANIFEST })),
        ("deleteObjectUserData", json!({ "objId": 7, "key": "k" })),
        ("deleteSharedToken", json!({ "token": TOKEN })),
        ("deleteTransfer", json!({ "transferId": 7 })),
        (
            "failTransfer",
            json!({ "transferId": 7, "errorMessage": "stop" }),
        ),
        ("getConnection", json!({ "connectionId": 2 })),
        ("getConnections", json!({ "limit": 0 })),
        ("getDestination", json!({ "destinationId": DEST })),
        ("getDestinations", json!({})),
        ("getManifest", json!({ "manifestId": MANIFEST })),
        (
            "getManifestFiles",
            json!({ "manifestId": MANIFEST, "limit": 10 }),
        ),
        (
            "getManifests",
            json!({ "before": MANIFEST, "after": MANIFEST, "limit": 5 }),
        ),
        ("getSharedToken", json!({ "token": TOKEN })),
        ("getSharedTokens", json!({ "limit": 1 })),
        (
            "getTransfer",
            json!({ "transferId": 7, "getCompleteFlags": true }),
        ),
        (
            "getTransfers",
            json!({ "destinationId": DEST, "before": 9, "after": 1, "limit": 3 }),
        ),
        (
            "getTransferFiles",
            json!({ "transferId": 7, "after": 0, "limit": 3 }),
        ),
        ("resumeTransferAsync", json!({ "transferId": 7 })),
        (
            "schedulePingAsync",
            json!({ "destinationId": DEST, "pingCount": 1 }),
        ),
        (
            "setPriorityLanesAsync",
            json!({ "destinationId": DEST,
                    "priorityLanes": { "High": 0.7, "Normal": 0.25, "Low": 0.05, "Idle": 0.0 } }),
        ),
        (
            "setSendRateMaxAsync",
            json!({ "destinationId": DEST, "sendRateMax": 750000 }),
        ),
        (
            "setTransferPriorityAsync",
            json!({ "transferId": 7, "priority": 0, "priorityLane": "Low" }),
        ),
        (
            "setTransferSendRateMaxAsync",
            json!({ "transferId": 7, "sendRateMax": -1 }),
        ),
        ("suspendTransferAsync", json!({ "transferId": 7 })),
        (
            "updateConnectionParamsAsync",
            json!({ "connectionId": 2, "sendRateMin": 10, "sendRateMax": 100, "sendRate": 50,
                    "rateControlEnabled": false, "rateControlMethod": 1 }),
        ),
        (
            "updateObjectUserData",
            json!({ "objId": DEST, "key": "k", "value": "v" }),
        ),
        (
            "updateSharedToken",
            json!({ "token": TOKEN, "timeLimitSeconds": 60, "description": "d" }),
        ),
        (
            "updateTransferDefaults",
            json!({ "destinationId": DEST, "priority": 5, "transferFlags": 3,
                    "checkpointFrequencySeconds": 30, "sendRateMax": 100, "priorityLane": "Normal",
                    "overwriteMode": 0, "minCipher": 0, "fileTimeResolutionMicroseconds": 0 }),
        ),
        ("waitForManifest", json!({ "manifestId": MANIFEST })),
        ("waitForTransfer", json!({ "transferId": 7 })),
        ("getRequestStatus", json!({ "requestId": 3 })),
        (
            "getRequestResult",
            json!({ "requestId": 3, "timeoutSeconds": 10 }),
        ),
        ("getSourcesAsync", json!({ "limit": 4 })),
        ("getTransfersAsync", json!({})),
        (
            "addAuthorizedClientAsync",
            json!({ "clientPublicKey": "abc" }),
        ),
        (
            "removeAuthorizedClientAsync",
            json!({ "clientPublicKey": "abc" }),
        ),
        (
            "allowOnlyAuthorizedClientsAsync",
            json!({ "onlyAuthorizedClientsAllowed": true }),
        ),
        ("getServerInfo", json!({})),
        ("auth", json!({ "userName": "ann", "password": "pw" })),
        ("authAsync", json!({ "userName": "ann", "password": "" })),
        (
            "authToken",
            json!({ "token": "0123456789abcdef0123456789abcdef", "password": "pw" }),
        ),
        (
            "createDownload",
            json!({ "destinationPort": 8886, "destinationAddress": "holder",
                    "destinationPublicKey": "key", "destinationPath": "in" }),
        ),
        (
            "createAPIToken",
            json!({ "description": "d", "sandboxPath": "/in", "permissions": ["send", "admin"],
                    "timeLimitSeconds": 60 }),
        ),
        ("deleteAPIToken", json!({ "token": TOKEN })),
        ("getAPIToken", json!({ "token": TOKEN })),
        ("getAPITokens", json!({ "limit": 2 })),
        ("echo", json!({ "value": { "a": [1, "b", null] } })),
        ("getEventLog", json!({ "limit": 10, "after": 4 })),
        (
            "updateBandwidthLimits",
            json!({ "incomingKbps": 1000, "outgoingKbps": null }),
        ),
        ("garbageCollect", json!({})),
        ("lsAsync", json!({ "path": "a/b" })),
        ("lsListAsync", json!({ "paths": ["a", "b/c"] })),
        ("lsRootsAsync", json!({})),
        ("duAsync", json!({ "path": "" })),
        ("mkdirAsync", json!({ "path": "a/b" })),
        ("mkFileAsync", json!({ "path": "a/f", "content": "x" })),
        ("mvAsync", json!({ "src": "a/f", "dst": "b/f" })),
        ("getSandboxMappings", json!({})),
        (
            "createSandboxMapping",
            json!({ "userName": "ann", "path": "users/%u" }),
        ),
        ("deleteSandboxMapping", json!({ "name": "ann" })),
    ]
}

/// The structure a "(str, dict)" / "(int, dict)" parameter `key` of `method` may be given as.
fn structure(method: &str, key: &str, id: &Value) -> Option<Value> {
    let field = match key {
        // An API token's structure names it by its id.
        "token" if method.ends_with("APIToken") => "tokenId",
        "destinationId" | "manifestId" | "transferId" | "connectionId" | "requestId" | "token" => {
            key
        }
        "before" | "after" if method == "getManifests" => "manifestId",
        "after" if method == "getEventLog" => "eventId",
        "after" if method == "getTransferFiles" => "fileIndex",
        "before" | "after" => "transferId",
        _ => return None,
    };
    // Structures hold more than their id; the extra fields are ignored.
    Some(json!({ field: id, "status": "complete", "userData": {} }))
}

/// `params` with every id given as its structure.
fn structure_form(method: &str, params: &Value) -> Value {
    let Value::Object(map) = params else {
        unreachable!("parameters are objects")
    };
    let map: Map<String, Value> = map
        .iter()
        .map(|(key, value)| {
            let value = structure(method, key, value).unwrap_or_else(|| value.clone());
            (key.clone(), value)
        })
        .collect();
    Value::Object(map)
}

fn command(method: &str, params: Value) -> Value {
    json!({ "method": method, "params": params })
}

fn parse_ok(method: &str, params: Value) -> Command {
    let json = command(method, params);
    parse(&json).unwrap_or_else(|e| panic!("{json} refused: {e}"))
}

/// Asserts `json` is refused with INVALID_ARGUMENT and a message naming every one of `names`.
fn assert_refused(json: &Value, names: &[&str]) -> Error {
    let err = parse(json).expect_err(&format!("{json} accepted"));
    assert_eq!(err.code, Code::InvalidArgument, "{json}: {err}");
    for name in names {
        assert!(
            err.message.contains(name),
            "{json}: {:?} lacks {name}",
            err.message
        );
    }
    err
}

/// Asserts `method` with `params` is refused naming `param` (and the method).
fn refused(method: &str, params: Value, param: &str) {
    assert_refused(&command(method, params), &[method, param]);
}

/// `params` of `method` from the valid table with `key` set to `value` (removed when `None`).
fn with(method: &str, key: &str, value: Option<Value>) -> Value {
    let mut params = valid_params()
        .into_iter()
        .find(|(name, _)| *name == method)
        .map(|(_, params)| params)
        .expect("method in the table");
    let map = params.as_object_mut().expect("parameters are objects");
    match value {
        Some(value) => map.insert(key.into(), value),
        None => map.remove(key),
    };
    params
}

#[test]
fn the_table_covers_every_method() {
    let mut table: Vec<&str> = valid_params().iter().map(|(method, _)| *method).collect();
    let mut methods = METHODS.to_vec();
    table.sort_unstable();
    methods.sort_unstable();
    assert_eq!(table, methods);
    assert_eq!(METHODS.len(), 65);
}

#[test]
fn every_method_parses_and_names_itself() {
    for (method, params) in valid_params() {
        let parsed = parse_ok(method, params);
        assert_eq!(parsed.method(), method);
    }
}

#[test]
fn every_method_parses_from_the_structure_form_to_the_same_command() {
    for (method, params) in valid_params() {
        let structured = structure_form(method, &params);
        let by_id = parse_ok(method, params);
        let by_structure = parse_ok(method, structured);
        assert_eq!(by_id, by_structure, "{method}");
    }
}

#[test]
fn commands_serialize_back_to_the_form_they_parse_from() {
    for (method, params) in valid_params() {
        let parsed = parse_ok(method, params);
        let json = serde_json::to_value(&parsed).expect("commands serialize");
        assert_eq!(json["method"], method);
        assert_eq!(parse(&json).expect("serialized form parses"), parsed);
    }
}

#[test]
fn parse_str_reads_text_and_refuses_what_is_not_json() {
    let parsed = parse_str(r#"{"method":"getTransfer","params":{"transferId":{"transferId":9}}}"#)
        .expect("valid command");
    let Command::GetTransfer(params) = parsed else {
        panic!("wrong variant {parsed:?}")
    };
    assert_eq!(params.transfer_id, 9);
    assert_eq!(params.get_complete_flags, None);
    let err = parse_str("{\"method\":").expect_err("truncated JSON");
    assert_eq!(err.code, Code::InvalidArgument);
}

#[test]
fn parse_str_refuses_a_key_named_twice() {
    let lanes = r#"{"method":"setPriorityLanesAsync","params":{"destinationId":"0123456789abcdef0123456789abcdef","priorityLanes":{"A":0.5,"A":0.5,"B":0.5}}}"#;
    let err = parse_str(lanes).expect_err("lane A twice");
    assert_eq!(err.code, Code::InvalidArgument);
    assert!(
        err.message.contains("\"A\" appears twice"),
        "{}",
        err.message
    );
    let once = lanes.replace(r#""A":0.5,"A":0.5"#, r#""A":0.5"#);
    assert!(parse_str(&once).is_ok());
}

#[test]
fn async_methods_are_those_queued() {
    let asynchronous: Vec<&str> = valid_params()
        .into_iter()
        .map(|(method, params)| parse_ok(method, params))
        .filter(Command::is_async)
        .map(|command| command.method())
        .collect();
    assert_eq!(asynchronous.len(), 21, "{asynchronous:?}");
    assert!(asynchronous.contains(&"setPriorityLanesAsync"));
    assert!(!asynchronous.contains(&"getRequestResult"));
    assert!(!asynchronous.contains(&"createTransfer"));
}

#[test]
fn optional_parameters_may_be_null_or_absent() {
    let absent = parse_ok(
        "createTransfer",
        json!({ "destinationId": DEST, "manifestId": MANIFEST }),
    );
    let null = parse_ok(
        "createTransfer",
        json!({ "destinationId": DEST, "manifestId": MANIFEST, "priority": null, "token": null }),
    );
    assert_eq!(absent, null);
    let Command::CreateTransfer(params) = absent else {
        panic!("wrong variant")
    };
    assert_eq!(params.settings.priority, None);
    assert_eq!(params.transfer_log, None);
    // A method without parameters may leave `params` out.
    let info = parse(&json!({ "method": "getServerInfo" })).expect("no params needed");
    assert_eq!(info.method(), "getServerInfo");
}

#[test]
fn integral_floats_count_as_integers() {
    let parsed = parse_ok("getTransfer", json!({ "transferId": 7.0 }));
    assert_eq!(parsed, parse_ok("getTransfer", json!({ "transferId": 7 })));
    refused("getTransfer", json!({ "transferId": 7.5 }), "transferId");
}

#[test]
fn object_ids_keep_what_kind_of_object_was_named() {
    let cases = [
        (json!(DEST), ObjectId::Text(DEST.into())),
        (json!(12), ObjectId::Transfer(12)),
        (
            json!({ "transferId": 12, "destinationId": DEST, "manifestId": MANIFEST }),
            ObjectId::Transfer(12),
        ),
        (
            json!({ "token": TOKEN, "manifestId": MANIFEST }),
            ObjectId::Token(TOKEN.into()),
        ),
        (
            json!({ "destinationId": DEST, "connectionId": 1 }),
            ObjectId::Destination(DEST.into()),
        ),
        (
            json!({ "manifestId": MANIFEST }),
            ObjectId::Manifest(MANIFEST.into()),
        ),
    ];
    for (obj_id, expected) in cases {
        let parsed = parse_ok(
            "deleteObjectUserData",
            json!({ "objId": obj_id, "key": "k" }),
        );
        let Command::DeleteObjectUserData(params) = parsed else {
            panic!("wrong variant")
        };
        assert_eq!(params.obj_id, expected);
    }
}

#[test]
fn manifest_mappings_are_typed() {
    let Command::CreateManifest(params) =
        parse_ok("createManifest", with("createManifest", "x", None))
    else {
        panic!("wrong variant")
    };
    let mappings = params.mappings.expect("mappings given");
    assert_eq!(
        mappings["/project/intro.txt"],
        Source::Path("/usr/docs/readme.txt".into())
    );
    let Source::Entry(entry) = &mappings["/storage/dest.txt"] else {
        panic!("entry expected")
    };
    assert_eq!(entry.size, Some(100));
    assert_eq!(entry.flags, Some(FILETYPE_REGULAR_FILE));
    assert_eq!(entry.include.as_deref(), Some(&["*.mp3".to_owned()][..]));
    let Source::Entry(empty_dir) = &mappings["/project/empty"] else {
        panic!("entry expected")
    };
    assert_eq!((empty_dir.size, empty_dir.flags), (None, None));

    let deprecated = parse_ok(
        "createManifest",
        json!({ "fileMappings": { "/src/a": "/a" } }),
    );
    let Command::CreateManifest(params) = deprecated else {
        panic!("wrong variant")
    };
    assert_eq!(params.file_mappings.expect("given")["/src/a"], "/a");
}

#[test]
fn priority_lanes_keep_every_lane_and_share() {
    let Command::SetPriorityLanesAsync(params) = parse_ok(
        "setPriorityLanesAsync",
        with("setPriorityLanesAsync", "x", None),
    ) else {
        panic!("wrong variant")
    };
    let mut lanes = params.priority_lanes.0;
    lanes.sort_by(|a, b| a.0.cmp(&b.0));
    let expected = [
        ("High", 0.7),
        ("Idle", 0.0),
        ("Low", 0.05),
        ("Normal", 0.25),
    ];
    assert_eq!(lanes.len(), expected.len());
    for ((name, share), (want_name, want_share)) in lanes.iter().zip(expected) {
        assert_eq!((name.as_str(), *share), (want_name, want_share));
    }
    // Floating-point sums within the tolerance are accepted.
    parse_ok(
        "setPriorityLanesAsync",
        json!({ "destinationId": DEST, "priorityLanes": { "a": 0.1, "b": 0.2, "c": 0.7 } }),
    );
}

#[test]
fn malformed_commands_are_refused() {
    for json in [
        json!([]),
        json!("getServerInfo"),
        json!({ "params": {} }),
        json!({ "method": 5, "params": {} }),
        json!({ "method": "getServerInfo", "params": [] }),
        json!({ "method": "getServerInfo", "params": {}, "id": 1 }),
    ] {
        assert_refused(&json, &[]);
    }
    assert_refused(&command("sendEverything", json!({})), &["sendEverything"]);
}

#[test]
fn unknown_and_missing_parameters_are_named() {
    refused(
        "createTransfer",
        with("createTransfer", "bogusOption", Some(json!(1))),
        "bogusOption",
    );
    refused("getServerInfo", json!({ "verbose": true }), "verbose");
    refused(
        "createTransfer",
        with("createTransfer", "manifestId", None),
        "manifestId",
    );
    refused(
        "createTransfer",
        with("createTransfer", "destinationId", Some(Value::Null)),
        "destinationId",
    );
    refused("createDestination", json!({}), "destinationAddress");
    refused(
        "setSendRateMaxAsync",
        json!({ "destinationId": DEST }),
        "sendRateMax",
    );
    refused(
        "schedulePingAsync",
        json!({ "destinationId": DEST }),
        "pingCount",
    );
    refused(
        "allowOnlyAuthorizedClientsAsync",
        json!({}),
        "onlyAuthorizedClientsAllowed",
    );
}

#[test]
fn recv_parameters_take_the_vendor_names_and_the_older_ones() {
    let cases = [
        (
            "addAuthorizedClientAsync",
            "clientPublicKey",
            "publicKey",
            json!("abc"),
        ),
        (
            "removeAuthorizedClientAsync",
            "clientPublicKey",
            "publicKey",
            json!("abc"),
        ),
        (
            "allowOnlyAuthorizedClientsAsync",
            "onlyAuthorizedClientsAllowed",
            "enabled",
            json!(false),
        ),
    ];
    for (method, name, alias, value) in cases {
        let vendor = parse_ok(method, json!({ (name): value }));
        let older = parse_ok(method, json!({ (alias): value }));
        assert_eq!(vendor, older, "{method}");
        // Serialized, a command uses the vendor's name.
        let json = serde_json::to_value(&older).expect("commands serialize");
        assert_eq!(json["params"][name], value, "{method}: {json}");
        refused(method, json!({ (name): value, (alias): value }), alias);
        refused(method, json!({ (alias): 7 }), alias);
    }
    let Command::AllowOnlyAuthorizedClientsAsync(params) = parse_ok(
        "allowOnlyAuthorizedClientsAsync",
        json!({ "enabled": true }),
    ) else {
        panic!("wrong variant")
    };
    assert!(params.only_authorized_clients_allowed);
}

#[test]
fn wrong_types_are_named() {
    let cases = [
        ("createTransfer", "priority", json!("high")),
        ("createTransfer", "transferLog", json!("yes")),
        ("createTransfer", "userData", json!({ "k": 1 })),
        ("createTransfer", "userData", json!(["k"])),
        ("createTransfer", "destinationPath", json!(3)),
        ("createTransfer", "sendRateMax", json!("fast")),
        ("createDestination", "destinationAddress", json!(5)),
        ("createDestination", "exclusive", json!(1)),
        ("createSharedToken", "password", json!(false)),
        ("updateObjectUserData", "value", json!(1)),
        ("updateObjectUserData", "key", json!(null)),
        ("getTransfer", "transferId", json!("7")),
        ("getTransfer", "getCompleteFlags", json!("true")),
    ];
    for (method, param, value) in cases {
        refused(method, with(method, param, Some(value)), param);
    }
}

#[test]
fn out_of_range_integers_and_numbers_are_named() {
    let cases = [
        ("createTransfer", "priority", json!(-1)),
        ("createTransfer", "priority", json!(4294967296u64)),
        ("createTransfer", "transferFlags", json!(16)),
        ("createTransfer", "transferFlags", json!(-1)),
        ("createTransfer", "overwriteMode", json!(6)),
        ("createTransfer", "minCipher", json!(4)),
        ("createTransfer", "checkpointFrequencySeconds", json!(-1)),
        (
            "createTransfer",
            "fileTimeResolutionMicroseconds",
            json!(-1),
        ),
        ("createTransfer", "timeoutSeconds", json!(-0.5)),
        ("createTransfer", "sendRateMax", json!(-1)),
        ("createDestination", "destinationPort", json!(65536)),
        ("createDestination", "relayPort", json!(-1)),
        ("createDestination", "senderPort", json!(-2)),
        ("createDestination", "senderPort", json!(65536)),
        ("createDestination", "sendRateMax", json!(-3)),
        ("createManifest", "symlinkOptions", json!(5)),
        ("createSharedToken", "downloadLimit", json!(-1)),
        ("createSharedToken", "timeLimitSeconds", json!(-1)),
        ("updateSharedToken", "timeLimitSeconds", json!(-1)),
        ("getConnections", "limit", json!(-1)),
        ("getManifestFiles", "limit", json!(-1)),
        ("getTransfers", "limit", json!(1.5)),
        ("getTransferFiles", "after", json!(-1)),
        ("schedulePingAsync", "pingCount", json!(0)),
        ("setSendRateMaxAsync", "sendRateMax", json!(-1)),
        ("setTransferSendRateMaxAsync", "sendRateMax", json!(-2)),
        ("setTransferPriorityAsync", "priority", json!(-1)),
        ("updateConnectionParamsAsync", "sendRate", json!(-1)),
        ("updateTransferDefaults", "overwriteMode", json!(-1)),
        ("updateTransferDefaults", "minCipher", json!(99)),
        ("getRequestResult", "timeoutSeconds", json!(-1)),
    ];
    for (method, param, value) in cases {
        refused(method, with(method, param, Some(value)), param);
    }
}

#[test]
fn ids_and_structures_without_ids_are_named() {
    let cases = [
        ("getDestination", "destinationId", json!("")),
        (
            "getDestination",
            "destinationId",
            json!({ "destinationAddress": "receiver01" }),
        ),
        (
            "getDestination",
            "destinationId",
            json!({ "destinationId": 5 }),
        ),
        ("getManifest", "manifestId", json!({})),
        ("getSharedToken", "token", json!("  ")),
        ("getTransfer", "transferId", json!(0)),
        (
            "getTransfer",
            "transferId",
            json!({ "destinationId": DEST }),
        ),
        ("getConnection", "connectionId", json!(-1)),
        ("getRequestStatus", "requestId", json!({ "requestId": 0 })),
        ("getTransfers", "before", json!("x")),
        ("getManifests", "after", json!(3)),
        ("updateObjectUserData", "objId", json!("")),
        ("updateObjectUserData", "objId", json!(0)),
        (
            "updateObjectUserData",
            "objId",
            json!({ "status": "complete" }),
        ),
        (
            "updateObjectUserData",
            "objId",
            json!({ "transferId": "x" }),
        ),
        ("deleteObjectUserData", "objId", json!([1])),
    ];
    for (method, param, value) in cases {
        refused(method, with(method, param, Some(value)), param);
    }
}

#[test]
fn manifest_mapping_rules_are_enforced() {
    let manifest = |params: Value| command("createManifest", params);
    assert_refused(&manifest(json!({})), &["mappings", "fileMappings"]);
    assert_refused(
        &manifest(json!({ "mappings": { "/a": "/b" }, "fileMappings": { "/b": "/a" } })),
        &["mappings", "fileMappings"],
    );
    let entry = |fields: Value| manifest(json!({ "mappings": { "/dest": fields } }));
    let cases = [
        (json!({ "src": "/s", "flags": 3 }), "flags"),
        (json!({ "src": "/s", "access": "rw" }), "access"),
        (json!({ "src": "/s", "include": [1] }), "include"),
        (json!({ "src": "/s", "exclude": "*.png" }), "exclude"),
        (json!({ "src": "/s", "size": -1 }), "size"),
        (json!({ "src": "/s", "mode": 644 }), "mode"),
        (json!({ "size": 10 }), "src"),
        (json!(5), "mappings"),
        (json!(""), "mappings"),
    ];
    for (fields, param) in cases {
        let err = assert_refused(&entry(fields), &["createManifest", param]);
        assert!(err.message.contains("/dest"), "{}", err.message);
    }
    assert_refused(&manifest(json!({ "mappings": ["/a"] })), &["mappings"]);
    assert_refused(
        &manifest(json!({ "mappings": { "": "/a" } })),
        &["mappings"],
    );
    assert_refused(
        &manifest(json!({ "fileMappings": { "/a": 1 } })),
        &["fileMappings"],
    );
}

#[test]
fn priority_lane_rules_are_enforced() {
    for lanes in [
        json!({}),
        json!([["High", 1.0]]),
        json!({ " ": 1.0 }),
        json!({ "High": 1.5, "Low": -0.5 }),
        json!({ "High": "all" }),
        json!({ "High": 0.5, "Low": 0.4 }),
        json!({ "High": 1.0, "Idle": 0.0, "Spare": 0.0 }),
    ] {
        refused(
            "setPriorityLanesAsync",
            json!({ "destinationId": DEST, "priorityLanes": lanes }),
            "priorityLanes",
        );
    }
}

#[test]
fn parameters_that_exclude_each_other_are_named() {
    let both = with("createTransfer", "token", Some(json!(TOKEN)));
    assert_refused(
        &command("createTransfer", both),
        &["createTransfer", "userName", "token"],
    );
    let no_key = with("createDestination", "destinationPublicKey", None);
    assert_refused(
        &command("createDestination", no_key),
        &["authenticateDestination", "destinationPublicKey"],
    );
    let inverted = with(
        "updateConnectionParamsAsync",
        "sendRateMin",
        Some(json!(1000)),
    );
    assert_refused(
        &command("updateConnectionParamsAsync", inverted),
        &["sendRateMin", "sendRateMax"],
    );
}

/// Arbitrary JSON, nested a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Parameter names of the API, so generated commands get past the unknown-name check.
const NAMES: &[&str] = &[
    "destinationId",
    "manifestId",
    "transferId",
    "connectionId",
    "requestId",
    "token",
    "objId",
    "key",
    "value",
    "limit",
    "before",
    "after",
    "priority",
    "priorityLane",
    "priorityLanes",
    "mappings",
    "fileMappings",
    "symlinkOptions",
    "sendRateMax",
    "pingCount",
    "userName",
    "destinationAddress",
    "destinationPort",
    "senderPort",
    "transferFlags",
    "timeoutSeconds",
];

/// Commands for real methods with plausible parameter names and arbitrary values.
fn near_valid() -> impl Strategy<Value = Value> {
    let params = prop::collection::btree_map(prop::sample::select(NAMES), any_json(), 0..5);
    (prop::sample::select(METHODS), params).prop_map(|(method, params)| {
        let params: Map<String, Value> =
            params.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        command(method, Value::Object(params))
    })
}

proptest! {
    #[test]
    fn arbitrary_json_is_parsed_or_refused_as_invalid_argument(json in prop_oneof![any_json(), near_valid()]) {
        match parse(&json) {
            Ok(parsed) => {
                // Whatever is accepted reads back the same from its serialized form.
                let again = serde_json::to_value(&parsed).expect("commands serialize");
                prop_assert_eq!(parse(&again).expect("serialized form parses"), parsed);
            }
            Err(err) => prop_assert_eq!(err.code, Code::InvalidArgument),
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,64}") {
        if let Err(err) = parse_str(&text) {
            prop_assert_eq!(err.code, Code::InvalidArgument);
        }
    }
}

#[test]
fn bandwidth_limits_tell_a_cap_left_out_from_one_removed() {
    use jetstream_engine::command::UpdateBandwidthLimits;
    let parsed = |params: Value| match parse_ok("updateBandwidthLimits", params) {
        Command::UpdateBandwidthLimits(p) => p,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        parsed(json!({ "outgoingKbps": 800 })),
        UpdateBandwidthLimits {
            incoming_kbps: None,
            outgoing_kbps: Some(Some(800.0)),
        }
    );
    assert_eq!(
        parsed(json!({ "incomingKbps": null })),
        UpdateBandwidthLimits {
            incoming_kbps: Some(None),
            outgoing_kbps: None,
        }
    );
    for bad in [json!(-1), json!("fast"), json!(true)] {
        refused(
            "updateBandwidthLimits",
            json!({ "outgoingKbps": bad }),
            "outgoingKbps",
        );
    }
    assert_refused(
        &command("updateBandwidthLimits", json!({ "incomingKbps": 0 })),
        &["updateBandwidthLimits", "above 0"],
    );
}

#[test]
fn echo_returns_any_json_and_file_operations_need_their_paths() {
    match parse_ok("echo", json!({ "value": [1, { "x": null }] })) {
        Command::Echo(p) => assert_eq!(p.value, json!([1, { "x": null }])),
        other => panic!("{other:?}"),
    }
    refused("echo", json!({}), "value");
    refused("lsAsync", json!({}), "path");
    refused("lsListAsync", json!({ "paths": "a" }), "paths");
    refused("mvAsync", json!({ "src": "a" }), "dst");
    refused(
        "mkFileAsync",
        json!({ "path": "f", "content": 3 }),
        "content",
    );
    refused("deleteSandboxMapping", json!({ "name": " " }), "name");
}
