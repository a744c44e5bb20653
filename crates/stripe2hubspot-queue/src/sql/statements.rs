//! Every statement of the SQL backends, written once. `?` is a placeholder; `{...}` tokens are
//! filled in by the [`Dialect`]. A schema change is made here and nowhere else.
//!
//! Job states: 0 ready, 1 leased, 2 done, 3 dead. Times are Unix milliseconds.

use super::dialect::Dialect;

/// Schema migrations, applied in order on open; `stripe2hubspot_schema_version` records the last.
/// Append a new entry to change the schema; never edit an applied one.
const MIGRATIONS: &[&[&str]] = &[
    &[
        "CREATE TABLE stripe2hubspot_jobs (
        id {id},
        event_id TEXT NOT NULL UNIQUE,
        event_type TEXT NOT NULL,
        event_created {int} NOT NULL,
        payload {bytes} NOT NULL,
        state {int} NOT NULL DEFAULT 0,
        run_at {int} NOT NULL,
        attempts {int} NOT NULL DEFAULT 0,
        lease_token {int} NOT NULL DEFAULT 0,
        lease_until {int} NOT NULL DEFAULT 0,
        last_error TEXT,
        enqueued_at {int} NOT NULL,
        finished_at {int} NOT NULL DEFAULT 0
    )",
        "CREATE INDEX stripe2hubspot_jobs_due ON stripe2hubspot_jobs (state, run_at, id)",
        "CREATE TABLE stripe2hubspot_deals (
        payment_key TEXT PRIMARY KEY,
        deal_id TEXT NOT NULL,
        recorded_at {int} NOT NULL
    )",
        "CREATE TABLE stripe2hubspot_contact_marks (
        contact_key TEXT PRIMARY KEY,
        newest_created {int} NOT NULL
    )",
    ],
    &["CREATE TABLE stripe2hubspot_checkpoints (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        saved_at {int} NOT NULL
    )"],
];

/// Columns of a reserved job, in the order [`super`]'s row mapper reads them by name.
const JOB_COLUMNS: &str = "id, event_id, event_type, event_created, payload, attempts, \
                           lease_token, last_error, run_at";

/// The rendered statements of one dialect.
#[derive(Debug)]
pub(crate) struct Statements {
    pub(crate) migrations: Vec<Vec<String>>,
    pub(crate) create_version_table: String,
    pub(crate) schema_version: String,
    pub(crate) record_version: String,
    pub(crate) insert_job: String,
    pub(crate) job_id_of_event: String,
    pub(crate) reserve: String,
    pub(crate) complete: String,
    pub(crate) retry: String,
    pub(crate) release: String,
    pub(crate) dead_letter: String,
    pub(crate) renew: String,
    pub(crate) dead_letters: String,
    pub(crate) replay: String,
    pub(crate) stats: String,
    pub(crate) purge_done: String,
    pub(crate) record_deal: String,
    pub(crate) recorded_deal: String,
    pub(crate) advance_contact_mark: String,
    pub(crate) checkpoint: String,
    pub(crate) save_checkpoint: String,
}

