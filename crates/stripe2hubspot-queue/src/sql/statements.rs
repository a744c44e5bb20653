//! Every statement of the SQL backends, written once. `?` is a placeholder; `{...}` tokens are
//! filled in by the [`Dialect`]. A schema change is made here and nowhere else.
//!
//! Job states: 0 ready, 1 leased, 2 done, 3 dead. Times are Unix milliseconds.

use super::dialect::Dialect;
use super::namespace::{self, Namespace};

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
], &[
    // The payment ledger replaces the per-event deal records and the contact ordering marks.
    "DROP TABLE stripe2hubspot_deals",
    "DROP TABLE stripe2hubspot_contact_marks",
    "CREATE TABLE stripe2hubspot_ledger (
        payment_key TEXT PRIMARY KEY,
        row_json TEXT NOT NULL,
        version {int} NOT NULL,
        written_version {int} NOT NULL DEFAULT 0,
        contact_key TEXT,
        waiting {int} NOT NULL DEFAULT 0,
        deal_key TEXT,
        deal_id TEXT,
        updated_at {int} NOT NULL
    )",
    "CREATE INDEX stripe2hubspot_ledger_contact ON stripe2hubspot_ledger (contact_key)",
    "CREATE INDEX stripe2hubspot_ledger_waiting ON stripe2hubspot_ledger (waiting)",
    "CREATE TABLE stripe2hubspot_ledger_aliases (
        alias TEXT PRIMARY KEY,
        payment_key TEXT NOT NULL
    )",
    "CREATE INDEX stripe2hubspot_ledger_aliases_key ON stripe2hubspot_ledger_aliases (payment_key)",
], &[
    // Where a backfill got to, so a crash or Ctrl-C resumes after it.
    "CREATE TABLE stripe2hubspot_checkpoints (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        saved_at {int} NOT NULL
    )",
], &[
    // The operator's pause, one row (id 1) for every process sharing the store.
    "CREATE TABLE stripe2hubspot_pause (
        id {int} PRIMARY KEY,
        paused {int} NOT NULL,
        paused_by TEXT NOT NULL,
        changed_at {int} NOT NULL
    )",
], &[
    // What HubSpot last confirmed per contact, so an unchanged contact is not written again.
    "CREATE TABLE stripe2hubspot_contact_state (
        contact_key TEXT PRIMARY KEY,
        contact_id TEXT NOT NULL,
        properties_hash TEXT NOT NULL,
        recorded_at {int} NOT NULL
    )",
], &[
    // The customer ledger: one row per Stripe customer, its current email indexed so a guest
    // payment (no customer id) joins the customer whose email it carries.
    "CREATE TABLE stripe2hubspot_customers (
        customer_id TEXT PRIMARY KEY,
        row_json TEXT NOT NULL,
        version {int} NOT NULL,
        written_version {int} NOT NULL DEFAULT 0,
        email TEXT,
        updated_at {int} NOT NULL
    )",
    "CREATE INDEX stripe2hubspot_customers_email ON stripe2hubspot_customers (email)",
    // Identity follows the Stripe customer: payments with a customer id, indexed by their
    // email until now, are grouped under `customer=cus_X` (what `contact_key_of` gives them
    // under the email contact key; rows keyed by a customer id property are left alone). The
    // marks of the email keys they leave are dropped first: a guest payment with that email
    // may later be grouped there and must not write, by a recorded id, the contact that
    // follows the customer (the customer's group finds its contact by email again).
    "DELETE FROM stripe2hubspot_contact_state WHERE contact_key IN (
        SELECT contact_key FROM stripe2hubspot_ledger
        WHERE contact_key LIKE 'email=%' AND {row_customer_id} IS NOT NULL)",
    "UPDATE stripe2hubspot_ledger SET contact_key = 'customer=' || {row_customer_id}
     WHERE contact_key LIKE 'email=%' AND {row_customer_id} IS NOT NULL",
], &[
    // The company and line-item work sets (issue 22). A company is dirty while its generation
    // is ahead of the written one or one of its links is pending: `linked_to` is the company
    // id a member contact or deal was last associated with, pending when it is not the
    // company's current `hubspot_id`.
    "CREATE TABLE stripe2hubspot_companies (
        company_key TEXT PRIMARY KEY,
        key_kind TEXT NOT NULL,
        hubspot_id TEXT,
        generation {int} NOT NULL,
        written_generation {int} NOT NULL DEFAULT 0,
        updated_at {int} NOT NULL
    )",
    "CREATE TABLE stripe2hubspot_company_members (
        contact_key TEXT PRIMARY KEY,
        company_key TEXT NOT NULL,
        contact_id TEXT NOT NULL,
        linked_to TEXT
    )",
    "CREATE INDEX stripe2hubspot_company_members_company
        ON stripe2hubspot_company_members (company_key)",
    "CREATE TABLE stripe2hubspot_company_deals (
        deal_id TEXT PRIMARY KEY,
        company_key TEXT NOT NULL,
        contact_key TEXT NOT NULL,
        linked_to TEXT
    )",
    "CREATE INDEX stripe2hubspot_company_deals_company
        ON stripe2hubspot_company_deals (company_key)",
    "CREATE INDEX stripe2hubspot_company_deals_contact
        ON stripe2hubspot_company_deals (contact_key)",
    "CREATE TABLE stripe2hubspot_line_item_work (
        payment_key TEXT PRIMARY KEY,
        deal_id TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        generation {int} NOT NULL,
        written_generation {int} NOT NULL DEFAULT 0,
        updated_at {int} NOT NULL
    )",
], &[
    // Portals as data (issue 23). The account's primary key routes it to one portal at most;
    // the one-row revision, raised by every portal write, is what a server polls to reload.
    "CREATE TABLE stripe2hubspot_portals (
        id TEXT PRIMARY KEY,
        token TEXT NOT NULL,
        rate_limit TEXT NOT NULL,
        hubspot_base_url TEXT,
        api_version TEXT,
        paused {int} NOT NULL DEFAULT 0,
        created_at {int} NOT NULL,
        updated_at {int} NOT NULL
    )",
    "CREATE TABLE stripe2hubspot_portal_accounts (
        account TEXT PRIMARY KEY,
        portal_id TEXT NOT NULL
    )",
    "CREATE INDEX stripe2hubspot_portal_accounts_portal
        ON stripe2hubspot_portal_accounts (portal_id)",
    "CREATE TABLE stripe2hubspot_portal_revision (
        id {int} PRIMARY KEY,
        revision {int} NOT NULL
    )",
    "INSERT INTO stripe2hubspot_portal_revision (id, revision) VALUES (1, 0)",
], &[
    // Portals, routing and leadership (issue 23), all root-only: a portal's own endpoint
    // secrets, mapping and alert target; per-portal leases with a generation raised at every
    // change of holder, and the processes taking part; events of accounts no portal claims,
    // in arrival order (`id`), deduplicated by event id.
    "ALTER TABLE stripe2hubspot_portals ADD COLUMN webhook_secrets TEXT",
    "ALTER TABLE stripe2hubspot_portals ADD COLUMN mapping TEXT",
    "ALTER TABLE stripe2hubspot_portals ADD COLUMN alert_url TEXT",
    "CREATE TABLE stripe2hubspot_portal_leases (
        portal_id TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        generation {int} NOT NULL,
        expires_at {int} NOT NULL
    )",
    "CREATE TABLE stripe2hubspot_processes (
        process_id TEXT PRIMARY KEY,
        alive_until {int} NOT NULL
    )",
    "CREATE TABLE stripe2hubspot_unrouted (
        id {id},
        event_id TEXT NOT NULL UNIQUE,
        account TEXT NOT NULL,
        event_type TEXT NOT NULL,
        event_created {int} NOT NULL,
        payload {bytes} NOT NULL,
        received_at {int} NOT NULL
    )",
    "CREATE INDEX stripe2hubspot_unrouted_account ON stripe2hubspot_unrouted (account, id)",
]];

