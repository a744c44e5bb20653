//! Per-portal namespaces of the SQL backends (issue 23): portal `id`'s own data lives in the
//! same schema as everything else, in tables (and indexes) whose names carry a tag derived from
//! the id, so every portal has the whole per-portal schema to itself while all of them share
//! one pool.
//!
//! `stripe2hubspot_jobs` becomes `stripe2hubspot_<tag>_jobs`, where the tag is
//! - `p<len>_<id>` for an id of at most [`SHORT_ID`] characters (`-` written `_`; the length
//!   makes the split between tag and table name unambiguous, so `a-company` + `deals` never
//!   meets `a` + `company_deals`), e.g. `stripe2hubspot_p7_acme_eu_jobs`;
//! - `px_<first 6 characters>_<56-bit hash of the id>` for a longer one, so that every name
//!   stays within PostgreSQL's 63-byte identifiers (it truncates longer ones silently, which
//!   would merge two portals' tables).
//!
//! The root-only tables (the portals, their accounts and revision, leases, processes and
//! unrouted events) are never renamed: every namespace shares the root's.

use std::collections::HashMap;
use std::sync::Arc;

use super::coalesce::Coalescer;
use super::statements::Statements;
use crate::{validate_portal_id, QueueError, DEFAULT_PORTAL};

/// What every table and index name of the schema starts with.
pub(crate) const BASE: &str = "stripe2hubspot_";

/// Tables shared by every portal, kept by the root store alone: never renamed, and the
/// migration statements that touch them are skipped in a namespace. (Their indexes need no
/// entry: a statement creating one names its table, so it is skipped with it.)
pub(crate) const ROOT_ONLY: &[&str] = &[
    "stripe2hubspot_portals",
    "stripe2hubspot_portal_accounts",
    "stripe2hubspot_portal_revision",
    "stripe2hubspot_portal_leases",
    "stripe2hubspot_processes",
    "stripe2hubspot_unrouted",
];

/// Longest id written as is in the tag (longer ones are cut and hashed): `p20_` and 20
/// characters make the 24 bytes every long tag takes.
pub(crate) const SHORT_ID: usize = 20;

/// One portal's namespace: how its statements are renamed.
#[derive(Debug, Clone)]
pub(crate) struct Namespace {
    id: String,
    tag: String,
}

impl Namespace {
    /// The namespace of a valid portal id other than [`DEFAULT_PORTAL`] (whose data are the
    /// root's own tables).
    pub(crate) fn new(id: &str) -> Result<Self, QueueError> {
        validate_portal_id(id).map_err(|e| QueueError::Config {
            message: e.to_string(),
        })?;
        if id == DEFAULT_PORTAL {
            return Err(QueueError::Config {
                message: format!(
                    "portal {DEFAULT_PORTAL:?} keeps its data in the store's own tables: use the store itself (Store::portal does)"
                ),
            });
        }
        Ok(Self {
            id: id.to_owned(),
            tag: tag(id),
        })
    }

    /// The portal id.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// `sql` with every per-portal table and index name renamed into this namespace.
    pub(crate) fn rewrite(&self, sql: &str) -> String {
        let mut out = String::with_capacity(sql.len() + 64);
        let mut rest = sql;
        while let Some(at) = rest.find(BASE) {
            let (before, from) = rest.split_at(at);
            out.push_str(before);
            let len = from.find(|c: char| !is_ident(c)).unwrap_or(from.len());
            let name = &from[..len];
            // `x_stripe2hubspot_...` is some other identifier that merely contains the base.
            let whole = !out.ends_with(is_ident);
            match name.strip_prefix(BASE) {
                Some(table) if whole && !ROOT_ONLY.contains(&name) => {
                    out.push_str(BASE);
                    out.push_str(&self.tag);
                    out.push('_');
                    out.push_str(table);
                }
                _ => out.push_str(name),
            }
            rest = &from[len..];
        }
        out.push_str(rest);
        out
    }

    /// The key of the advisory lock that makes this portal's ledger writers take turns:
    /// another portal's merges never wait for them. (A collision of two portals' keys would
    /// only make them take turns too.)
    pub(crate) fn ledger_lock_key(&self) -> i64 {
        i64::from_ne_bytes(
            fnv1a(format!("stripe2hubspot ledger {}", self.id).as_bytes()).to_ne_bytes(),
        )
    }
}