impl Statements {
    pub(crate) fn new(d: &Dialect) -> Self {
        // Every answer to a reservation is guarded the same way: the job must still be leased
        // under the token the worker holds, else zero rows change and the lease is lost.
        let held = "WHERE id = ? AND state = 1 AND lease_token = ?";
        Self {
            migrations: MIGRATIONS
                .iter()
                .map(|step| step.iter().map(|s| d.render(s)).collect())
                .collect(),
            create_version_table: d.render(
                "CREATE TABLE IF NOT EXISTS stripe2hubspot_schema_version (version {int} NOT NULL)",
            ),
            schema_version: d
                .render("SELECT COALESCE(MAX(version), 0) FROM stripe2hubspot_schema_version"),
            record_version: d
                .render("INSERT INTO stripe2hubspot_schema_version (version) VALUES (?)"),
            insert_job: d.render(
                "INSERT INTO stripe2hubspot_jobs
                    (event_id, event_type, event_created, payload, run_at, enqueued_at)
                 VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT (event_id) DO NOTHING
                 RETURNING id",
            ),
            job_id_of_event: d.render("SELECT id FROM stripe2hubspot_jobs WHERE event_id = ?"),
            // The due rows are chosen once (MATERIALIZED), then claimed in the same statement,
            // so a claim is atomic without an explicit transaction. Re-granting an expired
            // lease consumes an attempt and records why.
            reserve: d.render(&format!(
                "WITH due AS MATERIALIZED (
                    SELECT id FROM stripe2hubspot_jobs
                    WHERE (state = 0 AND run_at <= ?) OR (state = 1 AND lease_until <= ?)
                    ORDER BY run_at, id
                    LIMIT ?
                    {{skip_locked}})
                 UPDATE stripe2hubspot_jobs SET
                    attempts = attempts + CASE WHEN state = 1 THEN 1 ELSE 0 END,
                    last_error = CASE WHEN state = 1 THEN ? ELSE last_error END,
                    state = 1,
                    lease_token = lease_token + 1,
                    lease_until = ?
                 WHERE id IN (SELECT id FROM due)
                 RETURNING {JOB_COLUMNS}"
            )),
            complete: d.render(&format!(
                "UPDATE stripe2hubspot_jobs SET state = 2, finished_at = ?, payload = ? {held}"
            )),
            retry: d.render(&format!(
                "UPDATE stripe2hubspot_jobs SET state = 0, run_at = ?, last_error = ?,
                    attempts = attempts + ? {held}"
            )),
            release: d.render(&format!("UPDATE stripe2hubspot_jobs SET state = 0 {held}")),
            dead_letter: d.render(&format!(
                "UPDATE stripe2hubspot_jobs SET state = 3, attempts = attempts + 1,
                    last_error = ?, finished_at = ? {held}"
            )),
            renew: d.render(&format!(
                "UPDATE stripe2hubspot_jobs SET lease_until = ? {held}"
            )),
            dead_letters: d.render(
                "SELECT id, event_id, event_type, attempts, last_error, finished_at
                 FROM stripe2hubspot_jobs WHERE state = 3 AND id > ? ORDER BY id LIMIT ?",
            ),
            replay: d.render(
                "UPDATE stripe2hubspot_jobs SET state = 0, attempts = 0, run_at = ?
                 WHERE id = ? AND state = 3",
            ),
            // `due` counts ready rows whose run_at passed and leased rows whose lease expired.
            stats: d.render(
                "SELECT state, COUNT(*) AS n,
                    COUNT(*) FILTER (WHERE (state = 0 AND run_at <= ?)
                        OR (state = 1 AND lease_until <= ?)) AS due
                 FROM stripe2hubspot_jobs GROUP BY state",
            ),
            purge_done: d
                .render("DELETE FROM stripe2hubspot_jobs WHERE state = 2 AND finished_at <= ?"),
            record_deal: d.render(
                "INSERT INTO stripe2hubspot_deals (payment_key, deal_id, recorded_at)
                 VALUES (?, ?, ?) ON CONFLICT (payment_key) DO NOTHING",
            ),
            recorded_deal: d
                .render("SELECT deal_id FROM stripe2hubspot_deals WHERE payment_key = ?"),
            advance_contact_mark: d.render(
                "INSERT INTO stripe2hubspot_contact_marks (contact_key, newest_created)
                 VALUES (?, ?)
                 ON CONFLICT (contact_key) DO UPDATE SET newest_created =
                    {greatest}(stripe2hubspot_contact_marks.newest_created, excluded.newest_created)
                 RETURNING newest_created",
            ),
            checkpoint: d.render("SELECT value FROM stripe2hubspot_checkpoints WHERE name = ?"),
            save_checkpoint: d.render(
                "INSERT INTO stripe2hubspot_checkpoints (name, value, saved_at) VALUES (?, ?, ?)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value, saved_at = excluded.saved_at",
            ),
        }
    }
}
