//! A queue file written by schema version 1 (before the payment ledger) opens with its jobs
//! intact and gains the ledger.

use serde_json::json;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use stripe2hubspot_map::{Facts, MappingConfig};
use stripe2hubspot_queue::{Queue, QueueAdmin, SqliteQueue, SyncState};

/// Schema version 1 exactly as it shipped, with one ready job.
const VERSION_1: &[&str] = &[
    "CREATE TABLE stripe2hubspot_schema_version (version INTEGER NOT NULL)",
    "INSERT INTO stripe2hubspot_schema_version (version) VALUES (1)",
    "CREATE TABLE stripe2hubspot_jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id TEXT NOT NULL UNIQUE,
        event_type TEXT NOT NULL,
        event_created INTEGER NOT NULL,
        payload BLOB NOT NULL,
        state INTEGER NOT NULL DEFAULT 0,
        run_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        lease_token INTEGER NOT NULL DEFAULT 0,
        lease_until INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        enqueued_at INTEGER NOT NULL,
        finished_at INTEGER NOT NULL DEFAULT 0
    )",
    "CREATE INDEX stripe2hubspot_jobs_due ON stripe2hubspot_jobs (state, run_at, id)",
    "CREATE TABLE stripe2hubspot_deals (
        payment_key TEXT PRIMARY KEY,
        deal_id TEXT NOT NULL,
        recorded_at INTEGER NOT NULL
    )",
    "CREATE TABLE stripe2hubspot_contact_marks (
        contact_key TEXT PRIMARY KEY,
        newest_created INTEGER NOT NULL
    )",
    "INSERT INTO stripe2hubspot_jobs (event_id, event_type, event_created, payload, run_at, enqueued_at)
     VALUES ('evt_old', 'charge.succeeded', 1700000000, x'7b7d', 0, 0)",
    "INSERT INTO stripe2hubspot_contact_marks (contact_key, newest_created) VALUES ('email=a@x.io', 1)",
];

#[tokio::test]
async fn a_version_1_queue_file_migrates_to_the_ledger_and_keeps_its_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    let mut conn = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    for statement in VERSION_1 {
        sqlx::query(statement).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();

    let queue = SqliteQueue::open(&path).await.unwrap();
    let stats = queue.stats().await.unwrap();
    assert_eq!(stats.ready, 1, "the stored job survives: {stats:?}");
    let jobs = queue
        .reserve(10, std::time::Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].event_id, "evt_old");

    let fact: Facts = serde_json::from_value(json!({
        "stamp": {"created": 1, "event_id": "evt_1"},
        "ids": {"charge": "ch_1"},
        "contact": {"email": "a@x.io"},
        "currency": "usd", "captured": 100, "succeeded": true,
        "fully_refunded": false, "disputed": false, "metadata": {},
    }))
    .unwrap();
    let changes = queue
        .merge_facts(&[fact], &MappingConfig::default())
        .await
        .unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(
        queue.contact_rows("email=a@x.io").await.unwrap().len(),
        1,
        "the ledger works after the migration"
    );
    drop(queue);
    // Opening again applies nothing twice.
    let again = SqliteQueue::open(&path).await.unwrap();
    assert!(again.ledger_entry("ch_1").await.unwrap().is_some());
}