/// A portal row with its accounts (none: one row with a NULL account), as the portal mapper
/// of [`super::portals`] reads them by name; `{where}` selects the portals.
const PORTAL_ROWS: &str = "SELECT p.id, p.token, p.rate_limit, p.hubspot_base_url,
        p.api_version, p.paused, p.webhook_secrets, p.mapping, p.alert_url, a.account
     FROM stripe2hubspot_portals p
     LEFT JOIN stripe2hubspot_portal_accounts a ON a.portal_id = p.id
     {where}
     ORDER BY p.id, a.account";

/// The companies [`Statements::dirty_companies`] lists, as a condition on `c`, a row of
/// `stripe2hubspot_companies`: behind on generation, or with a pending link.
const DIRTY_COMPANY: &str = "(c.generation > c.written_generation
    OR EXISTS (SELECT 1 FROM stripe2hubspot_company_members m
        WHERE m.company_key = c.company_key
          AND (c.hubspot_id IS NULL OR m.linked_to IS NULL OR m.linked_to <> c.hubspot_id))
    OR EXISTS (SELECT 1 FROM stripe2hubspot_company_deals d
        WHERE d.company_key = c.company_key
          AND (c.hubspot_id IS NULL OR d.linked_to IS NULL OR d.linked_to <> c.hubspot_id)))";

/// The row counts of the multi-row job inserts, largest first: a batch is sent as the fewest
/// such statements (37 jobs: 16 + 16 + 4 + 1), so each dialect prepares only these few.
pub(crate) const INSERT_CHUNKS: [usize; 4] = [64, 16, 4, 1];

/// Columns of a ledger row, in the order [`super`]'s ledger mapper reads them by name.
const LEDGER_COLUMNS: &str =
    "payment_key, row_json, version, written_version, deal_key, deal_id, contact_key";

/// Columns of a customer row, in the order [`super`]'s customer mapper reads them by name.
const CUSTOMER_COLUMNS: &str = "customer_id, row_json, version, written_version";

