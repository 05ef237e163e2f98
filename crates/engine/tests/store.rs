//! The object store: every operation round-trips, ids are never reused, deletes cascade, and
//! everything survives a reopen of the same file.

use jetstream_engine::command::Permission;
use jetstream_engine::store::{
    verify_password, CheckMemory, Checkpoint, ConnectionState, ConnectionUpdate, DestinationParams,
    DestinationUpdate, DownloadCheck, FileOutcome, ManifestFile, ManifestStatus, NewApiToken,
    NewConnection, NewToken, NewTransfer, ObjectRef, Page, PriorityLanes, RequestStatus, Store,
    StoreError, TransferDefaults, TransferFile, TransferFileStatus, TransferParams,
    TransferProgress, TransferStatus, TransferUpdate, UserData, REQUEST_KEEP_COUNT,
    REQUEST_KEEP_MICROS, SCHEMA_VERSION,
};
use jetstream_wire::ranges::RangeSet;
use serde_json::json;
use std::path::PathBuf;
use tempfile::TempDir;

const T0: i64 = 1_700_000_000_000_000;

fn temp_store() -> (TempDir, PathBuf, Store) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = Store::open(&path).unwrap();
    (dir, path, store)
}

fn new_destination(address: &str) -> DestinationParams {
    DestinationParams {
        destination_address: address.to_owned(),
        destination_port: 8886,
        send_rate_max: Some(50_000.0),
        sender_port: 0,
        relay_address: None,
        relay_port: None,
        authenticate_destination: false,
        destination_public_key: None,
        exclusive: false,
        permanent: false,
    }
}

fn new_connection() -> NewConnection {
    NewConnection {
        destination_ip: "192.0.2.7".to_owned(),
        destination_port: 8886,
        relay_ip: None,
        relay_port: None,
        send_rate: 1000.0,
        send_rate_min: 10.0,
        send_rate_max: Some(1e6),
        rate_controller_active: true,
        rate_control_method: 0,
    }
}

fn params() -> TransferParams {
    TransferParams {
        destination_path: Some("/in".to_owned()),
        priority: 5,
        priority_lane: "High".to_owned(),
        send_rate_max: Some(750_000.5),
        overwrite_mode: 4,
        transfer_flags: 3 | 4,
        min_cipher: 3,
        checkpoint_frequency_seconds: 30,
        file_time_resolution_microseconds: 2_000_000,
        timeout_seconds: 12.5,
        user_name: Some("alice".to_owned()),
        uses_token: false,
        transfer_log: true,
        skip_mode: 2,
    }
}

fn new_transfer(destination: &str, manifest: &str) -> NewTransfer {
    NewTransfer {
        destination_id: destination.to_owned(),
        manifest_id: manifest.to_owned(),
        params: params(),
        block_size: 256,
        user_data: UserData::from([("job".to_owned(), "nightly".to_owned())]),
        request_time: T0,
    }
}

fn file(i: usize) -> ManifestFile {
    ManifestFile {
        src_path: format!("/src/dir{}/file{i}.bin", i % 17),
        dest_path: format!("dir{}/file{i}.bin", i % 17),
        file_size: i as u64 * 1000,
        is_empty_dir: i.is_multiple_of(101),
        executable: i.is_multiple_of(3),
        modification_time: (!i.is_multiple_of(5)).then_some(T0 + i as i64),
    }
}

fn ranges(pairs: &[(u64, u64)]) -> RangeSet {
    pairs.iter().map(|&(start, end)| start..end).collect()
}

/// A destination, a manifest and a transfer between them.
fn destination_manifest_transfer(store: &mut Store) -> (String, String, u64) {
    let destination = store
        .insert_destination(&new_destination("receiver01"))
        .unwrap();
    let manifest = store.insert_manifest(0, T0).unwrap();
    let transfer = store
        .insert_transfer(&new_transfer(
            &destination.destination_id,
            &manifest.manifest_id,
        ))
        .unwrap();
    (
        destination.destination_id,
        manifest.manifest_id,
        transfer.transfer_id,
    )
}

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::NotFound { what: found, .. }) => assert_eq!(found, what),
        other => panic!("expected {what} not found, got {other:?}"),
    }
}

fn is_hex_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[test]
fn store_is_send() {
    fn send<T: Send>() {}
    send::<Store>();
}

