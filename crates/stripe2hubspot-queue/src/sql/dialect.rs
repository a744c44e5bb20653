//! What SQLite and PostgreSQL spell differently; everything else is shared SQL.

/// The differences between the SQL engines, as text spliced into the shared statements.
#[derive(Debug)]
pub(crate) struct Dialect {
    /// Named in error messages.
    pub(crate) name: &'static str,
    /// `$1, $2, ...` instead of `?` placeholders.
    pub(crate) numbered_placeholders: bool,
    /// The two-argument maximum: `MAX` (SQLite) or `GREATEST` (PostgreSQL).
    pub(crate) greatest: &'static str,
    /// The auto-incrementing 64-bit primary key column type.
    pub(crate) id_column: &'static str,
    /// The 64-bit integer column type.
    pub(crate) integer: &'static str,
    /// The byte string column type.
    pub(crate) bytes: &'static str,
    /// Opens a write transaction. SQLite's `IMMEDIATE` takes the write lock up front, so two
    /// writers queue instead of failing on lock upgrade.
    pub(crate) begin_write: &'static str,
    /// Opens a read-only transaction whose statements all see one snapshot, so the company
    /// work read by several statements is consistent even while another process writes.
    /// SQLite's deferred transaction reads one snapshot already.
    pub(crate) begin_snapshot: &'static str,
    /// Appended to the claim's row selection so concurrent claimers skip each other's rows
    /// instead of waiting (SQLite has one writer, so nothing to skip).
    pub(crate) skip_locked: &'static str,
    /// Run first in every ledger merge transaction so merges from several processes (the
    /// syncer, a backfill) take turns: two merges of one new payment would otherwise both
    /// insert its row and one would lose the other's facts. Empty where the write
    /// transaction already excludes other writers (SQLite).
    pub(crate) ledger_lock: &'static str,
    /// Run first in every migration transaction so that processes migrating one database at
    /// once take turns (the second finds the work done). Empty where the write transaction
    /// already excludes other writers (SQLite).
    pub(crate) migration_lock: &'static str,
    /// The customer id (`cus_...`) of a payment row, read from its `row_json` column (used by
    /// the migration that groups payments by customer).
    pub(crate) row_customer_id: &'static str,
    /// The channel on which stored jobs are announced with [`NOTIFY_ENQUEUED`] in the
    /// transaction that stores or replays them, waking workers of other processes when it
    /// commits; `None` where only this process can see the file.
    pub(crate) enqueued_channel: Option<&'static str>,
}

/// Announces stored jobs on the channel bound to `$1` (PostgreSQL only).
pub(crate) const NOTIFY_ENQUEUED: &str = "SELECT pg_notify($1, '')";

/// The PostgreSQL channel on which stored jobs are announced. One name for every schema: a
/// worker woken by another schema's queue finds nothing and waits again.
#[cfg(feature = "postgres")]
pub(crate) const ENQUEUED_CHANNEL: &str = "stripe2hubspot_enqueued";

#[cfg(feature = "sqlite")]
pub(crate) const SQLITE: Dialect = Dialect {
    name: "SQLite",
    numbered_placeholders: false,
    greatest: "MAX",
    id_column: "INTEGER PRIMARY KEY AUTOINCREMENT",
    integer: "INTEGER",
    bytes: "BLOB",
    begin_write: "BEGIN IMMEDIATE",
    begin_snapshot: "BEGIN",
    skip_locked: "",
    ledger_lock: "",
    migration_lock: "",
    row_customer_id: "json_extract(row_json, '$.customer_id.value')",
    enqueued_channel: None,
};

#[cfg(feature = "postgres")]
pub(crate) const POSTGRES: Dialect = Dialect {
    name: "PostgreSQL",
    numbered_placeholders: true,
    greatest: "GREATEST",
    id_column: "BIGSERIAL PRIMARY KEY",
    integer: "BIGINT",
    bytes: "BYTEA",
    begin_write: "BEGIN",
    begin_snapshot: "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
    skip_locked: "FOR UPDATE SKIP LOCKED",
    // The key is the ASCII of "S2HLEDGR", so it does not collide with other advisory locks.
    ledger_lock: "SELECT pg_advisory_xact_lock(5994933546400368466)",
    // The key every version of this crate used (0x5332_4855_4253_5154), so a process of an
    // older version migrating at the same moment takes turns with this one.
    migration_lock: "SELECT pg_advisory_xact_lock(5994933585005728084)",
    row_customer_id: "(row_json::jsonb -> 'customer_id' ->> 'value')",
    enqueued_channel: Some(ENQUEUED_CHANNEL),
};

impl Dialect {
    /// `template` in this dialect: `{int}`, `{bytes}`, `{id}`, `{greatest}`, `{skip_locked}`
    /// and `{row_customer_id}` replaced, and each `?` numbered if the engine wants `$n`. The shared statements hold no
    /// `?` inside string literals, so a plain scan is exact.
    pub(crate) fn render(&self, template: &str) -> String {
        let text = template
            .replace("{int}", self.integer)
            .replace("{bytes}", self.bytes)
            .replace("{id}", self.id_column)
            .replace("{greatest}", self.greatest)
            .replace("{skip_locked}", self.skip_locked)
            .replace("{row_customer_id}", self.row_customer_id);
        if !self.numbered_placeholders {
            return text;
        }
        let mut out = String::with_capacity(text.len() + 16);
        let mut n = 0;
        for c in text.chars() {
            if c == '?' {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            } else {
                out.push(c);
            }
        }
        out
    }
}

#[cfg(all(test, feature = "postgres"))]
mod tests {
    use super::POSTGRES;

    #[test]
    fn postgres_numbers_placeholders_in_order() {
        assert_eq!(
            POSTGRES.render("SELECT {greatest}(?, ?) FROM t WHERE x = ? {skip_locked}"),
            "SELECT GREATEST($1, $2) FROM t WHERE x = $3 FOR UPDATE SKIP LOCKED"
        );
    }
}