/// Columns of a reserved job, in the order [`super`]'s row mapper reads them by name.
const JOB_COLUMNS: &str = "id, event_id, event_type, event_created, payload, attempts, \
                           lease_token, last_error, run_at";

/// The rendered statements of one dialect.
#[derive(Debug)]
pub(crate) struct Statements {
    pub(crate) migrations: Vec<Vec<String>>,
    /// The tables the migrations leave, the version table last: what dropping a namespace
    /// removes.
    pub(crate) tables: Vec<String>,
    /// Run first in every ledger merge transaction (see [`Dialect::ledger_lock`]); its key
    /// differs per namespace, so portals do not wait for each other's merges.
    pub(crate) ledger_lock: String,
    pub(crate) create_version_table: String,
    pub(crate) schema_version: String,
    pub(crate) record_version: String,
    /// `(rows, statement)`: one INSERT of that many jobs, for [`INSERT_CHUNKS`] sizes.
    pub(crate) insert_jobs: Vec<(usize, String)>,
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
    pub(crate) purge_dead: String,
    pub(crate) ledger_key_of_alias: String,
    pub(crate) ledger_row: String,
    pub(crate) ledger_upsert: String,
    pub(crate) ledger_delete: String,
    pub(crate) ledger_redirect_aliases: String,
    pub(crate) ledger_upsert_alias: String,
    pub(crate) ledger_contact_rows: String,
    pub(crate) ledger_mark_written: String,
    pub(crate) ledger_reset_written: String,
    pub(crate) ledger_reset_written_forget: String,
    pub(crate) ledger_unwritten: String,
    pub(crate) ledger_waiting_count: String,
    pub(crate) ledger_waiting: String,
    pub(crate) ledger_page: String,
    pub(crate) checkpoint: String,
    pub(crate) save_checkpoint: String,
    pub(crate) operator_pause: String,
    pub(crate) set_operator_pause: String,
    pub(crate) contact_mark: String,
    pub(crate) record_contact_mark: String,
    pub(crate) forget_contact_mark: String,
    pub(crate) ledger_of_contact: String,
    pub(crate) ledger_move_contact: String,
    pub(crate) ledger_erase_row: String,
    pub(crate) customer_row: String,
    pub(crate) customer_upsert: String,
    pub(crate) customer_of_email: String,
    pub(crate) customer_mark_written: String,
    pub(crate) customer_reset_written: String,
    pub(crate) customers_unwritten: String,
    pub(crate) customers_page: String,
    pub(crate) unfinished_payloads: String,
    pub(crate) redact_payload: String,
    pub(crate) company_member: String,
    pub(crate) company_upsert: String,
    pub(crate) company_bump: String,
    pub(crate) company_member_upsert: String,
    pub(crate) company_member_delete: String,
    pub(crate) company_deals_of_contact_delete: String,
    pub(crate) company_deals_follow_contact: String,
    pub(crate) company_deal: String,
    pub(crate) company_deal_upsert: String,
    pub(crate) dirty_companies: String,
    pub(crate) dirty_company_members: String,
    pub(crate) dirty_company_deals: String,
    pub(crate) company_mark_written: String,
    pub(crate) company_link_contact: String,
    pub(crate) company_link_deal: String,
    pub(crate) company_forget: String,
    pub(crate) company_unlink_members: String,
    pub(crate) company_unlink_deals: String,
    pub(crate) line_items_note: String,
    pub(crate) line_items_pending: String,
    pub(crate) line_items_mark_written: String,
    pub(crate) portal_revision: String,
    pub(crate) portal_bump: String,
    pub(crate) portal_insert: String,
    pub(crate) portal_update: String,
    pub(crate) portal_delete: String,
    pub(crate) portal_account_insert: String,
    pub(crate) portal_account_owner: String,
    pub(crate) portal_accounts_delete: String,
    pub(crate) portal_rows_all: String,
    pub(crate) portal_rows_one: String,
    pub(crate) portal_rows_of_account: String,
    pub(crate) portal_record_paused: String,
    pub(crate) processes_forget_expired: String,
    pub(crate) process_announce: String,
    pub(crate) processes: String,
    pub(crate) process_forget: String,
    pub(crate) leases: String,
    pub(crate) lease_acquire: String,
    pub(crate) lease_renew_all: String,
    pub(crate) lease_release: String,
    pub(crate) leases_release_all: String,
    pub(crate) unrouted_insert: String,
    pub(crate) unrouted_id_of_event: String,
    pub(crate) unrouted_of_account: String,
    pub(crate) unrouted_forget: String,
    pub(crate) unrouted_accounts: String,
}

