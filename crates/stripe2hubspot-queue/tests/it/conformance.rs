//! The shared conformance suite against every backend built in.
//!
//! PostgreSQL runs when `STRIPE2HUBSPOT_TEST_POSTGRES_URL` is set (each test in its own schema);
//! otherwise those tests print a skip notice and pass.

use stripe2hubspot_queue::{conformance, Store};

/// One `#[tokio::test]` per check for a backend; `$make` is an async fn
/// `(test_name) -> Option<(Store, Guard)>` (None: backend skipped).
macro_rules! suite {
    ($make:path) => {
        suite!(@one $make, dedupe);
        suite!(@one $make, ordering);
        suite!(@one $make, lease_expiry);
        suite!(@one $make, answered_lease_is_spent);
        suite!(@one $make, retry_attempts);
        suite!(@one $make, dead_letter_and_replay);
        suite!(@one $make, stats);
        suite!(@one $make, purge_keeps_recent);
        suite!(@one $make, purge_dead_letters);
        suite!(@one $make, renew);
        suite!(@one $make, complete_all);
        suite!(@one $make, ledger_merge_order);
        suite!(@one $make, ledger_alias_merge);
        suite!(@one $make, ledger_versions);
        suite!(@one $make, ledger_reset_written);
        suite!(@one $make, ledger_contact_rows);
        suite!(@one $make, ledger_previous_contacts);
        suite!(@one $make, ledger_merge_keeps_newer_marks);
        suite!(@one $make, enqueue_signal);
        suite!(@one $make, ledger_pages);
        suite!(@one $make, checkpoints);
        suite!(@one $make, operator_pause);
        suite!(@one $make, contact_marks);
        suite!(@one $make, customer_merge_order);
        suite!(@one $make, customer_marks_and_pages);
        suite!(@one $make, customer_payments_share_a_contact);
        suite!(@one $make, guest_payment_joins_customer);
        suite!(@one $make, payment_without_email_takes_its_customers);
        suite!(@one $make, erase_customer_forgets_the_person);
        suite!(@one $make, contact_marks_forgotten);
        suite!(@one $make, company_members_and_dirtiness);
        suite!(@one $make, company_note_during_write_stays_dirty);
        suite!(@one $make, company_moves_bump_both);
        suite!(@one $make, company_links_pending_after_forget);
        suite!(@one $make, company_membership_erased);
        suite!(@one $make, line_items_pend_on_change_only);
        suite!(@one $make, portal_crud);
        suite!(@one $make, portal_id_taken);
        suite!(@one $make, portal_account_claimed);
        suite!(@one $make, portal_set_replaces_accounts);
        suite!(@one $make, portal_remove_frees_accounts);
        suite!(@one $make, portal_validation);
        suite!(@one $make, portal_token_never_shown);
        suite!(@one $make, namespace_isolation);
        suite!(@one $make, namespace_long_ids);
        suite!(@one $make, portal_fields_round_trip);
        suite!(@one $make, portal_record_paused);
        suite!(@one $make, portal_leases);
        suite!(@one $make, process_heartbeats);
        suite!(@one $make, unrouted_events);

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn concurrent_lease_claims_one_handle() {
            let Some((q, _guard)) = $make("lease_claims").await else { return };
            if let Err(e) = conformance::concurrent_lease_claims(&[q]).await {
                panic!("{e}");
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn concurrent_portal_claims_one_handle() {
            let Some((q, _guard)) = $make("portal_claims").await else { return };
            if let Err(e) = conformance::concurrent_portal_claims(&[q]).await {
                panic!("{e}");
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn concurrent_8_producers_10k_jobs_4_workers() {
            let Some((q, _guard)) = $make("concurrent").await else { return };
            if let Err(e) = conformance::concurrent(q, 8, 10_000, 4).await {
                panic!("{e}");
            }
        }
    };
    (@one $make:path, $check:ident) => {
        #[tokio::test]
        async fn $check() {
            let Some((q, _guard)) = $make(stringify!($check)).await else { return };
            if let Err(e) = conformance::$check(&q).await {
                panic!("{e}");
            }
        }
    };
}

/// Helpers for the backend-specific tests of the customer ledger below.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod customer_help {
    use serde_json::json;
    use stripe2hubspot_map::{
        CustomerContact, CustomerFacts, Facts, LedgerRow, MappingConfig, Personal, Stamp,
        SubscriptionFacts,
    };
    use stripe2hubspot_queue::{ContactMark, Store};

    /// A paid USD charge by `email`, of `customer` (none: a guest).
    pub fn payment(event: &str, charge: &str, customer: Option<&str>, email: &str) -> Facts {
        serde_json::from_value(json!({
            "stamp": {"created": 100, "event_id": event},
            "ids": {"charge": charge},
            "contact": {"email": email, "customer_id": customer},
            "currency": "usd", "authorized": 500, "captured": 500, "succeeded": true,
            "fully_refunded": false, "disputed": false, "metadata": {},
        }))
        .expect("a valid fact")
    }

    /// A customer event at `created` giving `email`, with subscription `sub_{created}`.
    pub fn customer_event(customer: &str, created: i64, email: &str) -> CustomerFacts {
        let subscription: SubscriptionFacts = serde_json::from_value(json!({
            "id": format!("sub_{created}"), "status": "active", "currency": "usd",
            "items": [], "discounts": [], "current_period_end": null, "trial_end": null,
            "cancel_at": null, "ended_at": null, "started_at": created,
        }))
        .expect("a valid subscription");
        CustomerFacts {
            stamp: Stamp {
                created,
                event_id: format!("evt_{customer}_{created}"),
            },
            customer_id: customer.to_owned(),
            contact: Some(CustomerContact {
                email: Some(Personal::new(email)),
                name: None,
                phone: None,
                business_name: None,
            }),
            deleted: false,
            subscription: Some(subscription),
        }
    }

    /// The payment keys indexed under `contact_key`, sorted.
    pub async fn keys_under(store: &Store, contact_key: &str) -> Vec<String> {
        let rows = store
            .state
            .contact_rows(contact_key)
            .await
            .expect("contact rows");
        let mut keys: Vec<String> = rows
            .iter()
            .filter_map(LedgerRow::key)
            .map(str::to_owned)
            .collect();
        keys.sort();
        keys
    }

    /// A customer's payment and a guest's, merged.
    /// And the contact mark of each email key.
    pub async fn two_payments(store: &Store) {
        let facts = [
            payment("evt_m", "ch_m", Some("cus_m"), "m@example.com"),
            payment("evt_n", "ch_n", None, "n@example.com"),
        ];
        store
            .state
            .merge_facts(&facts, &MappingConfig::default())
            .await
            .expect("merge");
        let mark = |key: &str| ContactMark {
            contact_key: key.to_owned(),
            contact_id: "1".into(),
            properties_hash: "h".into(),
        };
        store
            .state
            .record_contact_marks(&[mark("email=m@example.com"), mark("email=n@example.com")])
            .await
            .expect("marks");
    }

    /// After migration 6 ran again over a ledger that grouped the customer's payment by its
    /// email: the payment is under the customer's key, the guest's stays under its email.
    pub async fn assert_regrouped(store: &Store) {
        assert_eq!(keys_under(store, "customer=cus_m").await, ["ch_m"]);
        assert!(keys_under(store, "email=m@example.com").await.is_empty());
        assert_eq!(keys_under(store, "email=n@example.com").await, ["ch_n"]);
        let marks = store
            .state
            .contact_marks(&["email=m@example.com".into(), "email=n@example.com".into()])
            .await
            .expect("marks");
        assert_eq!(
            marks.keys().collect::<Vec<_>>(),
            ["email=n@example.com"],
            "the mark of the email key the customer's payment left is dropped, the guest's kept"
        );
        // A customer known only by payments stored before the customer ledger is erased too.
        let config = MappingConfig::default();
        let erasure = store
            .state
            .erase_customer("cus_m", &config)
            .await
            .expect("erase");
        assert_eq!(erasure.payments, 1);
        let row = store
            .state
            .ledger_entry("ch_m")
            .await
            .expect("read")
            .expect("row");
        assert_eq!((row.row.email(), row.row.captured()), (None, Some(500)));
        let customers = store
            .state
            .customers(&["cus_m".into()])
            .await
            .expect("read");
        assert!(customers.get("cus_m").is_some_and(|c| c.row.is_deleted()));
    }

    /// Statements that turn a migrated store back into one of schema 5 whose customer
    /// payment `ch_m` is grouped by its email, as before this change.
    pub const BACK_TO_SCHEMA_5: [&str; 16] = [
        "UPDATE stripe2hubspot_ledger SET contact_key = 'email=m@example.com' WHERE payment_key = 'ch_m'",
        "DROP TABLE stripe2hubspot_customers",
        "DROP TABLE stripe2hubspot_companies",
        "DROP TABLE stripe2hubspot_company_members",
        "DROP TABLE stripe2hubspot_company_deals",
        "DROP TABLE stripe2hubspot_line_item_work",
        "DROP TABLE stripe2hubspot_portals",
        "DROP TABLE stripe2hubspot_portal_accounts",
        "DROP TABLE stripe2hubspot_portal_revision",
        "DROP TABLE stripe2hubspot_portal_leases",
        "DROP TABLE stripe2hubspot_processes",
        "DROP TABLE stripe2hubspot_unrouted",
        "DELETE FROM stripe2hubspot_schema_version WHERE version = 9",
        "DELETE FROM stripe2hubspot_schema_version WHERE version = 8",
        "DELETE FROM stripe2hubspot_schema_version WHERE version = 7",
        "DELETE FROM stripe2hubspot_schema_version WHERE version = 6",
    ];
}

mod memory {
    use super::*;
    use stripe2hubspot_queue::MemoryQueue;

    async fn make(_: &str) -> Option<(Store, ())> {
        Some((Store::new(MemoryQueue::new()), ()))
    }

    suite!(make);

    #[tokio::test]
    async fn namespace_dropped_elsewhere() {
        let store = Store::new(MemoryQueue::new());
        if let Err(e) = conformance::namespace_dropped_elsewhere(&store, &store).await {
            panic!("{e}");
        }
    }

    #[tokio::test]
    async fn run_all_passes() {
        let r = conformance::run_all(|| async { Store::new(MemoryQueue::new()) }).await;
        assert!(r.is_ok(), "{r:?}");
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use stripe2hubspot_queue::SqliteQueue;

    async fn make(_: &str) -> Option<(Store, tempfile::TempDir)> {
        let dir = tempfile::tempdir().expect("temp dir");
        let q = SqliteQueue::open(dir.path().join("queue.db"))
            .await
            .expect("open sqlite queue");
        Some((Store::new(q), dir))
    }

    suite!(make);

    /// Two handles on one file, as two processes have.
    #[tokio::test]
    async fn namespace_dropped_elsewhere() {
        let (store, dir) = make("dropped_elsewhere").await.expect("sqlite");
        let other = Store::new(
            SqliteQueue::open(dir.path().join("queue.db"))
                .await
                .expect("second handle"),
        );
        if let Err(e) = conformance::namespace_dropped_elsewhere(&store, &other).await {
            panic!("{e}");
        }
    }

    /// Every table of the SQLite file, every column read as text: none mentions the erased
    /// person after `erase_customer`.
    #[tokio::test]
    async fn erasure_leaves_the_person_in_no_table() {
        use sqlx::{ConnectOptions, Row};
        let (store, dir) = make("erasure_scan").await.expect("sqlite");
        if let Err(e) = conformance::erase_customer_forgets_the_person(&store).await {
            panic!("{e}");
        }
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(dir.path().join("queue.db"))
            .connect()
            .await
            .expect("open the file");
        let tables: Vec<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
                .fetch_all(&mut conn)
                .await
                .expect("tables");
        assert!(tables.iter().any(|t| t == "stripe2hubspot_customers"));
        let mut scanned = 0;
        for table in &tables {
            let columns = sqlx::query("SELECT name FROM pragma_table_info(?)")
                .bind(table)
                .fetch_all(&mut conn)
                .await
                .expect("columns");
            for column in columns {
                let column: String = column.get("name");
                for needle in [conformance::ERASED_EMAIL, conformance::ERASED_NAME] {
                    let hits: i64 = sqlx::query_scalar(&format!(
                        "SELECT COUNT(*) FROM \"{table}\"
                         WHERE instr(lower(CAST(\"{column}\" AS TEXT)), lower(?)) > 0"
                    ))
                    .bind(needle)
                    .fetch_one(&mut conn)
                    .await
                    .expect("scan");
                    assert_eq!(hits, 0, "{table}.{column} still holds the person");
                    scanned += 1;
                }
            }
        }
        assert!(scanned > 20, "scanned only {scanned} columns");
    }

    /// Migration 6 groups payments stored before it by their customer (SQL on the stored
    /// JSON), and leaves guest payments under their email.
    #[tokio::test]
    async fn migration_6_regroups_stored_payments_by_customer() {
        use sqlx::ConnectOptions;
        let (store, dir) = make("regroup").await.expect("sqlite");
        customer_help::two_payments(&store).await;
        drop(store);
        let path = dir.path().join("queue.db");
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .connect()
            .await
            .expect("open the file");
        for statement in customer_help::BACK_TO_SCHEMA_5 {
            sqlx::query(statement)
                .execute(&mut conn)
                .await
                .expect(statement);
        }
        drop(conn);
        let store = Store::new(SqliteQueue::open(&path).await.expect("reopen"));
        customer_help::assert_regrouped(&store).await;
    }
}

/// A store of schema 8 (portals without their own secrets, no leases, no unrouted events)
/// opens with its portals intact and gains migration 9.
#[cfg(feature = "sqlite")]
#[tokio::test]
async fn a_schema_8_store_keeps_its_portals_through_migration_9() {
    use sqlx::ConnectOptions;
    use stripe2hubspot_queue::SqliteQueue;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("queue.db");
    let store = Store::new(SqliteQueue::open(&path).await.expect("open"));
    let stored = store
        .portals
        .add(conformance::portal("acme", &["acct_1"]))
        .await
        .expect("add");
    drop(store);
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .connect()
        .await
        .expect("open the file");
    for statement in [
        "ALTER TABLE stripe2hubspot_portals DROP COLUMN webhook_secrets",
        "ALTER TABLE stripe2hubspot_portals DROP COLUMN mapping",
        "ALTER TABLE stripe2hubspot_portals DROP COLUMN alert_url",
        "DROP TABLE stripe2hubspot_portal_leases",
        "DROP TABLE stripe2hubspot_processes",
        "DROP TABLE stripe2hubspot_unrouted",
        "DELETE FROM stripe2hubspot_schema_version WHERE version = 9",
    ] {
        sqlx::query(statement)
            .execute(&mut conn)
            .await
            .expect(statement);
    }
    drop(conn);
    let store = Store::new(SqliteQueue::open(&path).await.expect("reopen"));
    let read = store.portals.get("acme").await.expect("get");
    assert_eq!(
        read.as_ref(),
        Some(&stored),
        "the portal survives migration 9"
    );
    assert!(store.leases.leases().await.expect("leases").is_empty());
    assert!(store
        .unrouted
        .unrouted_accounts()
        .await
        .expect("unrouted")
        .is_empty());
}

/// One transaction per enqueue (the benchmark's baseline) must behave the same.
#[cfg(feature = "sqlite")]
mod sqlite_per_job {
    use super::*;
    use stripe2hubspot_queue::{SqliteOptions, SqliteQueue};

    async fn make(_: &str) -> Option<(Store, tempfile::TempDir)> {
        let dir = tempfile::tempdir().expect("temp dir");
        let options = SqliteOptions {
            coalesce: false,
            ..SqliteOptions::default()
        };
        let q = SqliteQueue::open_with(dir.path().join("queue.db"), options)
            .await
            .expect("open sqlite queue");
        Some((Store::new(q), dir))
    }

    suite!(make);
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use stripe2hubspot_queue::{PostgresOptions, PostgresQueue, Queue};

    /// Drops the test's schema when the test ends (also on failure).
    pub struct Schema {
        url: String,
        name: String,
    }

    impl Drop for Schema {
        fn drop(&mut self) {
            let (url, name) = (self.url.clone(), self.name.clone());
            // The test's runtime is shutting down; clean up on a thread of our own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async {
                    if let Ok(pool) = sqlx::PgPool::connect(&url).await {
                        let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
                            .execute(&pool)
                            .await;
                    }
                });
            })
            .join();
        }
    }

    async fn make(test: &str) -> Option<(Store, Schema)> {
        let Ok(url) = std::env::var("STRIPE2HUBSPOT_TEST_POSTGRES_URL") else {
            // CI sets both: there a missing URL is a broken setup, not a reason to skip.
            assert!(
                std::env::var_os("STRIPE2HUBSPOT_REQUIRE_POSTGRES").is_none(),
                "STRIPE2HUBSPOT_REQUIRE_POSTGRES is set but STRIPE2HUBSPOT_TEST_POSTGRES_URL is not"
            );
            eprintln!("skipping PostgreSQL queue test {test}: STRIPE2HUBSPOT_TEST_POSTGRES_URL is not set");
            return None;
        };
        let name = format!("s2h_test_{}_{test}", std::process::id());
        let guard = Schema {
            url: url.clone(),
            name: name.clone(),
        };
        let options = PostgresOptions {
            schema: Some(name),
            ..PostgresOptions::default()
        };
        let q = PostgresQueue::connect_with(&url, options)
            .await
            .expect("connect to PostgreSQL");
        Some((Store::new(q), guard))
    }

    suite!(make);

    /// Every column of every table of the schema (bytes read with escapes, so text in a
    /// payload shows): none mentions the erased person after `erase_customer`.
    #[tokio::test]
    async fn erasure_leaves_the_person_in_no_table() {
        use sqlx::Row;
        let Some((store, guard)) = make("erasure_scan").await else {
            return;
        };
        if let Err(e) = conformance::erase_customer_forgets_the_person(&store).await {
            panic!("{e}");
        }
        let pool = sqlx::PgPool::connect(&guard.url).await.expect("connect");
        let columns = sqlx::query(
            "SELECT table_name::text AS t, column_name::text AS c, data_type::text AS d
             FROM information_schema.columns WHERE table_schema = $1",
        )
        .bind(&guard.name)
        .fetch_all(&pool)
        .await
        .expect("columns");
        assert!(columns.len() > 20, "found only {} columns", columns.len());
        for column in columns {
            let (table, name, kind): (String, String, String) =
                (column.get("t"), column.get("c"), column.get("d"));
            let text = if kind == "bytea" {
                format!("encode(\"{name}\", 'escape')")
            } else {
                format!("\"{name}\"::text")
            };
            for needle in [conformance::ERASED_EMAIL, conformance::ERASED_NAME] {
                let hits: i64 = sqlx::query_scalar(&format!(
                    "SELECT COUNT(*) FROM \"{}\".\"{table}\" WHERE lower({text}) LIKE $1",
                    guard.name
                ))
                .bind(format!("%{}%", needle.to_lowercase()))
                .fetch_one(&pool)
                .await
                .expect("scan");
                assert_eq!(hits, 0, "{table}.{name} still holds the person");
            }
        }
    }

    /// Migration 6 groups payments stored before it by their customer (SQL on the stored
    /// JSON), and leaves guest payments under their email.
    #[tokio::test]
    async fn migration_6_regroups_stored_payments_by_customer() {
        let Some((store, guard)) = make("regroup").await else {
            return;
        };
        customer_help::two_payments(&store).await;
        drop(store);
        let options = || PostgresOptions {
            schema: Some(guard.name.clone()),
            ..PostgresOptions::default()
        };
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .after_connect({
                let schema = guard.name.clone();
                move |conn, _| {
                    let schema = schema.clone();
                    Box::pin(async move {
                        sqlx::query(&format!("SET search_path TO \"{schema}\""))
                            .execute(conn)
                            .await
                            .map(|_| ())
                    })
                }
            })
            .connect(&guard.url)
            .await
            .expect("connect");
        for statement in customer_help::BACK_TO_SCHEMA_5 {
            sqlx::query(statement)
                .execute(&pool)
                .await
                .expect(statement);
        }
        pool.close().await;
        let store = Store::new(
            PostgresQueue::connect_with(&guard.url, options())
                .await
                .expect("reconnect"),
        );
        customer_help::assert_regrouped(&store).await;
    }

    /// Two processes merge events of one new customer (and its payments) at the same time:
    /// the customer merges take turns (the ledger's advisory lock), so no merge overwrites
    /// another's facts: the row holds every subscription and the newest email.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_customer_merges_from_two_processes_lose_nothing() {
        use stripe2hubspot_map::MappingConfig;
        let Some((first, guard)) = make("customer_race").await else {
            return;
        };
        let options = PostgresOptions {
            schema: Some(guard.name.clone()),
            ..PostgresOptions::default()
        };
        let second = Store::new(
            PostgresQueue::connect_with(&guard.url, options)
                .await
                .expect("second connection"),
        );
        let facts: Vec<_> = (0..40)
            .map(|i| {
                customer_help::customer_event("cus_race", 1000 + i, &format!("e{i}@example.com"))
            })
            .collect();
        let mut tasks = Vec::new();
        for (i, fact) in facts.iter().enumerate() {
            let store = if i % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            let fact = fact.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .state
                    .merge_customer_facts(&[fact], &MappingConfig::default())
                    .await
                    .map(|_| ())
            }));
            let store = if i % 2 == 0 {
                second.clone()
            } else {
                first.clone()
            };
            let paid = customer_help::payment(
                &format!("evt_p{i}"),
                &format!("ch_race{i}"),
                Some("cus_race"),
                "payer@example.com",
            );
            tasks.push(tokio::spawn(async move {
                store
                    .state
                    .merge_facts(&[paid], &MappingConfig::default())
                    .await
                    .map(|_| ())
            }));
        }
        for task in tasks {
            task.await.expect("task").expect("merge");
        }
        let stored = first
            .state
            .customers(&["cus_race".to_owned()])
            .await
            .expect("customers")
            .remove("cus_race")
            .expect("the customer's row");
        assert_eq!(stored.row.subscriptions().count(), 40, "a merge lost facts");
        assert_eq!(stored.row.email(), Some("e39@example.com"));
        assert_eq!(
            customer_help::keys_under(&first, "customer=cus_race")
                .await
                .len(),
            40
        );
    }

    /// Two processes note members of one new company at the same time: every note raises the
    /// generation (none is lost to a race), and each member and deal is listed once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_company_notes_from_two_processes_all_count() {
        use stripe2hubspot_map::CompanyKey;
        use stripe2hubspot_queue::CompanyMember;
        let Some((first, guard)) = make("company_race").await else {
            return;
        };
        let options = PostgresOptions {
            schema: Some(guard.name.clone()),
            ..PostgresOptions::default()
        };
        let second = Store::new(
            PostgresQueue::connect_with(&guard.url, options)
                .await
                .expect("second connection"),
        );
        let mut tasks = Vec::new();
        for i in 0..40 {
            let store = if i % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            let member = CompanyMember {
                contact_key: format!("customer=cus_{:02}", i % 10),
                company: Some(CompanyKey::Domain("race.example".into())),
                contact_id: format!("{}", i % 10),
                deal_ids: vec![format!("d{i}")],
            };
            tasks.push(tokio::spawn(async move {
                store.state.note_company_members(&[member]).await
            }));
        }
        for task in tasks {
            task.await.expect("task").expect("note");
        }
        let work = first.state.dirty_companies(10).await.expect("dirty");
        assert_eq!(work.len(), 1);
        assert_eq!(work[0].generation, 40, "a concurrent note was lost");
        assert_eq!(work[0].members.len(), 10);
        assert_eq!(work[0].unlinked_deals.len(), 40);
    }

    /// A portal's data are tables of the store's schema named with the portal's tag; the
    /// store's own tables keep their names; dropping the namespace removes every table of it.
    #[tokio::test]
    async fn a_namespace_is_prefixed_tables_that_drop_namespace_removes() {
        let Some((store, guard)) = make("ns_tables").await else {
            return;
        };
        let pool = sqlx::PgPool::connect(&guard.url).await.expect("connect");
        let tables = |pattern: &'static str| {
            let (pool, schema) = (pool.clone(), guard.name.clone());
            async move {
                sqlx::query_scalar::<_, String>(
                    "SELECT table_name::text FROM information_schema.tables
                     WHERE table_schema = $1 AND table_name LIKE $2 ORDER BY 1",
                )
                .bind(schema)
                .bind(pattern)
                .fetch_all(&pool)
                .await
                .expect("tables")
            }
        };
        let before = tables("stripe2hubspot%").await;
        assert!(
            before.iter().any(|t| t == "stripe2hubspot_jobs"),
            "{before:?}"
        );
        let portal = store.portal("acme-eu").await.expect("open");
        portal
            .queue
            .enqueue(conformance::new_job("evt_1"))
            .await
            .expect("enqueue");
        let own = tables("stripe2hubspot\\_p7\\_acme\\_eu\\_%").await;
        assert!(
            own.iter().any(|t| t == "stripe2hubspot_p7_acme_eu_jobs"),
            "{own:?}"
        );
        assert!(
            own.iter()
                .any(|t| t == "stripe2hubspot_p7_acme_eu_schema_version"),
            "{own:?}"
        );
        assert!(
            !own.iter()
                .any(|t| t.contains("portal") || t.contains("unrouted")),
            "root-only tables are not made per portal: {own:?}"
        );
        let everything = tables("stripe2hubspot%").await;
        assert_eq!(everything.len(), before.len() + own.len(), "{everything:?}");
        store.portals.drop_namespace("acme-eu").await.expect("drop");
        assert!(tables("stripe2hubspot\\_p7\\_%").await.is_empty());
        assert_eq!(tables("stripe2hubspot%").await, before);
    }

    /// A portal's ledger merges take the portal's own advisory lock: they go on while another
    /// transaction holds the store's own (the default portal's) ledger lock.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_portals_ledger_merges_do_not_wait_for_another_portals() {
        use stripe2hubspot_map::MappingConfig;
        let Some((store, guard)) = make("ns_ledger_lock").await else {
            return;
        };
        let portal = store.portal("acme").await.expect("open");
        let pool = sqlx::PgPool::connect(&guard.url).await.expect("connect");
        let mut held = pool.begin().await.expect("begin");
        // The key of the store's own ledger lock (Dialect::ledger_lock).
        sqlx::query("SELECT pg_advisory_xact_lock(5994933546400368466)")
            .execute(&mut *held)
            .await
            .expect("lock");
        let facts = customer_help::payment("evt_1", "ch_1", None, "a@example.com");
        // Generous: a merge takes milliseconds; one waiting for the lock would never end.
        let merged = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            portal
                .state
                .merge_facts(&[facts], &MappingConfig::default()),
        )
        .await;
        held.rollback().await.expect("rollback");
        merged
            .expect("the portal's merge waited for the default portal's lock")
            .expect("merge");
    }

    /// Two processes, each with its own pool: one drops a namespace the other had open.
    #[tokio::test]
    async fn namespace_dropped_elsewhere() {
        let Some((store, guard)) = make("dropped_elsewhere").await else {
            return;
        };
        let options = PostgresOptions {
            schema: Some(guard.name.clone()),
            ..PostgresOptions::default()
        };
        let other = Store::new(
            PostgresQueue::connect_with(&guard.url, options)
                .await
                .expect("second connection"),
        );
        if let Err(e) = conformance::namespace_dropped_elsewhere(&store, &other).await {
            panic!("{e}");
        }
    }

    /// Two processes, each with its own pool, race to take 20 free portal leases: every
    /// portal ends with exactly one holder.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_lease_claims_from_two_processes_one_holder_each() {
        let Some((first, guard)) = make("lease_race").await else {
            return;
        };
        let options = PostgresOptions {
            schema: Some(guard.name.clone()),
            ..PostgresOptions::default()
        };
        let second = Store::new(
            PostgresQueue::connect_with(&guard.url, options)
                .await
                .expect("second connection"),
        );
        if let Err(e) = conformance::concurrent_lease_claims(&[first, second]).await {
            panic!("{e}");
        }
    }

    /// Concurrent adds of one account (and of one id) from two processes, each with its own
    /// pool: exactly one wins, the others are refused naming the winner.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_portal_adds_from_two_processes_one_wins() {
        let Some((first, guard)) = make("portal_race").await else {
            return;
        };
        let options = PostgresOptions {
            schema: Some(guard.name.clone()),
            ..PostgresOptions::default()
        };
        let second = Store::new(
            PostgresQueue::connect_with(&guard.url, options)
                .await
                .expect("second connection"),
        );
        if let Err(e) = conformance::concurrent_portal_claims(&[first, second]).await {
            panic!("{e}");
        }
    }

    /// One leader per schema: a second process cannot lead while the first holds the lock,
    /// takes over as soon as the first resigns (or its session dies), and another schema elects
    /// on its own.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_process_leads_per_schema_and_a_standby_takes_over() {
        use stripe2hubspot_queue::Election;
        let Some((_store, guard)) = make("election").await else {
            return;
        };
        let open = |schema: String| {
            let url = guard.url.clone();
            async move {
                let options = PostgresOptions {
                    schema: Some(schema),
                    ..PostgresOptions::default()
                };
                PostgresQueue::connect_with(&url, options)
                    .await
                    .expect("connect")
                    .election()
            }
        };
        let first = open(guard.name.clone()).await;
        let second = open(guard.name.clone()).await;
        assert!(!second.still_leading().await);
        assert!(first.try_lead().await.unwrap());
        assert!(
            first.try_lead().await.unwrap(),
            "leading again is idempotent"
        );
        assert!(!second.try_lead().await.unwrap());
        assert!(first.still_leading().await);

        let other_schema = format!("{}_other", guard.name);
        let other = open(other_schema.clone()).await;
        assert!(
            other.try_lead().await.unwrap(),
            "another schema is another portal"
        );
        other.resign().await;

        first.resign().await;
        assert!(!first.still_leading().await);
        // The server frees the lock as the resigned session's backend exits, a moment
        // after the connection closed.
        let started = std::time::Instant::now();
        while !second.try_lead().await.unwrap() {
            assert!(started.elapsed() < std::time::Duration::from_secs(10));
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(!first.try_lead().await.unwrap());
        second.resign().await;
        let _other = Schema {
            url: guard.url.clone(),
            name: other_schema,
        };
    }

    /// Two processes (two pools on one schema) store the same events concurrently, one in
    /// the opposite order of the other, so their coalesced transactions overlap. Rows are
    /// inserted in event id order, so neither waits on a lock the other holds while holding one
    /// it needs: no deadlock error, every event stored once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn overlapping_coalesced_inserts_from_two_processes_do_not_deadlock() {
        let Some((first, guard)) = make("overlap").await else {
            return;
        };
        let options = PostgresOptions {
            schema: Some(guard.name.clone()),
            ..PostgresOptions::default()
        };
        let second = PostgresQueue::connect_with(&guard.url, options)
            .await
            .expect("second connection");
        let second = Store::new(second);
        let ids: Vec<String> = (0..600).map(|i| format!("evt_overlap_{i:04}")).collect();
        let mut tasks = Vec::new();
        for (store, reversed) in [(first, false), (second, true)] {
            let mut order = ids.clone();
            if reversed {
                order.reverse();
            }
            for id in order {
                let queue = store.queue.clone();
                tasks.push(tokio::spawn(async move {
                    queue.enqueue(conformance::new_job(&id)).await
                }));
            }
        }
        let (mut inserted, mut duplicates) = (0, 0);
        for task in tasks {
            match task.await.expect("enqueue task") {
                Ok(stripe2hubspot_queue::Enqueued::Inserted(_)) => inserted += 1,
                Ok(stripe2hubspot_queue::Enqueued::Duplicate(_)) => duplicates += 1,
                Err(error) => panic!("enqueue failed (deadlock?): {error}"),
            }
        }
        assert_eq!((inserted, duplicates), (ids.len(), ids.len()));
    }

    /// A job stored by one process wakes a worker of another through `LISTEN/NOTIFY`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_enqueue_in_one_process_wakes_a_worker_in_another() {
        let Some((worker, guard)) = make("notify").await else {
            return;
        };
        let options = PostgresOptions {
            schema: Some(guard.name.clone()),
            ..PostgresOptions::default()
        };
        let ingest = PostgresQueue::connect_with(&guard.url, options)
            .await
            .expect("second connection");
        let mut signal = worker
            .queue
            .enqueue_signal()
            .expect("PostgreSQL offers a signal");
        // The listener starts with the first signal; enqueue until its LISTEN is in place
        // (a notification sent before that is not delivered), each try a new event.
        let mut n = 0;
        let woken = loop {
            n += 1;
            ingest
                .enqueue(conformance::new_job(&format!("evt_notify_{n}")))
                .await
                .expect("enqueue");
            let wait =
                tokio::time::timeout(std::time::Duration::from_millis(500), signal.changed());
            if wait.await.is_ok() {
                break true;
            }
            if n == 40 {
                break false;
            }
        };
        assert!(
            woken,
            "no NOTIFY reached the other process after {n} enqueues"
        );
        let ready = worker
            .queue
            .reserve(100, std::time::Duration::from_secs(60))
            .await
            .expect("reserve");
        assert!(!ready.is_empty());
    }

    /// A TCP proxy between an election and PostgreSQL that can be cut the way a network
    /// partition cuts: it stops forwarding but keeps both sockets open, so neither end sees a
    /// FIN or RST and the server's kernel still gets its segments acknowledged.
    struct Partition {
        port: u16,
        cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
        accept: tokio::task::JoinHandle<()>,
    }

    /// Forwards `from` to `to` until the partition is cut, then holds both open for good.
    async fn pump<R, W>(mut from: R, mut to: W, cut: std::sync::Arc<std::sync::atomic::AtomicBool>)
    where
        R: tokio::io::AsyncRead + Unpin,
        W: tokio::io::AsyncWrite + Unpin,
    {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let read = from.read(&mut buffer).await;
            // Once cut, even a close by the client is not passed on: dropping a write half
            // would send the server a FIN.
            if cut.load(Ordering::SeqCst) {
                break;
            }
            let n = match read {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if to.write_all(&buffer[..n]).await.is_err() {
                return;
            }
        }
        // Cut: what arrives is swallowed, nothing is sent, nothing is closed.
        std::future::pending::<()>().await;
        drop((from, to));
    }

    impl Partition {
        async fn start(server: std::net::SocketAddr) -> Partition {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind the proxy");
            let port = listener.local_addr().expect("proxy address").port();
            let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flag = cut.clone();
            let accept = tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    let Ok(upstream) = tokio::net::TcpStream::connect(server).await else {
                        continue;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = upstream.into_split();
                    tokio::spawn(pump(client_read, server_write, flag.clone()));
                    tokio::spawn(pump(server_read, client_write, flag.clone()));
                }
            });
            Partition { port, cut, accept }
        }

        fn cut(&self) {
            self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    impl Drop for Partition {
        fn drop(&mut self) {
            self.accept.abort();
        }
    }

    /// `url` with its host and port replaced by 127.0.0.1:`port`.
    fn via(url: &str, port: u16) -> String {
        let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let user = authority
            .rsplit_once('@')
            .map(|(user, _)| format!("{user}@"))
            .unwrap_or_default();
        format!("{scheme}://{user}127.0.0.1:{port}/{path}")
    }

    /// The server address of `url` (host and port, default port 5432).
    fn server_of(url: &str) -> std::net::SocketAddr {
        use std::net::ToSocketAddrs;
        let rest = url.split_once("://").expect("a postgres:// URL").1;
        let authority = rest.split_once('/').map_or(rest, |(a, _)| a);
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = if host.contains(':') {
            host.to_owned()
        } else {
            format!("{host}:5432")
        };
        host.to_socket_addrs()
            .expect("resolve the PostgreSQL host")
            .next()
            .expect("an address")
    }

    /// A leader cut off from the database by a network partition (no FIN, no RST: the server
    /// sees a silent peer) must not keep the lock for the ~2 h the OS takes to give up on the
    /// socket: another process leads within 15 s, and the old leader learns it lost at its
    /// next check.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_partitioned_leader_loses_the_lock_and_a_standby_leads_within_15_s() {
        use std::time::{Duration, Instant};
        use stripe2hubspot_queue::Election;
        let Some((_store, guard)) = make("partition").await else {
            return;
        };
        let proxy = Partition::start(server_of(&guard.url)).await;
        let open = |url: String| {
            let schema = guard.name.clone();
            async move {
                let options = PostgresOptions {
                    schema: Some(schema),
                    ..PostgresOptions::default()
                };
                PostgresQueue::connect_with(&url, options)
                    .await
                    .expect("connect")
                    .election()
            }
        };
        let cut_off = open(via(&guard.url, proxy.port)).await;
        let standby = open(guard.url.clone()).await;
        assert!(cut_off.try_lead().await.unwrap());
        assert!(!standby.try_lead().await.unwrap());
        // The leader checks every second, as the engine does, until the cut.
        for _ in 0..3 {
            assert!(cut_off.still_leading().await);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        proxy.cut();
        let cut_at = Instant::now();
        assert!(
            !cut_off.still_leading().await,
            "a leader whose database stopped answering must stop leading"
        );
        // Bounded at 30 s: before the fix the server kept the lock for hours.
        let mut led_after = None;
        while cut_at.elapsed() < Duration::from_secs(30) {
            if standby.try_lead().await.unwrap_or(false) {
                led_after = Some(cut_at.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let led_after = led_after.expect("no standby could lead within 30 s of the cut");
        assert!(
            led_after < Duration::from_secs(15),
            "the standby led only {led_after:?} after the cut"
        );
        standby.resign().await;
    }
}