#[test]
fn open_sets_up_wal_schema_and_foreign_keys() {
    let (_dir, path, mut store) = temp_store();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    destination_manifest_transfer(&mut store);
    let raw = rusqlite::Connection::open(&path).unwrap();
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn newer_schema_is_refused() {
    let (_dir, path, store) = temp_store();
    drop(store);
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(raw);
    match Store::open(&path) {
        Err(StoreError::UnknownSchema { found, supported }) => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("expected UnknownSchema, got {other:?}"),
    }
}

#[test]
fn destinations_round_trip() {
    let mut store = Store::open_in_memory().unwrap();
    let mut new = new_destination("receiver01");
    new.relay_address = Some("relay.example".to_owned());
    new.relay_port = Some(9000);
    new.authenticate_destination = true;
    new.destination_public_key = Some("pk1".to_owned());
    new.sender_port = -1;
    new.permanent = true;
    let created = store.insert_destination(&new).unwrap();
    assert!(is_hex_id(&created.destination_id));
    assert_eq!(created.params, new);
    assert_eq!(created.params.destination_address, "receiver01");
    assert_eq!(created.params.send_rate_max, Some(50_000.0));
    assert_eq!(
        created.encrypted_connection_state,
        ConnectionState::Disconnected
    );
    assert_eq!(created.priority_lanes, PriorityLanes::default());
    assert_eq!(created.transfer_defaults, TransferDefaults::default());
    assert_eq!(created.num_transfers_queued, 0);
    assert_eq!(
        store.get_destination(&created.destination_id).unwrap(),
        created
    );

    let connection = store.insert_connection(&new_connection()).unwrap();
    let lanes = PriorityLanes(vec![
        ("Bulk".to_owned(), 0.1),
        ("Urgent".to_owned(), 0.9),
        ("Idle".to_owned(), 0.0),
    ]);
    let changes = DestinationUpdate {
        send_rate_max: Some(None),
        destination_ip: Some(Some("192.0.2.7".to_owned())),
        connection_id: Some(Some(connection.connection_id)),
        encrypted_connection_state: Some(ConnectionState::Connected),
        last_error: Some(Some("TIMED_OUT".to_owned())),
        last_error_message: Some(Some("no answer for 10 s".to_owned())),
        last_recv_time: Some(T0 + 1),
        last_send_time: Some(T0 + 2),
        last_destination_server_id: Some("server-9".to_owned()),
        last_receiver_destination_id: Some("dest-3".to_owned()),
        round_trip_time_ms: Some(12.25),
        priority_lanes: Some(lanes.clone()),
        transfer_defaults: None,
    };
    store
        .update_destination(&created.destination_id, &changes)
        .unwrap();
    let updated = store.get_destination(&created.destination_id).unwrap();
    assert_eq!(updated.params.send_rate_max, None);
    assert_eq!(updated.destination_ip.as_deref(), Some("192.0.2.7"));
    assert_eq!(updated.connection_id, Some(connection.connection_id));
    assert_eq!(
        updated.encrypted_connection_state,
        ConnectionState::Connected
    );
    assert_eq!(updated.last_error.as_deref(), Some("TIMED_OUT"));
    assert_eq!(
        updated.last_error_message.as_deref(),
        Some("no answer for 10 s")
    );
    assert_eq!(updated.last_recv_time, Some(T0 + 1));
    assert_eq!(updated.last_send_time, Some(T0 + 2));
    assert_eq!(
        updated.last_destination_server_id.as_deref(),
        Some("server-9")
    );
    assert_eq!(
        updated.last_receiver_destination_id.as_deref(),
        Some("dest-3")
    );
    assert_eq!(updated.round_trip_time_ms, Some(12.25));
    assert_eq!(updated.priority_lanes, lanes);
    // Untouched fields stay.
    assert_eq!(updated.params.relay_address, created.params.relay_address);

    // Clearing a nullable field.
    store
        .update_destination(
            &created.destination_id,
            &DestinationUpdate {
                last_error: Some(None),
                ..DestinationUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(
        store
            .get_destination(&created.destination_id)
            .unwrap()
            .last_error,
        None
    );

    // Transfer defaults merge field by field.
    let first = TransferDefaults {
        priority: Some(7),
        priority_lane: Some("Bulk".to_owned()),
        ..TransferDefaults::default()
    };
    store
        .merge_transfer_defaults(&created.destination_id, &first)
        .unwrap();
    let second = TransferDefaults {
        priority: Some(9),
        min_cipher: Some(2),
        file_time_resolution_microseconds: Some(1),
        ..TransferDefaults::default()
    };
    let merged = store
        .merge_transfer_defaults(&created.destination_id, &second)
        .unwrap();
    let expected = TransferDefaults {
        priority: Some(9),
        priority_lane: Some("Bulk".to_owned()),
        min_cipher: Some(2),
        file_time_resolution_microseconds: Some(1),
        ..TransferDefaults::default()
    };
    assert_eq!(merged, expected);
    assert_eq!(
        store
            .get_destination(&created.destination_id)
            .unwrap()
            .transfer_defaults,
        expected
    );

    store.delete_destination(&created.destination_id).unwrap();
    assert_not_found(
        store.get_destination(&created.destination_id),
        "destination",
    );
    assert_not_found(
        store.delete_destination(&created.destination_id),
        "destination",
    );
}

#[test]
fn destinations_list_in_creation_order_with_limit() {
    let mut store = Store::open_in_memory().unwrap();
    let ids: Vec<String> = (0..5)
        .map(|i| {
            store
                .insert_destination(&new_destination(&format!("host{i}")))
                .unwrap()
                .destination_id
        })
        .collect();
    let all: Vec<String> = store
        .list_destinations(None)
        .unwrap()
        .into_iter()
        .map(|d| d.destination_id)
        .collect();
    assert_eq!(all, ids);
    let two: Vec<String> = store
        .list_destinations(Some(2))
        .unwrap()
        .into_iter()
        .map(|d| d.destination_id)
        .collect();
    assert_eq!(two, ids[..2]);
}

#[test]
fn matching_destination_respects_every_key_setting() {
    let mut store = Store::open_in_memory().unwrap();
    let mut exclusive = new_destination("receiver01");
    exclusive.exclusive = true;
    store.insert_destination(&exclusive).unwrap();
    let plain = new_destination("receiver01");
    assert_eq!(store.find_matching_destination(&plain).unwrap(), None);

    let shared = store.insert_destination(&plain).unwrap();
    let mut other_rate = plain.clone();
    other_rate.send_rate_max = Some(1.0);
    other_rate.sender_port = 5000;
    assert_eq!(
        store.find_matching_destination(&other_rate).unwrap(),
        Some(shared.clone())
    );

    let mut variants = Vec::new();
    let mut v = plain.clone();
    v.destination_port = 8887;
    variants.push(v);
    let mut v = plain.clone();
    v.destination_address = "receiver02".to_owned();
    variants.push(v);
    let mut v = plain.clone();
    v.relay_address = Some("relay".to_owned());
    v.relay_port = Some(1);
    variants.push(v);
    let mut v = plain.clone();
    v.authenticate_destination = true;
    variants.push(v);
    let mut v = plain.clone();
    v.destination_public_key = Some("pk".to_owned());
    variants.push(v);
    for variant in &variants {
        assert_eq!(store.find_matching_destination(variant).unwrap(), None);
    }
    let with_relay = store.insert_destination(&variants[2]).unwrap();
    assert_eq!(
        store.find_matching_destination(&variants[2]).unwrap(),
        Some(with_relay)
    );
}

#[test]
fn connections_round_trip() {
    let mut store = Store::open_in_memory().unwrap();
    let created = store.insert_connection(&new_connection()).unwrap();
    assert!(created.connection_id > 0);
    assert_eq!(created.destination_ip, "192.0.2.7");
    assert_eq!(created.send_rate, 1000.0);
    assert_eq!(created.send_rate_min, 10.0);
    assert_eq!(created.send_rate_max, Some(1e6));
    assert!(created.rate_controller_active);
    assert_eq!(created.bytes_sent, 0);
    assert_eq!(
        store.get_connection(created.connection_id).unwrap(),
        created
    );

    let changes = ConnectionUpdate {
        send_rate: Some(2000.0),
        send_rate_min: Some(100.0),
        send_rate_max: Some(None),
        rate_controller_active: Some(false),
        rate_control_method: Some(2),
        measured_rate: Some(500_000.0),
        measured_min_rtt_ms: Some(300.0),
        measured_loss_rate: Some(0.05),
        round_trip_time_ms: Some(40.5),
        loss_rate: Some(0.01),
        bytes_sent: Some(1 << 40),
        packets_sent: Some(123_456),
        encrypted_connection_state: Some(ConnectionState::Negotiating),
        last_recv_time: Some(T0 + 5),
        last_send_time: Some(T0 + 6),
    };
    store
        .update_connection(created.connection_id, &changes)
        .unwrap();
    let updated = store.get_connection(created.connection_id).unwrap();
    assert_eq!(updated.send_rate, 2000.0);
    assert_eq!(updated.send_rate_min, 100.0);
    assert_eq!(updated.send_rate_max, None);
    assert!(!updated.rate_controller_active);
    assert_eq!(updated.rate_control_method, 2);
    // What a transfer measured of the path comes back as rate control takes it.
    let memory = updated.path_memory().expect("figures stored");
    assert_eq!(memory.bandwidth, 62_500_000);
    assert_eq!(memory.min_rtt, std::time::Duration::from_millis(300));
    assert_eq!(memory.loss, 0.05);
    assert_eq!(created.path_memory(), None);
    assert_eq!(updated.round_trip_time_ms, Some(40.5));
    assert_eq!(updated.loss_rate, 0.01);
    assert_eq!(updated.bytes_sent, 1 << 40);
    assert_eq!(updated.packets_sent, 123_456);
    assert_eq!(
        updated.encrypted_connection_state,
        ConnectionState::Negotiating
    );
    assert_eq!(updated.last_recv_time, Some(T0 + 5));
    assert_eq!(updated.last_send_time, Some(T0 + 6));

    let mut relayed = new_connection();
    relayed.relay_ip = Some("198.51.100.1".to_owned());
    relayed.relay_port = Some(7000);
    let relayed = store.insert_connection(&relayed).unwrap();
    assert_eq!(
        store
            .find_connection("192.0.2.7", 8886, None, None)
            .unwrap()
            .map(|c| c.connection_id),
        Some(created.connection_id)
    );
    assert_eq!(
        store
            .find_connection("192.0.2.7", 8886, Some("198.51.100.1"), Some(7000))
            .unwrap()
            .map(|c| c.connection_id),
        Some(relayed.connection_id)
    );
    assert_eq!(
        store
            .find_connection("192.0.2.8", 8886, None, None)
            .unwrap(),
        None
    );
    let listed: Vec<u64> = store
        .list_connections(None)
        .unwrap()
        .iter()
        .map(|c| c.connection_id)
        .collect();
    assert_eq!(listed, [created.connection_id, relayed.connection_id]);
    assert_eq!(store.list_connections(Some(1)).unwrap().len(), 1);

    // Queued transfers are counted through the destinations using the connection.
    let (destination, _, transfer) = destination_manifest_transfer(&mut store);
    store
        .update_destination(
            &destination,
            &DestinationUpdate {
                connection_id: Some(Some(created.connection_id)),
                ..DestinationUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(
        store
            .get_connection(created.connection_id)
            .unwrap()
            .num_transfers_queued,
        1
    );
    store
        .set_transfer_status(transfer, TransferStatus::Suspended, None, T0)
        .unwrap();
    assert_eq!(
        store
            .get_connection(created.connection_id)
            .unwrap()
            .num_transfers_queued,
        0
    );

    // Deleting a connection detaches its destinations.
    store.delete_connection(created.connection_id).unwrap();
    assert_not_found(store.get_connection(created.connection_id), "connection");
    assert_eq!(
        store.get_destination(&destination).unwrap().connection_id,
        None
    );
}

#[test]
fn manifests_round_trip() {
    let mut store = Store::open_in_memory().unwrap();
    let created = store.insert_manifest(3, T0).unwrap();
    assert!(is_hex_id(&created.manifest_id));
    assert_eq!(created.status, ManifestStatus::Pending);
    assert!(created.processing);
    assert_eq!(created.symlink_options, 3);
    assert_eq!(created.creation_time, T0);
    assert_eq!((created.total_files, created.total_size), (0, 0));

    let files: Vec<ManifestFile> = (0..10).map(file).collect();
    store
        .append_manifest_files(&created.manifest_id, &files[..4])
        .unwrap();
    store
        .append_manifest_files(&created.manifest_id, &files[4..])
        .unwrap();
    let read = store.manifest_files(&created.manifest_id, None).unwrap();
    assert_eq!(read.manifest_id, created.manifest_id);
    assert_eq!(read.file_mappings, files);
    assert_eq!(
        store
            .manifest_files(&created.manifest_id, Some(3))
            .unwrap()
            .file_mappings,
        files[..3]
    );

    store
        .complete_manifest(&created.manifest_id, 10, 45_000)
        .unwrap();
    let complete = store.get_manifest(&created.manifest_id).unwrap();
    assert_eq!(complete.status, ManifestStatus::Complete);
    assert!(!complete.processing);
    assert_eq!((complete.total_files, complete.total_size), (10, 45_000));

    let failed = store.insert_manifest(0, T0 + 1).unwrap();
    store
        .fail_manifest(&failed.manifest_id, "permission denied: /src/secret")
        .unwrap();
    let failed = store.get_manifest(&failed.manifest_id).unwrap();
    assert_eq!(failed.status, ManifestStatus::Error);
    assert!(!failed.processing);
    assert_eq!(
        failed.error_message.as_deref(),
        Some("permission denied: /src/secret")
    );

    store.delete_manifest(&created.manifest_id).unwrap();
    assert_not_found(store.get_manifest(&created.manifest_id), "manifest");
    assert_not_found(store.manifest_files(&created.manifest_id, None), "manifest");
    assert_not_found(
        store.append_manifest_files(&created.manifest_id, &files),
        "manifest",
    );
    assert_not_found(store.delete_manifest(&created.manifest_id), "manifest");
}

#[test]
fn manifests_page_by_creation_order() {
    let mut store = Store::open_in_memory().unwrap();
    let ids: Vec<String> = (0..6)
        .map(|i| store.insert_manifest(0, T0 + i).unwrap().manifest_id)
        .collect();
    let page = |store: &Store, page: Page<&str>| -> Vec<String> {
        store
            .list_manifests(&page)
            .unwrap()
            .into_iter()
            .map(|m| m.manifest_id)
            .collect()
    };
    assert_eq!(page(&store, Page::default()), ids);
    let after = Page {
        after: Some(ids[1].as_str()),
        limit: Some(2),
        ..Page::default()
    };
    assert_eq!(page(&store, after), ids[2..4]);
    let before = Page {
        before: Some(ids[4].as_str()),
        limit: Some(2),
        ..Page::default()
    };
    assert_eq!(page(&store, before), ids[2..4]);
    let between = Page {
        after: Some(ids[0].as_str()),
        before: Some(ids[5].as_str()),
        limit: None,
    };
    assert_eq!(page(&store, between), ids[1..5]);
    let unknown = Page {
        after: Some("00000000000000000000000000000000"),
        ..Page::default()
    };
    assert_not_found(store.list_manifests(&unknown), "manifest");
}

#[test]
fn hundred_thousand_manifest_entries_in_order() {
    let (_dir, path, mut store) = temp_store();
    let manifest = store.insert_manifest(0, T0).unwrap().manifest_id;
    let files: Vec<ManifestFile> = (0..100_000).map(file).collect();
    let started = std::time::Instant::now();
    store.append_manifest_files(&manifest, &files).unwrap();
    // Reported, not asserted: the machine may be busy.
    eprintln!(
        "100,000 manifest entries inserted in {:?}",
        started.elapsed()
    );
    let read = store.manifest_files(&manifest, None).unwrap();
    assert_eq!(read.file_mappings.len(), 100_000);
    assert!(
        read.file_mappings == files,
        "entries differ from what was written"
    );
    drop(store);
    let store = Store::open(&path).unwrap();
    assert!(store.manifest_files(&manifest, None).unwrap().file_mappings == files);
}

#[test]
fn transfers_round_trip() {
    let mut store = Store::open_in_memory().unwrap();
    let (destination, manifest, id) = destination_manifest_transfer(&mut store);
    let transfer = store.get_transfer(id, false).unwrap();
    assert!(id > 0);
    assert_eq!(transfer.transfer_id, id);
    assert_eq!(transfer.destination_id, destination);
    assert_eq!(transfer.manifest_id, manifest);
    assert_eq!(transfer.params, params());
    assert_eq!(transfer.status, TransferStatus::Pending);
    assert!(transfer.processing);
    assert_eq!(transfer.block_size, 256);
    assert_eq!(transfer.progress, TransferProgress::default());
    assert_eq!(transfer.request_time, T0);
    assert_eq!(transfer.queue_time, Some(T0));
    assert_eq!((transfer.start_time, transfer.end_time), (None, None));
    assert_eq!(transfer.user_data["job"], "nightly");
    assert_eq!(transfer.complete_flags, None);
    assert_eq!(
        store
            .get_destination(&destination)
            .unwrap()
            .num_transfers_queued,
        1
    );

    store
        .update_transfer(
            id,
            &TransferUpdate {
                priority: Some(u32::MAX),
                priority_lane: Some("Low".to_owned()),
                send_rate_max: Some(None),
                cipher: Some(Some(3)),
            },
        )
        .unwrap();
    let updated = store.get_transfer(id, false).unwrap();
    assert_eq!(updated.params.priority, u32::MAX);
    assert_eq!(updated.params.priority_lane, "Low");
    assert_eq!(updated.params.send_rate_max, None);
    assert_eq!(updated.cipher, Some(3));

    let progress = TransferProgress {
        total_files: 10,
        files_complete: 4,
        files_skipped: 3,
        bytes_skipped: 1 << 20,
        total_bytes: 1 << 33,
        total_blocks: (1 << 33) / 256,
        bytes_sent: 1 << 32,
        bytes_acked: 1 << 31,
        blocks_sent: (1 << 32) / 256,
        blocks_acked: (1 << 31) / 256,
        blocks_retransmitted: 77,
        packets_sent: 3_000_000,
        packets_recv: 40_000,
        send_rate: 9_400_000.5,
        reconnects: 3,
        last_error: Some("TIMED_OUT: receiver stopped answering".into()),
    };
    store.update_transfer_progress(id, &progress).unwrap();
    assert_eq!(store.get_transfer(id, false).unwrap().progress, progress);

    store.delete_transfer(id).unwrap();
    assert_not_found(store.get_transfer(id, false), "transfer");
    assert_not_found(store.delete_transfer(id), "transfer");
}

#[test]
fn transfer_status_changes_stamp_times() {
    let mut store = Store::open_in_memory().unwrap();
    let (_, _, id) = destination_manifest_transfer(&mut store);
    store
        .set_transfer_status(id, TransferStatus::Sending, None, T0 + 10)
        .unwrap();
    store
        .set_transfer_status(id, TransferStatus::Suspended, None, T0 + 20)
        .unwrap();
    let suspended = store.get_transfer(id, false).unwrap();
    assert_eq!(suspended.status, TransferStatus::Suspended);
    assert!(!suspended.processing);
    assert_eq!(suspended.start_time, Some(T0 + 10));

    store
        .set_transfer_status(id, TransferStatus::Resuming, None, T0 + 30)
        .unwrap();
    store
        .set_transfer_status(id, TransferStatus::Sending, None, T0 + 40)
        .unwrap();
    let resumed = store.get_transfer(id, false).unwrap();
    assert!(resumed.processing);
    assert_eq!(resumed.queue_time, Some(T0 + 30));
    assert_eq!(
        resumed.start_time,
        Some(T0 + 10),
        "start time is the first start"
    );
    assert_eq!(resumed.end_time, None);

    store
        .set_transfer_status(
            id,
            TransferStatus::Error,
            Some("cancelled by user"),
            T0 + 50,
        )
        .unwrap();
    let failed = store.get_transfer(id, false).unwrap();
    assert_eq!(failed.status, TransferStatus::Error);
    assert_eq!(failed.error_message.as_deref(), Some("cancelled by user"));
    assert_eq!(failed.end_time, Some(T0 + 50));
    assert_not_found(
        store.set_transfer_status(id + 1, TransferStatus::Complete, None, T0),
        "transfer",
    );
}

#[test]
fn transfers_list_by_destination_and_page() {
    let mut store = Store::open_in_memory().unwrap();
    let (first, manifest, t0) = destination_manifest_transfer(&mut store);
    let second = store
        .insert_destination(&new_destination("receiver02"))
        .unwrap()
        .destination_id;
    let mut ids = vec![t0];
    let mut first_ids = vec![t0];
    for i in 0..6 {
        let destination = if i % 2 == 0 { &second } else { &first };
        let id = store
            .insert_transfer(&new_transfer(destination, &manifest))
            .unwrap()
            .transfer_id;
        ids.push(id);
        if destination == &first {
            first_ids.push(id);
        }
    }
    let list = |store: &Store, destination: Option<&str>, page: Page<u64>| -> Vec<u64> {
        store
            .list_transfers(destination, &page)
            .unwrap()
            .into_iter()
            .map(|t| t.transfer_id)
            .collect()
    };
    assert_eq!(list(&store, None, Page::default()), ids);
    assert_eq!(list(&store, Some(&first), Page::default()), first_ids);
    let after = Page {
        after: Some(ids[2]),
        limit: Some(3),
        ..Page::default()
    };
    assert_eq!(list(&store, None, after), ids[3..6]);
    let before = Page {
        before: Some(ids[5]),
        limit: Some(2),
        ..Page::default()
    };
    assert_eq!(list(&store, None, before), ids[3..5]);
    let first_before_last = Page {
        before: Some(*first_ids.last().unwrap()),
        ..Page::default()
    };
    assert_eq!(
        list(&store, Some(&first), first_before_last),
        first_ids[..first_ids.len() - 1]
    );
    assert_not_found(
        store.list_transfers(Some("ffffffffffffffffffffffffffffffff"), &Page::default()),
        "destination",
    );
}

#[test]
fn transfer_needs_its_destination_and_manifest() {
    let mut store = Store::open_in_memory().unwrap();
    let (destination, manifest, _) = destination_manifest_transfer(&mut store);
    assert_not_found(
        store.insert_transfer(&new_transfer("00000000000000000000000000000000", &manifest)),
        "destination",
    );
    assert_not_found(
        store.insert_transfer(&new_transfer(
            &destination,
            "00000000000000000000000000000000",
        )),
        "manifest",
    );
}

#[test]
fn deleting_a_manifest_keeps_its_transfers() {
    let mut store = Store::open_in_memory().unwrap();
    let (_, manifest, id) = destination_manifest_transfer(&mut store);
    store.delete_manifest(&manifest).unwrap();
    assert_eq!(store.get_transfer(id, false).unwrap().manifest_id, manifest);
}

#[test]
fn acknowledged_ranges_and_complete_flags_round_trip() {
    let (_dir, path, mut store) = temp_store();
    let (_, _, id) = destination_manifest_transfer(&mut store);
    assert_eq!(
        store.transfer_checkpoint(id).unwrap(),
        Checkpoint::default()
    );

    let checkpoint = Checkpoint {
        acked: ranges(&[
            (0, 1 << 20),
            ((1 << 20) + 256, 3 << 20),
            (u64::MAX - 10, u64::MAX),
        ]),
        complete_files: ranges(&[(0, 3), (5, 6)]),
    };
    let progress = TransferProgress {
        total_files: 8,
        files_complete: 4,
        bytes_acked: 3 << 20,
        ..TransferProgress::default()
    };
    store
        .save_transfer_checkpoint(id, &progress, &checkpoint)
        .unwrap();
    drop(store);

    let store = Store::open(&path).unwrap();
    assert_eq!(store.transfer_checkpoint(id).unwrap(), checkpoint);
    let transfer = store.get_transfer(id, true).unwrap();
    assert_eq!(transfer.progress, progress);
    assert_eq!(
        transfer.complete_flags,
        Some(vec![true, true, true, false, false, true, false, false])
    );
    assert_not_found(store.transfer_checkpoint(id + 1), "transfer");
}

#[test]
fn transfer_files_are_added_once_recorded_in_batches_and_paged() {
    let (_dir, path, mut store) = temp_store();
    let (destination, manifest, id) = destination_manifest_transfer(&mut store);
    let files: Vec<ManifestFile> = (0..5).map(file).collect();
    store.append_manifest_files(&manifest, &files).unwrap();
    assert_eq!(store.transfer_files(id, None, None).unwrap(), []);
    store.insert_transfer_files(id).unwrap();
    let digest = [7u8; 32];
    let outcomes = [
        FileOutcome {
            index: 1,
            status: TransferFileStatus::Complete,
            digest: Some(digest),
            error_message: None,
            time: T0 + 1,
        },
        FileOutcome {
            index: 3,
            status: TransferFileStatus::Error,
            digest: None,
            error_message: Some("no room".to_owned()),
            time: T0 + 2,
        },
    ];
    store.save_transfer_files(id, &outcomes).unwrap();
    // Added again (a restarted transfer): the results stay.
    store.insert_transfer_files(id).unwrap();
    drop(store);

    let mut store = Store::open(&path).unwrap();
    let listed = store.transfer_files(id, None, None).unwrap();
    assert_eq!(listed.len(), 5);
    for (i, (row, source)) in listed.iter().zip(&files).enumerate() {
        assert_eq!(row.transfer_id, id);
        assert_eq!(row.file_index, i as u64);
        assert_eq!(
            (
                &row.src_path,
                &row.dest_path,
                row.file_size,
                row.is_empty_dir
            ),
            (
                &source.src_path,
                &source.dest_path,
                source.file_size,
                source.is_empty_dir
            )
        );
    }
    let outcome = |row: &TransferFile| {
        (
            row.status,
            row.digest.clone(),
            row.error_message.clone(),
            row.end_time,
        )
    };
    assert_eq!(
        listed.iter().map(outcome).collect::<Vec<_>>(),
        [
            (TransferFileStatus::Pending, None, None, None),
            (
                TransferFileStatus::Complete,
                Some("07".repeat(32)),
                None,
                Some(T0 + 1)
            ),
            (TransferFileStatus::Pending, None, None, None),
            (
                TransferFileStatus::Error,
                None,
                Some("no room".to_owned()),
                Some(T0 + 2)
            ),
            (TransferFileStatus::Pending, None, None, None),
        ]
    );
    assert_eq!(
        store.transfer_files(id, Some(1), Some(2)).unwrap(),
        listed[2..4]
    );
    assert_eq!(store.transfer_files(id, Some(4), None).unwrap(), []);
    assert_not_found(store.transfer_files(id + 1, None, None), "transfer");
    assert_not_found(store.insert_transfer_files(id + 1), "transfer");

    // They go with their transfer, and with its destination.
    store.delete_destination(&destination).unwrap();
    let raw = rusqlite::Connection::open(&path).unwrap();
    let rows: i64 = raw
        .query_row("SELECT COUNT(*) FROM transfer_files", [], |row| row.get(0))
        .unwrap();
    assert_eq!(rows, 0);
}

#[test]
fn corrupt_stored_ranges_are_an_error_not_a_panic() {
    let (_dir, path, mut store) = temp_store();
    let (_, _, id) = destination_manifest_transfer(&mut store);
    drop(store);
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute(
        "UPDATE transfers SET acked_ranges = x'ffffffffffffffffffffff', complete_files = x'80'",
        [],
    )
    .unwrap();
    drop(raw);
    let store = Store::open(&path).unwrap();
    assert!(matches!(
        store.transfer_checkpoint(id),
        Err(StoreError::Sqlite(_))
    ));
    assert!(matches!(
        store.get_transfer(id, true),
        Err(StoreError::Sqlite(_))
    ));
    // The rest of the record still reads.
    assert_eq!(store.get_transfer(id, false).unwrap().transfer_id, id);
}

#[test]
fn tokens_round_trip() {
    let mut store = Store::open_in_memory().unwrap();
    let manifest = store.insert_manifest(0, T0).unwrap().manifest_id;
    let new = NewToken {
        manifest_id: manifest.clone(),
        download_limit: Some(2),
        time_limit_seconds: Some(3600),
        description: Some("weekly drop".to_owned()),
    };
    let token = store.insert_token(&new, Some("s3cret!"), T0).unwrap();
    assert!(is_hex_id(&token.token));
    assert_eq!(token.manifest_id, manifest);
    assert_eq!(token.description.as_deref(), Some("weekly drop"));
    assert!(token.password_required);
    assert_eq!(token.download_limit, Some(2));
    assert_eq!(token.download_count, 0);
    assert_eq!(token.creation_time, T0);
    assert_eq!(token.expiry_time, Some(T0 + 3_600_000_000));
    assert_eq!(store.get_token(&token.token).unwrap(), token);

    let secret = store.token_secret(&token.token).unwrap();
    assert!(secret.opens(Some("s3cret!")));
    assert!(!secret.opens(Some("s3cret")));
    assert!(!secret.opens(None));

    let open = store
        .insert_token(
            &NewToken {
                manifest_id: manifest.clone(),
                ..NewToken::default()
            },
            None,
            T0,
        )
        .unwrap();
    assert!(!open.password_required);
    assert_eq!((open.download_limit, open.expiry_time), (None, None));
    assert!(store.token_secret(&open.token).unwrap().opens(None));
    assert_eq!(
        store
            .list_tokens(None)
            .unwrap()
            .iter()
            .map(|t| t.token.as_str())
            .collect::<Vec<_>>(),
        [token.token.as_str(), open.token.as_str()]
    );
    assert_eq!(store.list_tokens(Some(1)).unwrap().len(), 1);

    store
        .update_token(&token.token, Some(60), Some("renamed"), T0 + 1_000_000)
        .unwrap();
    let updated = store.get_token(&token.token).unwrap();
    assert_eq!(updated.expiry_time, Some(T0 + 61_000_000));
    assert_eq!(updated.description.as_deref(), Some("renamed"));
    store.update_token(&token.token, None, None, T0).unwrap();
    assert_eq!(store.get_token(&token.token).unwrap(), updated);

    assert_eq!(
        store.count_token_download(&token.token, T0 + 2).unwrap(),
        DownloadCheck::Counted { download_count: 1 }
    );
    assert_eq!(
        store.count_token_download(&token.token, T0 + 3).unwrap(),
        DownloadCheck::Counted { download_count: 2 }
    );
    assert_eq!(
        store.count_token_download(&token.token, T0 + 4).unwrap(),
        DownloadCheck::Exhausted
    );
    assert_eq!(store.get_token(&token.token).unwrap().download_count, 2);
    assert_eq!(
        store
            .count_token_download(&open.token, T0 + 61_000_000)
            .unwrap(),
        DownloadCheck::Counted { download_count: 1 }
    );

    let expiring = store
        .insert_token(
            &NewToken {
                manifest_id: manifest.clone(),
                time_limit_seconds: Some(1),
                ..NewToken::default()
            },
            None,
            T0,
        )
        .unwrap();
    assert_eq!(
        store
            .count_token_download(&expiring.token, T0 + 1_000_000)
            .unwrap(),
        DownloadCheck::Expired
    );
    assert_eq!(store.get_token(&expiring.token).unwrap().download_count, 0);

    store.delete_token(&token.token).unwrap();
    assert_not_found(store.get_token(&token.token), "shared token");
    assert_not_found(store.delete_token(&token.token), "shared token");
    assert_not_found(store.token_secret(&token.token), "shared token");
    assert_not_found(store.count_token_download(&token.token, T0), "shared token");
    assert_not_found(
        store.insert_token(
            &NewToken {
                manifest_id: "00000000000000000000000000000000".to_owned(),
                ..NewToken::default()
            },
            None,
            T0,
        ),
        "manifest",
    );

    // A manifest takes its tokens with it.
    store.delete_manifest(&manifest).unwrap();
    assert_not_found(store.get_token(&open.token), "shared token");
}

#[test]
fn token_password_is_not_stored_in_clear() {
    let (dir, path, mut store) = temp_store();
    let manifest = store.insert_manifest(0, T0).unwrap().manifest_id;
    let password = "Correct-Horse-Battery-Staple-4217";
    let new = NewToken {
        manifest_id: manifest,
        ..NewToken::default()
    };
    let token = store.insert_token(&new, Some(password), T0).unwrap();
    drop(store);
    // Every file of the database (main file, WAL, shared memory) is free of the password.
    let mut checked = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes
            .windows(password.len())
            .any(|w| w == password.as_bytes()));
        checked += 1;
    }
    assert!(checked >= 1);
    let store = Store::open(&path).unwrap();
    assert!(store
        .token_secret(&token.token)
        .unwrap()
        .opens(Some(password)));
    // The token string itself is stored (it is the lookup key), so the check above is real.
    let raw = std::fs::read(&path).unwrap();
    let wal = std::fs::read(path.with_extension("db-wal")).unwrap_or_default();
    let contains = |hay: &[u8]| hay.windows(32).any(|w| w == token.token.as_bytes());
    assert!(contains(&raw) || contains(&wal));
}

#[test]
fn user_data_round_trips() {
    let mut store = Store::open_in_memory().unwrap();
    let (destination, manifest, transfer) = destination_manifest_transfer(&mut store);
    let token = store
        .insert_token(
            &NewToken {
                manifest_id: manifest.clone(),
                ..NewToken::default()
            },
            None,
            T0,
        )
        .unwrap()
        .token;
    let objects = [
        ObjectRef::Destination(destination.clone()),
        ObjectRef::Manifest(manifest.clone()),
        ObjectRef::Transfer(transfer),
        ObjectRef::Token(token.clone()),
    ];
    for (i, object) in objects.iter().enumerate() {
        store.set_user_data(object, "owner", "ops").unwrap();
        store.set_user_data(object, "n", &i.to_string()).unwrap();
        store
            .set_user_data(object, "n", &(i * 10).to_string())
            .unwrap();
    }
    for (i, object) in objects.iter().enumerate() {
        let mut expected = UserData::from([
            ("owner".to_owned(), "ops".to_owned()),
            ("n".to_owned(), (i * 10).to_string()),
        ]);
        if let ObjectRef::Transfer(_) = object {
            expected.insert("job".to_owned(), "nightly".to_owned());
        }
        assert_eq!(store.user_data(object).unwrap(), expected);
    }
    // Records carry their user data.
    assert_eq!(
        store.get_destination(&destination).unwrap().user_data["n"],
        "0"
    );
    assert_eq!(store.get_manifest(&manifest).unwrap().user_data["n"], "10");
    assert_eq!(
        store.get_transfer(transfer, false).unwrap().user_data["n"],
        "20"
    );
    assert_eq!(store.get_token(&token).unwrap().user_data["n"], "30");

    store.delete_user_data(&objects[0], "owner").unwrap();
    assert_eq!(
        store.user_data(&objects[0]).unwrap(),
        UserData::from([("n".to_owned(), "0".to_owned())])
    );
    assert_not_found(
        store.delete_user_data(&objects[0], "owner"),
        "user data key",
    );

    let missing = ObjectRef::Transfer(transfer + 100);
    assert_not_found(store.set_user_data(&missing, "k", "v"), "transfer");
    assert_not_found(store.user_data(&missing), "transfer");
    assert_not_found(store.delete_user_data(&missing, "k"), "transfer");

    assert_eq!(store.resolve_object(&destination).unwrap(), objects[0]);
    assert_eq!(store.resolve_object(&manifest).unwrap(), objects[1]);
    assert_eq!(store.resolve_object(&token).unwrap(), objects[3]);
    assert_not_found(store.resolve_object("nothing-here"), "object");

    // Deleting an object deletes its user data: a new object never inherits any.
    store.delete_token(&token).unwrap();
    assert_not_found(store.user_data(&objects[3]), "shared token");
}

fn user_data_rows(path: &std::path::Path) -> i64 {
    let raw = rusqlite::Connection::open(path).unwrap();
    raw.query_row("SELECT COUNT(*) FROM user_data", [], |row| row.get(0))
        .unwrap()
}

#[test]
fn deleting_a_destination_removes_its_transfers_and_their_user_data() {
    let (_dir, path, mut store) = temp_store();
    let (destination, manifest, transfer) = destination_manifest_transfer(&mut store);
    let second = store
        .insert_transfer(&new_transfer(&destination, &manifest))
        .unwrap()
        .transfer_id;
    let other_destination = store
        .insert_destination(&new_destination("receiver02"))
        .unwrap()
        .destination_id;
    let survivor = store
        .insert_transfer(&new_transfer(&other_destination, &manifest))
        .unwrap()
        .transfer_id;
    store
        .set_user_data(&ObjectRef::Destination(destination.clone()), "k", "v")
        .unwrap();
    store
        .set_user_data(&ObjectRef::Transfer(second), "k2", "v2")
        .unwrap();
    // "job" on each of the three transfers, plus the two above.
    assert_eq!(user_data_rows(&path), 5);

    store.delete_destination(&destination).unwrap();
    assert_not_found(store.get_transfer(transfer, false), "transfer");
    assert_not_found(store.get_transfer(second, false), "transfer");
    assert_eq!(
        store
            .list_transfers(None, &Page::default())
            .unwrap()
            .iter()
            .map(|t| t.transfer_id)
            .collect::<Vec<_>>(),
        [survivor]
    );
    assert_eq!(
        user_data_rows(&path),
        1,
        "only the survivor's user data is left"
    );
    assert_eq!(
        store.user_data(&ObjectRef::Transfer(survivor)).unwrap()["job"],
        "nightly"
    );
}

#[test]
fn requests_round_trip() {
    let mut store = Store::open_in_memory().unwrap();
    let id = store.insert_request("setSendRateMaxAsync", T0).unwrap();
    let pending = store.get_request(id).unwrap();
    assert_eq!(pending.request_id, id);
    assert_eq!(pending.command, "setSendRateMaxAsync");
    assert_eq!(pending.status, RequestStatus::Pending);
    assert!(pending.processing);
    assert_eq!(pending.request_time, T0);
    assert_eq!((pending.result.clone(), pending.end_time), (None, None));

    store.start_request(id).unwrap();
    assert_eq!(
        store.get_request(id).unwrap().status,
        RequestStatus::Processing
    );
    let result = json!({ "sendRateMax": 750000.0, "nested": [1, "two", null] });
    store.complete_request(id, &result, T0 + 5).unwrap();
    let complete = store.get_request(id).unwrap();
    assert_eq!(complete.status, RequestStatus::Complete);
    assert!(!complete.processing);
    assert_eq!(complete.result, Some(result));
    assert_eq!(complete.end_time, Some(T0 + 5));

    // A result that is a bare JSON string stays a string.
    let text = store.insert_request("schedulePingAsync", T0).unwrap();
    store.complete_request(text, &json!("done"), T0).unwrap();
    assert_eq!(store.get_request(text).unwrap().result, Some(json!("done")));

    let failing = store.insert_request("resumeTransferAsync", T0).unwrap();
    assert!(failing > text && text > id);
    store
        .fail_request(failing, "INVALID_STATE", "transfer 13 is complete", T0 + 6)
        .unwrap();
    let failed = store.get_request(failing).unwrap();
    assert_eq!(failed.status, RequestStatus::Error);
    assert_eq!(failed.error_code.as_deref(), Some("INVALID_STATE"));
    assert_eq!(
        failed.error_message.as_deref(),
        Some("transfer 13 is complete")
    );
    assert_eq!(failed.result, None);

    let orphan = store.insert_request("suspendTransferAsync", T0).unwrap();
    store.start_request(orphan).unwrap();
    let queued = store.insert_request("setPriorityLanesAsync", T0).unwrap();
    assert_eq!(
        store
            .fail_unfinished_requests("UNAVAILABLE", "server restarted", T0 + 7)
            .unwrap(),
        2
    );
    for request in [orphan, queued] {
        let request = store.get_request(request).unwrap();
        assert_eq!(request.status, RequestStatus::Error);
        assert_eq!(request.error_code.as_deref(), Some("UNAVAILABLE"));
    }
    assert_eq!(
        store.get_request(id).unwrap().status,
        RequestStatus::Complete
    );

    assert_not_found(store.get_request(queued + 1), "request");
    assert_not_found(store.start_request(queued + 1), "request");
    assert_not_found(
        store.complete_request(queued + 1, &json!(null), T0),
        "request",
    );
    assert_not_found(
        store.fail_request(queued + 1, "INTERNAL", "x", T0),
        "request",
    );
}

#[test]
fn pruning_keeps_recent_and_young_requests() {
    let mut store = Store::open_in_memory().unwrap();
    let old = T0;
    let now = T0 + REQUEST_KEEP_MICROS + 1_000_000;
    let extra = 5;
    let mut ids = Vec::new();
    for i in 0..(REQUEST_KEEP_COUNT + extra) as i64 {
        let id = store.insert_request("schedulePingAsync", old + i).unwrap();
        store.complete_request(id, &json!(i), old + i).unwrap();
        ids.push(id);
    }
    let unfinished = store.insert_request("resumeTransferAsync", old).unwrap();
    let young = store.insert_request("resumeTransferAsync", now).unwrap();
    store
        .complete_request(young, &json!(null), now - 1)
        .unwrap();

    // The young one is among the most recent, so `extra + 1` old ones fall out.
    assert_eq!(store.prune_requests(now).unwrap(), extra + 1);
    for &id in &ids[..=extra] {
        assert_not_found(store.get_request(id), "request");
    }
    for &id in &ids[extra + 1..] {
        assert_eq!(
            store.get_request(id).unwrap().status,
            RequestStatus::Complete
        );
    }
    assert_eq!(
        store.get_request(unfinished).unwrap().status,
        RequestStatus::Pending
    );
    assert!(store.get_request(young).is_ok());
    assert_eq!(store.prune_requests(now).unwrap(), 0);
    // Nothing younger than the retention time goes, however many there are.
    assert_eq!(store.prune_requests(old + REQUEST_KEEP_MICROS).unwrap(), 0);
}

#[test]
fn ids_are_never_reused_after_delete_or_reopen() {
    let (_dir, path, mut store) = temp_store();
    let (destination, manifest, transfer) = destination_manifest_transfer(&mut store);
    let connection = store
        .insert_connection(&new_connection())
        .unwrap()
        .connection_id;
    let request = store.insert_request("schedulePingAsync", T0).unwrap();
    store.delete_transfer(transfer).unwrap();
    store.delete_connection(connection).unwrap();
    let next_transfer = store
        .insert_transfer(&new_transfer(&destination, &manifest))
        .unwrap()
        .transfer_id;
    assert!(next_transfer > transfer);
    store.delete_transfer(next_transfer).unwrap();
    drop(store);

    // Deleting every request (as pruning may), then reopening, still moves forward.
    let mut store = Store::open(&path).unwrap();
    store.complete_request(request, &json!(1), T0).unwrap();
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute("DELETE FROM requests", []).unwrap();
    drop(raw);
    let after_reopen = store
        .insert_transfer(&new_transfer(&destination, &manifest))
        .unwrap()
        .transfer_id;
    assert!(after_reopen > next_transfer);
    assert!(
        store
            .insert_connection(&new_connection())
            .unwrap()
            .connection_id
            > connection
    );
    assert!(store.insert_request("schedulePingAsync", T0).unwrap() > request);
    let destination_two = store
        .insert_destination(&new_destination("receiver01"))
        .unwrap()
        .destination_id;
    assert_ne!(destination_two, destination);
    assert_ne!(store.insert_manifest(0, T0).unwrap().manifest_id, manifest);
}

#[test]
fn everything_survives_a_reopen() {
    let (_dir, path, mut store) = temp_store();
    let (destination, manifest, transfer) = destination_manifest_transfer(&mut store);
    let connection = store
        .insert_connection(&new_connection())
        .unwrap()
        .connection_id;
    store
        .update_destination(
            &destination,
            &DestinationUpdate {
                connection_id: Some(Some(connection)),
                encrypted_connection_state: Some(ConnectionState::Connected),
                priority_lanes: Some(PriorityLanes(vec![("Only".to_owned(), 1.0)])),
                ..DestinationUpdate::default()
            },
        )
        .unwrap();
    store
        .update_connection(
            connection,
            &ConnectionUpdate {
                encrypted_connection_state: Some(ConnectionState::Connected),
                bytes_sent: Some(99),
                ..ConnectionUpdate::default()
            },
        )
        .unwrap();
    store
        .merge_transfer_defaults(
            &destination,
            &TransferDefaults {
                overwrite_mode: Some(5),
                ..TransferDefaults::default()
            },
        )
        .unwrap();
    store
        .append_manifest_files(&manifest, &(0..50).map(file).collect::<Vec<_>>())
        .unwrap();
    store.complete_manifest(&manifest, 50, 1_225_000).unwrap();
    store
        .set_transfer_status(transfer, TransferStatus::Sending, None, T0 + 1)
        .unwrap();
    store
        .save_transfer_checkpoint(
            transfer,
            &TransferProgress {
                total_files: 50,
                files_complete: 2,
                ..TransferProgress::default()
            },
            &Checkpoint {
                acked: ranges(&[(0, 4096)]),
                complete_files: ranges(&[(0, 2)]),
            },
        )
        .unwrap();
    let token = store
        .insert_token(
            &NewToken {
                manifest_id: manifest.clone(),
                download_limit: Some(3),
                ..NewToken::default()
            },
            Some("pw"),
            T0,
        )
        .unwrap()
        .token;
    store
        .set_user_data(&ObjectRef::Token(token.clone()), "who", "partner")
        .unwrap();
    let request = store
        .insert_request("setTransferPriorityAsync", T0)
        .unwrap();
    store
        .complete_request(request, &json!({ "transferId": transfer }), T0 + 2)
        .unwrap();

    let mut destinations = store.list_destinations(None).unwrap();
    let mut connections = store.list_connections(None).unwrap();
    let manifests = store.list_manifests(&Page::default()).unwrap();
    let files = store.manifest_files(&manifest, None).unwrap();
    let transfers = store.get_transfer(transfer, true).unwrap();
    let checkpoint = store.transfer_checkpoint(transfer).unwrap();
    let tokens = store.list_tokens(None).unwrap();
    let requests = store.get_request(request).unwrap();
    drop(store);

    let store = Store::open(&path).unwrap();
    // Nothing is connected after a restart.
    destinations[0].encrypted_connection_state = ConnectionState::Disconnected;
    connections[0].encrypted_connection_state = ConnectionState::Disconnected;
    assert_eq!(store.list_destinations(None).unwrap(), destinations);
    assert_eq!(store.list_connections(None).unwrap(), connections);
    assert_eq!(store.list_manifests(&Page::default()).unwrap(), manifests);
    assert_eq!(store.manifest_files(&manifest, None).unwrap(), files);
    assert_eq!(store.get_transfer(transfer, true).unwrap(), transfers);
    assert_eq!(store.transfer_checkpoint(transfer).unwrap(), checkpoint);
    assert_eq!(store.list_tokens(None).unwrap(), tokens);
    assert!(store.token_secret(&token).unwrap().opens(Some("pw")));
    assert_eq!(store.get_request(request).unwrap(), requests);
    assert_eq!(destinations[0].priority_lanes.0, [("Only".to_owned(), 1.0)]);
    assert_eq!(tokens[0].user_data["who"], "partner");
}

#[test]
fn not_found_for_unknown_ids() {
    let mut store = Store::open_in_memory().unwrap();
    let hex = "0123456789abcdef0123456789abcdef";
    assert_not_found(store.get_destination(hex), "destination");
    assert_not_found(
        store.update_destination(hex, &DestinationUpdate::default()),
        "destination",
    );
    assert_not_found(
        store.merge_transfer_defaults(hex, &TransferDefaults::default()),
        "destination",
    );
    assert_not_found(store.delete_destination(hex), "destination");
    assert_not_found(store.get_connection(7), "connection");
    assert_not_found(
        store.update_connection(7, &ConnectionUpdate::default()),
        "connection",
    );
    assert_not_found(store.delete_connection(7), "connection");
    assert_not_found(store.get_manifest(hex), "manifest");
    assert_not_found(store.complete_manifest(hex, 0, 0), "manifest");
    assert_not_found(store.fail_manifest(hex, "x"), "manifest");
    assert_not_found(store.get_transfer(7, true), "transfer");
    assert_not_found(
        store.update_transfer(7, &TransferUpdate::default()),
        "transfer",
    );
    assert_not_found(
        store.update_transfer_progress(7, &TransferProgress::default()),
        "transfer",
    );
    assert_not_found(
        store.save_transfer_checkpoint(7, &TransferProgress::default(), &Checkpoint::default()),
        "transfer",
    );
    assert_not_found(store.get_token(hex), "shared token");
    assert_not_found(store.update_token(hex, Some(1), None, T0), "shared token");
    assert_not_found(
        store.user_data(&ObjectRef::Manifest(hex.to_owned())),
        "manifest",
    );
    assert_not_found(
        store.set_user_data(&ObjectRef::Destination(hex.to_owned()), "k", "v"),
        "destination",
    );
    assert_not_found(store.get_request(7), "request");
}

#[test]
fn records_serialize_with_api_names() {
    let mut store = Store::open_in_memory().unwrap();
    let (destination, manifest, transfer) = destination_manifest_transfer(&mut store);
    let destination = store.get_destination(&destination).unwrap();
    // Lanes keep their order (a `Value` would sort the keys, so check the text).
    assert_eq!(
        serde_json::to_string(&destination.priority_lanes).unwrap(),
        r#"{"High":0.7,"Normal":0.25,"Low":0.05,"Idle":0.0}"#
    );
    let destination = serde_json::to_value(destination).unwrap();
    assert_eq!(destination["destinationAddress"], "receiver01");
    assert_eq!(destination["destinationIP"], serde_json::Value::Null);
    assert_eq!(destination["encryptedConnectionState"], "disconnected");
    assert_eq!(destination["numTransfersQueued"], 1);
    assert_eq!(destination["priorityLanes"]["Low"], 0.05);
    assert!(destination["transferDefaults"].is_object());

    let transfer = serde_json::to_value(store.get_transfer(transfer, true).unwrap()).unwrap();
    for key in [
        "transferId",
        "destinationPath",
        "priority",
        "priorityLane",
        "sendRateMax",
        "fileTimeResolutionMicroseconds",
        "bytesAcked",
        "blocksRetransmitted",
        "packetsRecv",
        "queueTime",
        "completeFlags",
        "userData",
    ] {
        assert!(transfer.get(key).is_some(), "transfer lacks {key}");
    }
    assert_eq!(transfer["status"], "pending");
    assert_eq!(transfer["processing"], true);
    assert_eq!(transfer["startTime"], serde_json::Value::Null);
    assert!(transfer.get("password").is_none());

    let manifest = serde_json::to_value(store.get_manifest(&manifest).unwrap()).unwrap();
    assert_eq!(manifest["status"], "pending");
    assert_eq!(manifest["symlinkOptions"], 0);
    let connection =
        serde_json::to_value(store.insert_connection(&new_connection()).unwrap()).unwrap();
    assert_eq!(connection["destinationIP"], "192.0.2.7");
    assert_eq!(connection["relayIP"], serde_json::Value::Null);
    assert_eq!(connection["rateControllerActive"], true);
}

#[test]
fn unfinished_transfers_leave_out_the_ended_ones() {
    let (_dir, _path, mut store) = temp_store();
    let (destination, manifest, first) = destination_manifest_transfer(&mut store);
    let other = store
        .insert_destination(&new_destination("other.example"))
        .unwrap()
        .destination_id;
    let mut ids = vec![first];
    for d in [&destination, &destination, &destination, &other] {
        ids.push(
            store
                .insert_transfer(&new_transfer(d, &manifest))
                .unwrap()
                .transfer_id,
        );
    }
    store
        .set_transfer_status(ids[1], TransferStatus::Complete, None, T0)
        .unwrap();
    store
        .set_transfer_status(ids[2], TransferStatus::Error, Some("no"), T0)
        .unwrap();
    store
        .set_transfer_status(ids[3], TransferStatus::Suspended, None, T0)
        .unwrap();
    let unfinished = |d: Option<&str>| -> Vec<u64> {
        let list = store.unfinished_transfers(d).unwrap();
        list.iter().map(|t| t.transfer_id).collect()
    };
    assert_eq!(unfinished(None), [ids[0], ids[3], ids[4]]);
    assert_eq!(unfinished(Some(&destination)), [ids[0], ids[3]]);
    assert_eq!(unfinished(Some("0123")), Vec::<u64>::new());
}

#[test]
fn users_keep_only_a_password_hash_that_checks_the_password() {
    let (_dir, path, mut store) = temp_store();
    store.add_user("ann", "s3cret", T0).unwrap();
    let taken = store.add_user("ann", "other", T0).unwrap_err();
    assert!(matches!(taken, StoreError::Exists { .. }), "{taken}");
    let hash = store.user_password_hash("ann").unwrap().unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains("s3cret"));
    // One memory for every check, as a password-check thread keeps it.
    let memory = &mut CheckMemory::default();
    assert!(verify_password(memory, Some(&hash), "s3cret"));
    assert!(!verify_password(memory, Some(&hash), "s3cret "));
    assert!(!verify_password(memory, None, "s3cret"));
    assert!(verify_password(memory, Some(&hash), "s3cret"));
    assert!(!verify_password(
        memory,
        Some("$argon2id$not-a-hash"),
        "s3cret"
    ));
    assert_eq!(store.user_password_hash("bob").unwrap(), None);
    store.add_user("bob", "pw", T0 + 1).unwrap();
    drop(store);
    let mut store = Store::open(&path).unwrap();
    let names: Vec<String> = store
        .list_users()
        .unwrap()
        .into_iter()
        .map(|u| u.user_name)
        .collect();
    assert_eq!(names, ["ann", "bob"]);
    store.delete_user("ann").unwrap();
    assert!(store.delete_user("ann").unwrap_err().is_not_found());
    assert_eq!(store.list_users().unwrap().len(), 1);
}

#[test]
fn api_tokens_are_found_by_secret_or_id_and_keep_no_secret() {
    let (_dir, path, mut store) = temp_store();
    let new = NewApiToken {
        user_name: Some("ann".into()),
        description: Some("ci".into()),
        sandbox_path: "in/ci".into(),
        permissions: [Permission::Send].into_iter().collect(),
        time_limit_seconds: Some(60),
    };
    let (secret, token) = store.insert_api_token(&new, T0).unwrap();
    assert_eq!(secret.len(), 64);
    assert_eq!(token.sandbox_path, "/in/ci");
    assert_eq!(token.expiry_time, Some(T0 + 60_000_000));
    assert_eq!(store.get_api_token(&secret).unwrap(), token);
    assert_eq!(store.get_api_token(&token.token_id).unwrap(), token);
    assert_eq!(store.api_token_by_secret(&token.token_id).unwrap(), None);
    assert_eq!(
        store.api_token_by_secret(&secret.to_uppercase()).unwrap(),
        Some(token.clone())
    );
    let bytes = std::fs::read(&path).unwrap();
    let wal = std::fs::read(path.with_extension("db-wal")).unwrap_or_default();
    for file in [&bytes, &wal] {
        assert!(
            !file.windows(64).any(|w| w == secret.as_bytes()),
            "the secret is stored"
        );
    }
    let (second, _) = store.insert_api_token(&new, T0 + 1).unwrap();
    assert_ne!(second, secret);
    assert_eq!(
        store.list_api_tokens(Some(1)).unwrap(),
        std::slice::from_ref(&token)
    );
    store.delete_api_token(&secret).unwrap();
    assert!(store
        .get_api_token(&token.token_id)
        .unwrap_err()
        .is_not_found());
    assert_eq!(store.list_api_tokens(None).unwrap().len(), 1);
}

#[test]
fn the_event_log_keeps_its_newest_entries_within_its_bound() {
    use jetstream_engine::store::{EventKind, NewEvent, EVENT_KEEP_COUNT};
    let mut store = Store::open_in_memory().unwrap();
    let total = EVENT_KEEP_COUNT + 250;
    for i in 1..=total {
        let event = NewEvent {
            transfer_id: Some(i),
            ..NewEvent::new(EventKind::TransferCreated, format!("event {i}"))
        };
        assert_eq!(store.insert_event(&event, i as i64).unwrap(), i);
    }
    let kept = store.list_events(None, None).unwrap();
    // Pruned every 100 events: never more than the bound and 100.
    assert!(
        kept.len() as u64 <= EVENT_KEEP_COUNT + 100,
        "{}",
        kept.len()
    );
    assert!(kept.len() as u64 >= EVENT_KEEP_COUNT, "{}", kept.len());
    assert_eq!(kept.last().unwrap().event_id, total);
    assert_eq!(kept.last().unwrap().transfer_id, Some(total));
    // A collection brings it to the bound exactly, oldest first out.
    let pruned = store.prune_events().unwrap();
    assert_eq!(pruned as u64 + EVENT_KEEP_COUNT, kept.len() as u64);
    let kept = store.list_events(None, None).unwrap();
    assert_eq!(kept.len() as u64, EVENT_KEEP_COUNT);
    assert_eq!(kept[0].event_id, total - EVENT_KEEP_COUNT + 1);
    // Polling after an event: the oldest after it, in order.
    let after = store.list_events(Some(total - 3), Some(2)).unwrap();
    let ids: Vec<u64> = after.iter().map(|e| e.event_id).collect();
    assert_eq!(ids, [total - 2, total - 1]);
}

#[test]
fn a_user_name_cannot_lead_a_sandbox_mapping_out_of_the_sandbox() {
    use jetstream_engine::store::SandboxMapping;
    let sandbox = std::path::Path::new("/srv/sandbox");
    let mapping = |user: &str, path: &str| SandboxMapping {
        user_name: user.into(),
        path: path.into(),
    };
    assert_eq!(
        mapping("ann", "users/%u").root(sandbox),
        Some(sandbox.join("users/ann"))
    );
    assert_eq!(
        mapping("ann", "").root(sandbox),
        Some(sandbox.to_path_buf())
    );
    for user in ["..", "a/../../b", "/etc"] {
        assert_eq!(mapping(user, "%u").root(sandbox), None, "{user}");
    }
}