impl Statements {
    /// The statements of the root store (`namespace` `None`: the unprefixed tables), or of
    /// a portal's namespace: every per-portal name renamed, and the migration statements that
    /// touch root-only tables left out (the root creates those once for everyone).
    pub(crate) fn new(dialect: &Dialect, namespace: Option<&Namespace>) -> Self {
        let d = Render { dialect, namespace };
        // Every answer to a reservation is guarded the same way: the job must still be leased
        // under the token the worker holds, else zero rows change and the lease is lost.
        let held = "WHERE id = ? AND state = 1 AND lease_token = ?";
        let migrations: Vec<Vec<String>> = MIGRATIONS
            .iter()
            .map(|step| {
                step.iter()
                    .filter(|s| namespace.is_none() || !namespace::touches_root(s))
                    .map(|s| d.render(s))
                    .collect()
            })
            .collect();
        let mut tables = namespace::tables_of(&migrations);
        tables.push(d.render("stripe2hubspot_schema_version"));
        let ledger_lock = match namespace {
            Some(ns) if !dialect.ledger_lock.is_empty() => {
                format!("SELECT pg_advisory_xact_lock({})", ns.ledger_lock_key())
            }
            _ => dialect.ledger_lock.to_owned(),
        };
        Self {
            migrations,
            tables,
            ledger_lock,
            create_version_table: d.render(
                "CREATE TABLE IF NOT EXISTS stripe2hubspot_schema_version (version {int} NOT NULL)",
            ),
            schema_version: d
                .render("SELECT COALESCE(MAX(version), 0) FROM stripe2hubspot_schema_version"),
            record_version: d
                .render("INSERT INTO stripe2hubspot_schema_version (version) VALUES (?)"),
            // Several jobs per statement: each statement is one round trip to the database
            // (for SQLite, to the connection's thread), which cost more than the rows.
            insert_jobs: INSERT_CHUNKS
                .iter()
                .map(|&rows| {
                    let values = vec!["(?, ?, ?, ?, ?, ?)"; rows].join(", ");
                    let sql = d.render(&format!(
                        "INSERT INTO stripe2hubspot_jobs
                            (event_id, event_type, event_created, payload, run_at, enqueued_at)
                         VALUES {values}
                         ON CONFLICT (event_id) DO NOTHING
                         RETURNING id, event_id"
                    ));
                    (rows, sql)
                })
                .collect(),
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
                "SELECT id, event_id, event_type, attempts, last_error, finished_at, payload
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
            purge_dead: d
                .render("DELETE FROM stripe2hubspot_jobs WHERE state = 3 AND finished_at <= ?"),
            ledger_key_of_alias: d.render(
                "SELECT payment_key FROM stripe2hubspot_ledger_aliases WHERE alias = ?",
            ),
            ledger_row: d.render(&format!(
                "SELECT {LEDGER_COLUMNS} FROM stripe2hubspot_ledger WHERE payment_key = ?"
            )),
            // A merge never undoes a mark: the written version it read can only be older
            // than the stored one, and a deal recorded since it read the row stays.
            ledger_upsert: d.render(
                "INSERT INTO stripe2hubspot_ledger (payment_key, row_json, version,
                    written_version, contact_key, waiting, deal_key, deal_id, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (payment_key) DO UPDATE SET row_json = excluded.row_json,
                    version = excluded.version,
                    written_version = {greatest}(stripe2hubspot_ledger.written_version,
                        excluded.written_version),
                    contact_key = excluded.contact_key, waiting = excluded.waiting,
                    deal_key = CASE WHEN stripe2hubspot_ledger.deal_id IS NULL
                        THEN excluded.deal_key ELSE stripe2hubspot_ledger.deal_key END,
                    deal_id = COALESCE(stripe2hubspot_ledger.deal_id, excluded.deal_id),
                    updated_at = excluded.updated_at",
            ),
            ledger_delete: d.render("DELETE FROM stripe2hubspot_ledger WHERE payment_key = ?"),
            ledger_redirect_aliases: d.render(
                "UPDATE stripe2hubspot_ledger_aliases SET payment_key = ? WHERE payment_key = ?",
            ),
            ledger_upsert_alias: d.render(
                "INSERT INTO stripe2hubspot_ledger_aliases (alias, payment_key) VALUES (?, ?)
                 ON CONFLICT (alias) DO UPDATE SET payment_key = excluded.payment_key",
            ),
            ledger_contact_rows: d.render(
                "SELECT row_json FROM stripe2hubspot_ledger WHERE contact_key = ? ORDER BY payment_key",
            ),
            // A written version never goes down; a deal is recorded only when one is given.
            ledger_mark_written: d.render(
                "UPDATE stripe2hubspot_ledger SET
                    written_version = {greatest}(written_version, ?),
                    deal_key = COALESCE(?, deal_key), deal_id = COALESCE(?, deal_id)
                 WHERE payment_key = ?",
            ),
            // Only the version reconcile compared: a row that moved on is not touched.
            ledger_reset_written: d.render(
                "UPDATE stripe2hubspot_ledger SET written_version = 0
                 WHERE payment_key = ? AND version = ?",
            ),
            ledger_reset_written_forget: d.render(
                "UPDATE stripe2hubspot_ledger SET written_version = 0, deal_key = NULL,
                    deal_id = NULL
                 WHERE payment_key = ? AND version = ?",
            ),
            ledger_unwritten: d.render(&format!(
                "SELECT {LEDGER_COLUMNS} FROM stripe2hubspot_ledger
                 WHERE waiting = 0 AND version > written_version ORDER BY payment_key LIMIT ?"
            )),
            ledger_waiting_count: d
                .render("SELECT COUNT(*) FROM stripe2hubspot_ledger WHERE waiting = 1"),
            ledger_waiting: d.render(&format!(
                "SELECT {LEDGER_COLUMNS} FROM stripe2hubspot_ledger
                 WHERE waiting = 1 ORDER BY payment_key LIMIT ?"
            )),
            // Paged by key: '' sorts before every key, so the first page starts at the start.
            ledger_page: d.render(&format!(
                "SELECT {LEDGER_COLUMNS} FROM stripe2hubspot_ledger
                 WHERE payment_key > ? ORDER BY payment_key LIMIT ?"
            )),
            checkpoint: d.render("SELECT value FROM stripe2hubspot_checkpoints WHERE name = ?"),
            save_checkpoint: d.render(
                "INSERT INTO stripe2hubspot_checkpoints (name, value, saved_at) VALUES (?, ?, ?)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value, saved_at = excluded.saved_at",
            ),
            operator_pause: d.render(
                "SELECT paused_by, changed_at FROM stripe2hubspot_pause WHERE id = 1 AND paused = 1",
            ),
            set_operator_pause: d.render(
                "INSERT INTO stripe2hubspot_pause (id, paused, paused_by, changed_at)
                 VALUES (1, ?, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET paused = excluded.paused,
                    paused_by = excluded.paused_by, changed_at = excluded.changed_at",
            ),
            contact_mark: d.render(
                "SELECT contact_id, properties_hash FROM stripe2hubspot_contact_state
                 WHERE contact_key = ?",
            ),
            record_contact_mark: d.render(
                "INSERT INTO stripe2hubspot_contact_state
                    (contact_key, contact_id, properties_hash, recorded_at) VALUES (?, ?, ?, ?)
                 ON CONFLICT (contact_key) DO UPDATE SET contact_id = excluded.contact_id,
                    properties_hash = excluded.properties_hash, recorded_at = excluded.recorded_at",
            ),
            forget_contact_mark: d
                .render("DELETE FROM stripe2hubspot_contact_state WHERE contact_key = ?"),
            ledger_of_contact: d.render(&format!(
                "SELECT {LEDGER_COLUMNS} FROM stripe2hubspot_ledger WHERE contact_key = ?
                 ORDER BY payment_key"
            )),
            ledger_move_contact: d.render(
                "UPDATE stripe2hubspot_ledger SET contact_key = ? WHERE contact_key = ?",
            ),
            ledger_erase_row: d.render(
                "UPDATE stripe2hubspot_ledger SET row_json = ?, contact_key = ?, updated_at = ?
                 WHERE payment_key = ?",
            ),
            customer_row: d.render(&format!(
                "SELECT {CUSTOMER_COLUMNS} FROM stripe2hubspot_customers WHERE customer_id = ?"
            )),
            // As for payments, a merge never undoes a mark recorded after it read the row.
            customer_upsert: d.render(
                "INSERT INTO stripe2hubspot_customers (customer_id, row_json, version,
                    written_version, email, updated_at) VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT (customer_id) DO UPDATE SET row_json = excluded.row_json,
                    version = excluded.version,
                    written_version = {greatest}(stripe2hubspot_customers.written_version,
                        excluded.written_version),
                    email = excluded.email, updated_at = excluded.updated_at",
            ),
            // Two customers may share an email in Stripe: the smallest id takes the guests.
            customer_of_email: d.render(
                "SELECT customer_id FROM stripe2hubspot_customers WHERE email = ?
                 ORDER BY customer_id LIMIT 1",
            ),
            customer_mark_written: d.render(
                "UPDATE stripe2hubspot_customers SET
                    written_version = {greatest}(written_version, ?)
                 WHERE customer_id = ?",
            ),
            customer_reset_written: d.render(
                "UPDATE stripe2hubspot_customers SET written_version = 0
                 WHERE customer_id = ? AND version = ?",
            ),
            customers_unwritten: d.render(&format!(
                "SELECT {CUSTOMER_COLUMNS} FROM stripe2hubspot_customers
                 WHERE version > written_version ORDER BY customer_id LIMIT ?"
            )),
            customers_page: d.render(&format!(
                "SELECT {CUSTOMER_COLUMNS} FROM stripe2hubspot_customers
                 WHERE customer_id > ? ORDER BY customer_id LIMIT ?"
            )),
            // Done jobs hold no payload (it is dropped at completion).
            unfinished_payloads: d
                .render("SELECT id, payload FROM stripe2hubspot_jobs WHERE state <> 2 ORDER BY id"),
            redact_payload: d.render("UPDATE stripe2hubspot_jobs SET payload = ? WHERE id = ?"),
            company_member: d.render(
                "SELECT company_key FROM stripe2hubspot_company_members WHERE contact_key = ?",
            ),
            company_upsert: d.render(
                "INSERT INTO stripe2hubspot_companies
                    (company_key, key_kind, generation, written_generation, updated_at)
                 VALUES (?, ?, 1, 0, ?)
                 ON CONFLICT (company_key) DO UPDATE SET key_kind = excluded.key_kind,
                    generation = stripe2hubspot_companies.generation + 1,
                    updated_at = excluded.updated_at",
            ),
            // Atomic, so bumps by two processes both count.
            company_bump: d.render(
                "UPDATE stripe2hubspot_companies SET generation = generation + 1, updated_at = ?
                 WHERE company_key = ?",
            ),
            // The link stays only while the member is the same contact in the same company.
            company_member_upsert: d.render(
                "INSERT INTO stripe2hubspot_company_members
                    (contact_key, company_key, contact_id, linked_to) VALUES (?, ?, ?, NULL)
                 ON CONFLICT (contact_key) DO UPDATE SET
                    linked_to = CASE
                        WHEN stripe2hubspot_company_members.company_key = excluded.company_key
                         AND stripe2hubspot_company_members.contact_id = excluded.contact_id
                        THEN stripe2hubspot_company_members.linked_to ELSE NULL END,
                    company_key = excluded.company_key, contact_id = excluded.contact_id",
            ),
            company_member_delete: d
                .render("DELETE FROM stripe2hubspot_company_members WHERE contact_key = ?"),
            company_deals_of_contact_delete: d
                .render("DELETE FROM stripe2hubspot_company_deals WHERE contact_key = ?"),
            company_deals_follow_contact: d.render(
                "UPDATE stripe2hubspot_company_deals SET company_key = ?, linked_to = NULL
                 WHERE contact_key = ? AND company_key <> ?",
            ),
            company_deal: d.render(
                "SELECT company_key FROM stripe2hubspot_company_deals WHERE deal_id = ?",
            ),
            company_deal_upsert: d.render(
                "INSERT INTO stripe2hubspot_company_deals
                    (deal_id, company_key, contact_key, linked_to) VALUES (?, ?, ?, NULL)
                 ON CONFLICT (deal_id) DO UPDATE SET
                    linked_to = CASE
                        WHEN stripe2hubspot_company_deals.company_key = excluded.company_key
                        THEN stripe2hubspot_company_deals.linked_to ELSE NULL END,
                    company_key = excluded.company_key, contact_key = excluded.contact_key",
            ),
            dirty_companies: d.render(&format!(
                "SELECT c.company_key, c.key_kind, c.hubspot_id, c.generation
                 FROM stripe2hubspot_companies c WHERE {DIRTY_COMPANY}
                 ORDER BY c.company_key LIMIT ?"
            )),
            // The members and deals of the same page of dirty companies (read in one snapshot
            // with it), with the company's id to tell pending links.
            dirty_company_members: d.render(&format!(
                "SELECT p.company_key, p.hubspot_id, x.contact_key, x.contact_id, x.linked_to
                 FROM (SELECT c.company_key, c.hubspot_id FROM stripe2hubspot_companies c
                    WHERE {DIRTY_COMPANY} ORDER BY c.company_key LIMIT ?) p
                 JOIN stripe2hubspot_company_members x ON x.company_key = p.company_key
                 ORDER BY p.company_key, x.contact_key"
            )),
            dirty_company_deals: d.render(&format!(
                "SELECT p.company_key, p.hubspot_id, x.deal_id, x.linked_to
                 FROM (SELECT c.company_key, c.hubspot_id FROM stripe2hubspot_companies c
                    WHERE {DIRTY_COMPANY} ORDER BY c.company_key LIMIT ?) p
                 JOIN stripe2hubspot_company_deals x ON x.company_key = p.company_key
                 ORDER BY p.company_key, x.deal_id"
            )),
            company_mark_written: d.render(
                "UPDATE stripe2hubspot_companies SET hubspot_id = ?,
                    written_generation = {greatest}(written_generation, ?), updated_at = ?
                 WHERE company_key = ?",
            ),
            company_link_contact: d.render(
                "UPDATE stripe2hubspot_company_members SET linked_to = ?
                 WHERE company_key = ? AND contact_id = ?",
            ),
            company_link_deal: d.render(
                "UPDATE stripe2hubspot_company_deals SET linked_to = ?
                 WHERE company_key = ? AND deal_id = ?",
            ),
            company_forget: d.render(
                "UPDATE stripe2hubspot_companies SET hubspot_id = NULL,
                    generation = generation + 1, updated_at = ?
                 WHERE company_key = ?",
            ),
            company_unlink_members: d.render(
                "UPDATE stripe2hubspot_company_members SET linked_to = NULL WHERE company_key = ?",
            ),
            company_unlink_deals: d.render(
                "UPDATE stripe2hubspot_company_deals SET linked_to = NULL WHERE company_key = ?",
            ),
            // A redelivery (same deal, same fingerprint) changes nothing.
            line_items_note: d.render(
                "INSERT INTO stripe2hubspot_line_item_work
                    (payment_key, deal_id, fingerprint, generation, written_generation, updated_at)
                 VALUES (?, ?, ?, 1, 0, ?)
                 ON CONFLICT (payment_key) DO UPDATE SET deal_id = excluded.deal_id,
                    fingerprint = excluded.fingerprint,
                    generation = stripe2hubspot_line_item_work.generation + 1,
                    updated_at = excluded.updated_at
                 WHERE stripe2hubspot_line_item_work.deal_id <> excluded.deal_id
                    OR stripe2hubspot_line_item_work.fingerprint <> excluded.fingerprint",
            ),
            line_items_pending: d.render(
                "SELECT payment_key, deal_id, generation FROM stripe2hubspot_line_item_work
                 WHERE generation > written_generation ORDER BY payment_key LIMIT ?",
            ),
            line_items_mark_written: d.render(
                "UPDATE stripe2hubspot_line_item_work SET
                    written_generation = {greatest}(written_generation, ?)
                 WHERE payment_key = ?",
            ),
            portal_revision: d
                .render("SELECT revision FROM stripe2hubspot_portal_revision WHERE id = 1"),
            // First in every portal write: the row lock makes portal writers of every process
            // take turns, so they cannot deadlock on accounts locked in different orders.
            portal_bump: d.render(
                "UPDATE stripe2hubspot_portal_revision SET revision = revision + 1 WHERE id = 1",
            ),
            // DO NOTHING rather than an error: a concurrent insert of the same key waits for
            // the other transaction and then changes no row, which tells the loser cleanly.
            portal_insert: d.render(
                "INSERT INTO stripe2hubspot_portals (id, token, rate_limit, hubspot_base_url,
                    api_version, paused, webhook_secrets, mapping, alert_url, created_at,
                    updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (id) DO NOTHING",
            ),
            // A NULL bind keeps the stored value.
            portal_update: d.render(
                "UPDATE stripe2hubspot_portals SET token = COALESCE(?, token),
                    rate_limit = COALESCE(?, rate_limit),
                    hubspot_base_url = COALESCE(?, hubspot_base_url),
                    api_version = COALESCE(?, api_version),
                    paused = COALESCE(?, paused),
                    webhook_secrets = COALESCE(?, webhook_secrets),
                    mapping = COALESCE(?, mapping),
                    alert_url = COALESCE(?, alert_url),
                    updated_at = ?
                 WHERE id = ?",
            ),
            portal_delete: d.render("DELETE FROM stripe2hubspot_portals WHERE id = ?"),
            portal_account_insert: d.render(
                "INSERT INTO stripe2hubspot_portal_accounts (account, portal_id) VALUES (?, ?)
                 ON CONFLICT (account) DO NOTHING",
            ),
            portal_account_owner: d.render(
                "SELECT portal_id FROM stripe2hubspot_portal_accounts WHERE account = ?",
            ),
            portal_accounts_delete: d
                .render("DELETE FROM stripe2hubspot_portal_accounts WHERE portal_id = ?"),
            portal_rows_all: d.render(&PORTAL_ROWS.replace("{where}", "")),
            portal_rows_one: d.render(&PORTAL_ROWS.replace("{where}", "WHERE p.id = ?")),
            portal_rows_of_account: d.render(&PORTAL_ROWS.replace(
                "{where}",
                "WHERE p.id = (SELECT portal_id FROM stripe2hubspot_portal_accounts
                    WHERE account = ?)",
            )),
            // A report of the leader, not a change of configuration: no revision raised.
            portal_record_paused: d
                .render("UPDATE stripe2hubspot_portals SET paused = ? WHERE id = ?"),
            processes_forget_expired: d
                .render("DELETE FROM stripe2hubspot_processes WHERE alive_until <= ?"),
            process_announce: d.render(
                "INSERT INTO stripe2hubspot_processes (process_id, alive_until) VALUES (?, ?)
                 ON CONFLICT (process_id) DO UPDATE SET alive_until = excluded.alive_until",
            ),
            processes: d.render("SELECT process_id, alive_until FROM stripe2hubspot_processes"),
            process_forget: d
                .render("DELETE FROM stripe2hubspot_processes WHERE process_id = ?"),
            leases: d.render(
                "SELECT portal_id, holder, generation, expires_at FROM stripe2hubspot_portal_leases",
            ),
            // One statement, so of two processes taking one free or expired lease exactly one
            // wins (the other's update finds the winner's live row and changes nothing). The
            // holder renewing its live lease keeps the generation; any other take raises it.
            // A released lease has no holder and expired at 0.
            lease_acquire: d.render(
                "INSERT INTO stripe2hubspot_portal_leases (portal_id, holder, generation, expires_at)
                 VALUES (?, ?, 1, ?)
                 ON CONFLICT (portal_id) DO UPDATE SET
                    generation = CASE
                        WHEN stripe2hubspot_portal_leases.holder = excluded.holder
                         AND stripe2hubspot_portal_leases.expires_at > ?
                        THEN stripe2hubspot_portal_leases.generation
                        ELSE stripe2hubspot_portal_leases.generation + 1 END,
                    holder = excluded.holder,
                    expires_at = excluded.expires_at
                 WHERE stripe2hubspot_portal_leases.holder = excluded.holder
                    OR stripe2hubspot_portal_leases.holder = ''
                    OR stripe2hubspot_portal_leases.expires_at <= ?
                 RETURNING generation",
            ),
            lease_renew_all: d.render(
                "UPDATE stripe2hubspot_portal_leases SET expires_at = ?
                 WHERE holder = ? AND expires_at > ?
                 RETURNING portal_id, generation",
            ),
            lease_release: d.render(
                "UPDATE stripe2hubspot_portal_leases SET holder = '', expires_at = 0
                 WHERE portal_id = ? AND holder = ?",
            ),
            leases_release_all: d.render(
                "UPDATE stripe2hubspot_portal_leases SET holder = '', expires_at = 0
                 WHERE holder = ?",
            ),
            unrouted_insert: d.render(
                "INSERT INTO stripe2hubspot_unrouted
                    (event_id, account, event_type, event_created, payload, received_at)
                 VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT (event_id) DO NOTHING
                 RETURNING id",
            ),
            unrouted_id_of_event: d
                .render("SELECT id FROM stripe2hubspot_unrouted WHERE event_id = ?"),
            unrouted_of_account: d.render(
                "SELECT event_id, event_type, event_created, payload FROM stripe2hubspot_unrouted
                 WHERE account = ? ORDER BY id LIMIT ?",
            ),
            unrouted_forget: d.render("DELETE FROM stripe2hubspot_unrouted WHERE event_id = ?"),
            unrouted_accounts: d.render(
                "SELECT account, COUNT(*) AS events, MIN(received_at) AS oldest
                 FROM stripe2hubspot_unrouted GROUP BY account",
            ),
        }
    }
}