/// The tag of portal `id`'s names (see the module doc).
pub(crate) fn tag(id: &str) -> String {
    let plain: String = id.chars().map(|c| if c == '-' { '_' } else { c }).collect();
    if plain.len() <= SHORT_ID {
        format!("p{}_{plain}", plain.len())
    } else {
        let head: String = plain.chars().take(6).collect();
        format!("px_{head}_{:014x}", fnv1a(id.as_bytes()) >> 8)
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The schema identifiers (`stripe2hubspot_...`) `sql` names.
pub(crate) fn identifiers(sql: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut offset = 0;
    while let Some(at) = sql[offset..].find(BASE) {
        let start = offset + at;
        let len = sql[start..]
            .find(|c: char| !is_ident(c))
            .unwrap_or(sql.len() - start);
        if !sql[..start].ends_with(is_ident) {
            found.push(&sql[start..start + len]);
        }
        offset = start + len;
    }
    found
}

/// Whether `sql` touches a root-only table (so a namespace skips it in its migrations).
pub(crate) fn touches_root(sql: &str) -> bool {
    identifiers(sql).iter().any(|name| ROOT_ONLY.contains(name))
}

/// The tables a list of migrations leaves behind (created and not dropped again), in order of
/// creation: what dropping a namespace must remove.
pub(crate) fn tables_of(migrations: &[Vec<String>]) -> Vec<String> {
    let mut tables: Vec<String> = Vec::new();
    for statement in migrations.iter().flatten() {
        let words: Vec<&str> = statement.split_whitespace().take(3).collect();
        match words.as_slice() {
            ["CREATE", "TABLE", name] => tables.push(name.trim_end_matches('(').to_owned()),
            ["DROP", "TABLE", name] => tables.retain(|t| t != name),
            _ => {}
        }
    }
    tables
}

/// FNV-1a, 64 bits: a hash fixed by its definition, so a portal's names and lock key are the
/// same in every build and every process.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// A namespace opened in this process: its statements and its coalescing writer.
#[derive(Debug, Clone)]
pub(crate) struct Opened {
    pub(crate) sql: Arc<Statements>,
    pub(crate) writer: Option<Coalescer>,
}

/// The namespaces a root store (and its clones) opened: each migrated once per process, its
/// statements rendered once, one writer each. Holds no store, so dropping the last handle of
/// the root ends every writer task.
#[derive(Default)]
pub(crate) struct Namespaces {
    /// Held while a namespace is migrated or dropped, so that happens once at a time.
    pub(crate) open: tokio::sync::Mutex<HashMap<String, Opened>>,
}

impl std::fmt::Debug for Namespaces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespaces").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_are_kept_readable_and_long_ones_hashed() {
        assert_eq!(tag("acme-eu"), "p7_acme_eu");
        assert_eq!(tag(&"a".repeat(20)), format!("p20_{}", "a".repeat(20)));
        let long = tag(&"a".repeat(63));
        assert!(long.starts_with("px_aaaaaa_"), "{long}");
        assert_eq!(long.len(), 24);
        assert_eq!(tag(&"a".repeat(21)).len(), 24);
        // Deterministic: the same names in every process and build.
        assert_eq!(long, tag(&"a".repeat(63)));
        assert_ne!(long, tag(&format!("{}b", "a".repeat(62))));
    }

    #[test]
    fn tags_split_unambiguously_from_table_names() {
        // `a-company` + `deals` (a table of migration 1) against `a` + `company_deals`.
        let one = Namespace::new("a-company").unwrap();
        let two = Namespace::new("a").unwrap();
        assert_ne!(
            one.rewrite("stripe2hubspot_deals"),
            two.rewrite("stripe2hubspot_company_deals")
        );
    }

    #[test]
    fn rewriting_renames_per_portal_names_only() {
        let ns = Namespace::new("acme-eu").unwrap();
        assert_eq!(
            ns.rewrite(
                "UPDATE stripe2hubspot_ledger SET x = stripe2hubspot_ledger.x FROM stripe2hubspot_portals, my_stripe2hubspot_jobs"
            ),
            "UPDATE stripe2hubspot_p7_acme_eu_ledger SET x = stripe2hubspot_p7_acme_eu_ledger.x FROM stripe2hubspot_portals, my_stripe2hubspot_jobs"
        );
        assert!(touches_root(
            "INSERT INTO stripe2hubspot_portal_revision VALUES (1)"
        ));
        assert!(!touches_root(
            "CREATE TABLE stripe2hubspot_portal_x (a int)"
        ));
        assert!(Namespace::new(DEFAULT_PORTAL).is_err());
        assert!(Namespace::new("Not A Slug").is_err());
    }

    #[test]
    fn dropped_tables_are_not_left_to_drop() {
        let migrations = vec![
            vec![
                "CREATE TABLE a (x int)".to_owned(),
                "CREATE TABLE b(".to_owned(),
            ],
            vec![
                "DROP TABLE a".to_owned(),
                "CREATE INDEX i ON b (x)".to_owned(),
            ],
        ];
        assert_eq!(tables_of(&migrations), ["b"]);
    }
}