/// Renders a statement in a dialect and, for a namespace, renames its per-portal tables.
struct Render<'a> {
    dialect: &'a Dialect,
    namespace: Option<&'a Namespace>,
}

impl Render<'_> {
    fn render(&self, template: &str) -> String {
        let text = self.dialect.render(template);
        match self.namespace {
            Some(namespace) => namespace.rewrite(&text),
            None => text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::namespace::{identifiers, Namespace, ROOT_ONLY};
    use super::*;

    /// Longest identifier PostgreSQL keeps whole (it truncates longer ones silently).
    const MAX_IDENTIFIER: usize = 63;

    fn every_statement(sql: &Statements) -> String {
        // The Debug form lists every field, so no statement added later escapes the checks.
        // Escaped line breaks (`\\n`) would glue an `n` to the name after them.
        format!("{sql:?}").replace("\\n", " ")
    }

    #[test]
    fn namespaced_names_fit_postgres_and_leave_no_per_portal_table_shared() {
        let dialects = [
            #[cfg(feature = "sqlite")]
            &super::super::dialect::SQLITE,
            #[cfg(feature = "postgres")]
            &super::super::dialect::POSTGRES,
        ];
        for dialect in dialects {
            let root = every_statement(&Statements::new(dialect, None));
            for id in [
                "a",
                "acme-eu",
                &"z".repeat(20),
                &"9".repeat(21),
                &"a-".repeat(31),
            ] {
                let ns = Namespace::new(id).unwrap();
                let sql = Statements::new(dialect, Some(&ns));
                let text = every_statement(&sql);
                for name in identifiers(&text) {
                    assert!(name.len() <= MAX_IDENTIFIER, "{name} is too long");
                    assert!(
                        ROOT_ONLY.contains(&name)
                            || name.starts_with(&format!(
                                "stripe2hubspot_{}_",
                                super::super::namespace::tag(id)
                            )),
                        "{name} is shared by namespace {id}"
                    );
                }
                assert_eq!(
                    sql.migrations.len(),
                    MIGRATIONS.len(),
                    "versions stay aligned"
                );
                assert!(!sql
                    .migrations
                    .iter()
                    .flatten()
                    .any(|s| super::super::namespace::touches_root(s)));
                assert!(sql.tables.iter().any(|t| t.ends_with("_jobs")));
                assert!(sql
                    .tables
                    .last()
                    .is_some_and(|t| t.ends_with("_schema_version")));
            }
            for name in identifiers(&root) {
                let tail = name.trim_start_matches("stripe2hubspot_");
                assert!(
                    !(tail.starts_with("px_")
                        || tail.starts_with('p')
                            && tail[1..].starts_with(|c: char| c.is_ascii_digit())),
                    "the root store's names stay as they were: {name}"
                );
            }
        }
    }
}
