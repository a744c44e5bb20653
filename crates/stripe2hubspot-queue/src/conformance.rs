//! The behaviour every store must show, as runnable checks.
//!
//! This crate runs them against its memory, SQLite and PostgreSQL backends; run them against
//! your own implementation too. Each check expects a fresh, empty [`Store`]. The checks of the
//! [`Queue`] alone ([`dedupe`], [`ordering`], [`renew`], [`complete_all`]) use only `store.queue`; the others also
//! read [`QueueAdmin`](crate::QueueAdmin) stats or the [`SyncState`](crate::SyncState).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use stripe2hubspot_queue::{conformance, MemoryQueue, Store};
//! let result = conformance::run_all(|| async { Store::new(MemoryQueue::new()) }).await;
//! assert!(result.is_ok(), "{result:?}");
//! # }
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use stripe2hubspot_map::{Facts, LedgerRow, MappingConfig};

use crate::{
    contact_key_of, Attempt, Enqueued, Job, LedgerEntry, NewJob, Queue, QueueError, QueueStats,
    Store, WriteMark, WrittenDeal, DEFAULT_KEEP_DONE,
};

/// A behaviour the queue under test does not show.
#[derive(Debug, thiserror::Error)]
#[error("queue conformance: {0}")]
pub struct ConformanceFailure(pub String);

impl From<QueueError> for ConformanceFailure {
    fn from(e: QueueError) -> Self {
        ConformanceFailure(format!("unexpected error: {e}"))
    }
}

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(ConformanceFailure(format!($($msg)+)));
        }
    };
}

const LONG: Duration = Duration::from_secs(600);

mod companies;
pub use companies::{
    company_links_pending_after_forget, company_members_and_dirtiness, company_membership_erased,
    company_moves_bump_both, company_note_during_write_stays_dirty, line_items_pend_on_change_only,
};
mod portals;
pub use portals::{
    concurrent_portal_claims, portal, portal_account_claimed, portal_crud,
    portal_fields_round_trip, portal_id_taken, portal_record_paused, portal_remove_frees_accounts,
    portal_set_replaces_accounts, portal_token_never_shown, portal_validation, PORTAL_TOKEN,
};
mod namespaces;
pub use namespaces::{namespace_dropped_elsewhere, namespace_isolation, namespace_long_ids};
mod leases;
pub use leases::{concurrent_lease_claims, portal_leases, process_heartbeats, unrouted_events};
mod customers;
pub use customers::{
    contact_marks_forgotten, customer_marks_and_pages, customer_merge_order,
    customer_payments_share_a_contact, erase_customer_forgets_the_person,
    guest_payment_joins_customer, payment_without_email_takes_its_customers, ERASED_EMAIL,
    ERASED_NAME,
};

/// A small job for event `id`, with a payload that is not valid UTF-8.
pub fn new_job(id: &str) -> NewJob {
    NewJob {
        event_id: id.to_owned(),
        event_type: "charge.succeeded".to_owned(),
        event_created: 1_700_000_000,
        payload: [b"{\"id\":\"".as_slice(), id.as_bytes(), b"\"}\0\xff"].concat(),
    }
}

fn ids(jobs: &[Job]) -> Vec<&str> {
    jobs.iter().map(|j| j.event_id.as_str()).collect()
}

fn past() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1)
}

fn is_lease_lost(r: Result<(), QueueError>, job: &Job) -> bool {
    matches!(r, Err(QueueError::LeaseLost { id }) if id == job.id)
}

async fn reserve_one(q: &dyn Queue, lease: Duration) -> Result<Job, ConformanceFailure> {
    let mut jobs = q.reserve(1, lease).await?;
    ensure!(
        jobs.len() == 1,
        "expected one ready job, got {}",
        jobs.len()
    );
    jobs.pop()
        .ok_or_else(|| ConformanceFailure("no job".into()))
}

/// One row per event id: a second enqueue is a `Duplicate` with the same id, before and after
/// completion, and the stored payload is the first one, byte for byte.
pub async fn dedupe(store: &Store) -> Result<(), ConformanceFailure> {
    let q = &*store.queue;
    let first = new_job("evt_dup");
    let id = match q.enqueue(first.clone()).await? {
        Enqueued::Inserted(id) => id,
        other => return Err(ConformanceFailure(format!("first enqueue gave {other:?}"))),
    };
    let mut again = new_job("evt_dup");
    again.payload = b"other".to_vec();
    let second = q.enqueue(again).await?;
    ensure!(
        second == Enqueued::Duplicate(id),
        "second enqueue gave {second:?}, want Duplicate({id})"
    );
    let other = q.enqueue(new_job("evt_other")).await?;
    ensure!(
        matches!(other, Enqueued::Inserted(o) if o != id),
        "distinct event gave {other:?}"
    );
    let jobs = q.reserve(10, LONG).await?;
    ensure!(jobs.len() == 2, "expected 2 jobs, got {}", jobs.len());
    let job = &jobs[0];
    ensure!(
        job.id == id && job.payload == first.payload,
        "stored job differs: {job:?}"
    );
    ensure!(
        job.event_type == first.event_type && job.event_created == first.event_created,
        "stored metadata differs: {job:?}"
    );
    ensure!(
        job.attempts == 0 && job.last_error.is_none(),
        "fresh job has history: {job:?}"
    );
    q.complete(job).await?;
    let after = q.enqueue(new_job("evt_dup")).await?;
    ensure!(
        after == Enqueued::Duplicate(id),
        "enqueue after completion gave {after:?}"
    );
    Ok(())
}

/// Jobs come out oldest first: by `run_at`, then by id; `max` is respected.
pub async fn ordering(store: &Store) -> Result<(), ConformanceFailure> {
    let q = &*store.queue;
    for id in ["evt_1", "evt_2", "evt_3", "evt_4"] {
        q.enqueue(new_job(id)).await?;
    }
    let two = q.reserve(2, LONG).await?;
    ensure!(
        ids(&two) == ["evt_1", "evt_2"],
        "reserve(2) gave {:?}",
        ids(&two)
    );
    let rest = q.reserve(10, LONG).await?;
    ensure!(
        ids(&rest) == ["evt_3", "evt_4"],
        "reserve(10) gave {:?}",
        ids(&rest)
    );
    ensure!(
        q.reserve(10, LONG).await?.is_empty(),
        "all leased, yet reserve returned jobs"
    );
    ensure!(
        q.reserve(0, LONG).await?.is_empty(),
        "reserve(0) returned jobs"
    );
    // evt_4 goes back with an earlier run_at than the others' enqueue time: it now comes first.
    q.retry(&rest[1], past(), "moved earlier", Attempt::Keep)
        .await?;
    for job in two.iter().chain(&rest[..1]) {
        q.release(job).await?;
    }
    let all = q.reserve(10, LONG).await?;
    ensure!(
        ids(&all) == ["evt_4", "evt_1", "evt_2", "evt_3"],
        "after retry/release order is {:?}",
        ids(&all)
    );
    Ok(())
}

/// A held lease keeps the job from others; an expired one is re-granted with a new token and
/// one consumed attempt, and the old holder's answers are all rejected.
pub async fn lease_expiry(store: &Store) -> Result<(), ConformanceFailure> {
    let q = &*store.queue;
    let admin = &*store.admin;
    q.enqueue(new_job("evt_held")).await?;
    let held = reserve_one(q, LONG).await?;
    ensure!(
        q.reserve(10, LONG).await?.is_empty(),
        "a leased job was granted twice"
    );

    q.enqueue(new_job("evt_lapsed")).await?;
    let old = reserve_one(q, Duration::ZERO).await?;
    let new = reserve_one(q, LONG).await?;
    ensure!(
        new.id == old.id,
        "expected the expired job again, got {}",
        new.event_id
    );
    ensure!(
        new.lease != old.lease,
        "re-grant reused lease token {:?}",
        old.lease
    );
    ensure!(
        new.attempts == old.attempts + 1,
        "re-grant attempts {} (was {})",
        new.attempts,
        old.attempts
    );
    ensure!(
        new.last_error.is_some(),
        "re-grant should record why the attempt was lost"
    );

    ensure!(
        is_lease_lost(q.complete(&old).await, &old),
        "stale complete accepted"
    );
    ensure!(
        is_lease_lost(q.retry(&old, past(), "x", Attempt::Consume).await, &old),
        "stale retry accepted"
    );
    ensure!(
        is_lease_lost(q.release(&old).await, &old),
        "stale release accepted"
    );
    ensure!(
        is_lease_lost(q.dead_letter(&old, "x").await, &old),
        "stale dead_letter accepted"
    );
    let stats = admin.stats().await?;
    ensure!(
        stats.leased == 2 && stats.done == 0 && stats.dead == 0,
        "stale answers changed state: {stats:?}"
    );

    q.complete(&new).await?;
    q.complete(&held).await?;
    ensure!(
        admin.stats().await?.done == 2,
        "current holders could not complete"
    );
    Ok(())
}

/// Once answered, a token is spent: a second answer is `LeaseLost`.
pub async fn answered_lease_is_spent(store: &Store) -> Result<(), ConformanceFailure> {
    let q = &*store.queue;
    let admin = &*store.admin;
    q.enqueue(new_job("evt_a")).await?;
    let job = reserve_one(q, LONG).await?;
    q.complete(&job).await?;
    ensure!(
        is_lease_lost(q.complete(&job).await, &job),
        "double complete accepted"
    );
    ensure!(
        is_lease_lost(q.retry(&job, past(), "x", Attempt::Keep).await, &job),
        "retry after complete accepted"
    );

    q.enqueue(new_job("evt_b")).await?;
    let job = reserve_one(q, LONG).await?;
    q.release(&job).await?;
    ensure!(
        is_lease_lost(q.complete(&job).await, &job),
        "complete after release accepted"
    );
    ensure!(admin.stats().await?.ready == 1, "released job is not ready");
    Ok(())
}

/// `retry` consumes an attempt only when asked, `release` never; due retries come back with
/// the recorded error, future ones wait.
pub async fn retry_attempts(store: &Store) -> Result<(), ConformanceFailure> {
    let q = &*store.queue;
    let admin = &*store.admin;
    q.enqueue(new_job("evt_r")).await?;
    let job = reserve_one(q, LONG).await?;
    q.retry(&job, past(), "rate limited", Attempt::Keep).await?;
    let job = reserve_one(q, LONG).await?;
    ensure!(
        job.attempts == 0,
        "retry without consuming gave attempts {}",
        job.attempts
    );
    ensure!(
        job.last_error.as_deref() == Some("rate limited"),
        "last_error {:?}",
        job.last_error
    );
    q.retry(&job, past(), "server error", Attempt::Consume)
        .await?;
    let job = reserve_one(q, LONG).await?;
    ensure!(
        job.attempts == 1,
        "consuming retry gave attempts {}",
        job.attempts
    );
    q.release(&job).await?;
    let job = reserve_one(q, LONG).await?;
    ensure!(
        job.attempts == 1,
        "release changed attempts to {}",
        job.attempts
    );

    let later = SystemTime::now() + Duration::from_secs(3600);
    q.retry(&job, later, "backoff", Attempt::Consume).await?;
    ensure!(
        q.reserve(10, LONG).await?.is_empty(),
        "a job due in an hour was reserved"
    );
    let stats = admin.stats().await?;
    ensure!(
        stats.delayed == 1 && stats.ready == 0,
        "delayed job counted as {stats:?}"
    );
    Ok(())
}

/// Dead letters are listed by id with their error and payload, paged with `after`, and `replay` makes one
/// ready with attempts reset; replaying anything else is `NotFound`.
pub async fn dead_letter_and_replay(store: &Store) -> Result<(), ConformanceFailure> {
    let q = &*store.queue;
    let admin = &*store.admin;
    for id in ["evt_d1", "evt_d2", "evt_d3"] {
        q.enqueue(new_job(id)).await?;
    }
    let jobs = q.reserve(3, LONG).await?;
    ensure!(jobs.len() == 3, "expected 3 jobs, got {}", jobs.len());
    q.retry(&jobs[0], past(), "first failure", Attempt::Consume)
        .await?;
    let first = reserve_one(q, LONG).await?;
    q.dead_letter(&first, "invalid email").await?;
    q.dead_letter(&jobs[1], "bad currency").await?;
    q.dead_letter(&jobs[2], "bad amount").await?;
    ensure!(
        q.reserve(10, LONG).await?.is_empty(),
        "a dead letter was reserved"
    );

    let page = admin.dead_letters(2, None).await?;
    ensure!(page.len() == 2, "dead_letters(2) gave {}", page.len());
    let d = &page[0];
    ensure!(
        d.id == first.id && d.event_id == "evt_d1" && d.event_type == "charge.succeeded",
        "first dead letter is {d:?}"
    );
    ensure!(
        d.error == "invalid email" && d.attempts == 2,
        "dead letter history {d:?}"
    );
    ensure!(
        d.payload == first.payload,
        "a dead letter keeps its payload (replay and its payment id need it)"
    );
    ensure!(
        d.failed_at <= SystemTime::now() + Duration::from_secs(5),
        "failed_at in the future"
    );
    let next = admin.dead_letters(10, Some(page[1].id)).await?;
    ensure!(
        next.len() == 1 && next[0].id == jobs[2].id,
        "second page is {next:?}"
    );

    admin.replay(first.id).await?;
    ensure!(
        matches!(admin.replay(first.id).await, Err(QueueError::NotFound { id }) if id == first.id),
        "replaying a job that is not dead must be NotFound"
    );
    ensure!(
        matches!(
            admin.replay(987_654_321).await,
            Err(QueueError::NotFound { .. })
        ),
        "replaying an unknown id must be NotFound"
    );
    let again = reserve_one(q, LONG).await?;
    ensure!(
        again.id == first.id && again.attempts == 0,
        "replayed job is {again:?}"
    );
    ensure!(
        again.payload == new_job("evt_d1").payload,
        "replay lost the payload"
    );
    ensure!(
        admin.dead_letters(10, None).await?.len() == 2,
        "replayed job still listed"
    );
    Ok(())
}

/// Stats count every state; a job whose lease expired counts as ready.
pub async fn stats(store: &Store) -> Result<(), ConformanceFailure> {
    let q = &*store.queue;
    let admin = &*store.admin;
    ensure!(
        admin.stats().await? == Default::default(),
        "empty queue has stats"
    );
    for i in 0..6 {
        q.enqueue(new_job(&format!("evt_s{i}"))).await?;
    }
    let jobs = q.reserve(4, LONG).await?;
    ensure!(jobs.len() == 4, "expected 4 jobs, got {}", jobs.len());
    q.complete(&jobs[0]).await?;
    q.dead_letter(&jobs[1], "bad").await?;
    q.retry(
        &jobs[2],
        SystemTime::now() + Duration::from_secs(3600),
        "later",
        Attempt::Consume,
    )
    .await?;
    // jobs[3] stays leased; evt_s4 lapses; evt_s5 stays ready.
    let lapsed = q.reserve(1, Duration::ZERO).await?;
    ensure!(lapsed.len() == 1, "could not reserve the fifth job");
    let got = admin.stats().await?;
    let want = QueueStats {
        ready: 2,
        delayed: 1,
        leased: 1,
        dead: 1,
        done: 1,
    };
    ensure!(got == want, "stats {got:?}, want {want:?}");
    Ok(())
}

/// `purge_done` keeps recent done rows (so redeliveries stay duplicates), removes old ones, and
/// never touches pending or dead jobs.
pub async fn purge_keeps_recent(store: &Store) -> Result<(), ConformanceFailure> {
    let q = &*store.queue;
    let admin = &*store.admin;
    let id = q.enqueue(new_job("evt_p")).await?.id();
    q.enqueue(new_job("evt_pending")).await?;
    let job = reserve_one(q, LONG).await?;
    q.complete(&job).await?;
    q.enqueue(new_job("evt_dead")).await?;
    let jobs = q.reserve(2, LONG).await?;
    let dead = jobs
        .iter()
        .find(|j| j.event_id == "evt_dead")
        .ok_or_else(|| ConformanceFailure("evt_dead not reserved".into()))?;
    q.dead_letter(dead, "bad").await?;
    for j in jobs.iter().filter(|j| j.event_id != "evt_dead") {
        q.release(j).await?;
    }

    let purged = admin.purge_done(DEFAULT_KEEP_DONE).await?;
    ensure!(
        purged == 0,
        "purge_done(7 days) removed {purged} fresh rows"
    );
    let again = q.enqueue(new_job("evt_p")).await?;
    ensure!(
        again == Enqueued::Duplicate(id),
        "kept event id gave {again:?}"
    );

    let purged = admin.purge_done(Duration::ZERO).await?;
    ensure!(
        purged == 1,
        "purge_done(0) removed {purged}, want the one done row"
    );
    let stats = admin.stats().await?;
    ensure!(
        stats.done == 0 && stats.dead == 1 && stats.ready == 1,
        "after purge: {stats:?}"
    );
    let fresh = q.enqueue(new_job("evt_p")).await?;
    ensure!(
        matches!(fresh, Enqueued::Inserted(n) if n != id),
        "purged event id gave {fresh:?}"
    );
    Ok(())
}

/// `purge_dead` removes dead letters (and their payloads) past the retention, keeps recent
/// ones, and never touches pending or done jobs.
pub async fn purge_dead_letters(store: &Store) -> Result<(), ConformanceFailure> {
    let q = &*store.queue;
    let admin = &*store.admin;
    q.enqueue(new_job("evt_dl_dead")).await?;
    q.enqueue(new_job("evt_dl_done")).await?;
    q.enqueue(new_job("evt_dl_pending")).await?;
    let jobs = q.reserve(3, LONG).await?;
    for job in &jobs {
        match job.event_id.as_str() {
            "evt_dl_dead" => q.dead_letter(job, "bad").await?,
            "evt_dl_done" => q.complete(job).await?,
            _ => q.release(job).await?,
        }
    }
    let purged = admin.purge_dead(DEFAULT_KEEP_DONE).await?;
    ensure!(
        purged == 0,
        "purge_dead(7 days) removed {purged} fresh dead letters"
    );
    ensure!(
        admin.dead_letters(10, None).await?.len() == 1,
        "a recent dead letter is kept"
    );
    let purged = admin.purge_dead(Duration::ZERO).await?;
    ensure!(
        purged == 1,
        "purge_dead(0) removed {purged}, want the one dead letter"
    );
    ensure!(
        admin.dead_letters(10, None).await?.is_empty(),
        "the purged dead letter is still listed"
    );
    let stats = admin.stats().await?;
    ensure!(
        stats.dead == 0 && stats.done == 1 && stats.ready == 1,
        "purge_dead touched other jobs: {stats:?}"
    );
    Ok(())
}

/// `reset_written` makes a written row unwritten only at the version given, keeps its deal
/// unless told to forget it, and leaves a row that moved on alone.
pub async fn ledger_reset_written(store: &Store) -> Result<(), ConformanceFailure> {
    let config = MappingConfig::default();
    let state = &*store.state;
    let first = paid(
        "evt_r1",
        100,
        json!({"charge": "ch_r"}),
        1000,
        Some("ann@example.com"),
    )?;
    state.merge_facts(&[first], &config).await?;
    let deal = WrittenDeal {
        stripe_payment_id: "ch_r".into(),
        deal_id: "d_r".into(),
    };
    state
        .mark_written(&[WriteMark {
            key: "ch_r".into(),
            version: 1,
            deal: Some(deal.clone()),
        }])
        .await?;
    ensure!(
        !state.reset_written("ch_r", 2, false).await?,
        "a reset at a version the row does not have changed it"
    );
    ensure!(
        !entry(store, "ch_r").await?.is_unwritten(),
        "a refused reset left the row unwritten"
    );
    ensure!(
        !state.reset_written("ch_none", 1, false).await?,
        "a reset of an unknown key reported a change"
    );
    ensure!(
        state.reset_written("ch_r", 1, false).await?,
        "a reset at the row's version was refused"
    );
    let got = entry(store, "ch_r").await?;
    ensure!(
        got.is_unwritten() && got.deal.as_ref() == Some(&deal),
        "a reset row is unwritten and keeps its deal: {got:?}"
    );
    ensure!(
        state.unwritten(10).await?.iter().any(|e| e.key == "ch_r"),
        "unwritten lists the reset row"
    );
    ensure!(
        state.reset_written("ch_r", 1, true).await?,
        "a reset that forgets the deal was refused"
    );
    ensure!(
        entry(store, "ch_r").await?.deal.is_none(),
        "the forgotten deal is still recorded"
    );
    Ok(())
}

/// Facts from their JSON form, with `extra` fields over an empty fact about `ids`.
fn fact(
    event_id: &str,
    created: i64,
    ids: Value,
    extra: Value,
) -> Result<Facts, ConformanceFailure> {
    let mut json = json!({
        "stamp": {"created": created, "event_id": event_id},
        "ids": ids,
        "contact": {},
        "succeeded": false,
        "fully_refunded": false,
        "disputed": false,
        "metadata": {},
    });
    if let (Some(base), Value::Object(extra)) = (json.as_object_mut(), extra) {
        base.extend(extra);
    }
    serde_json::from_value(json).map_err(|e| ConformanceFailure(format!("bad test fact: {e}")))
}

/// A paid, captured USD charge of `amount` by `email` (none: no contact yet).
fn paid(
    event_id: &str,
    created: i64,
    ids: Value,
    amount: i64,
    email: Option<&str>,
) -> Result<Facts, ConformanceFailure> {
    fact(
        event_id,
        created,
        ids,
        json!({"contact": {"email": email}, "currency": "usd", "authorized": amount,
               "captured": amount, "succeeded": true, "paid_at": created}),
    )
}

async fn entry(store: &Store, id: &str) -> Result<LedgerEntry, ConformanceFailure> {
    store
        .state
        .ledger_entry(id)
        .await?
        .ok_or_else(|| ConformanceFailure(format!("no ledger row found by {id}")))
}

fn all_orders(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for order in all_orders(n - 1) {
        for at in 0..=order.len() {
            let mut next = order.clone();
            next.insert(at, n - 1);
            out.push(next);
        }
    }
    out
}

/// Any order of delivery, in one call or one call per fact, with redeliveries, gives the row
/// the pure merge gives, found by every id it knows; a redelivery does not raise the version.
pub async fn ledger_merge_order(store: &Store) -> Result<(), ConformanceFailure> {
    let config = MappingConfig::default();
    let state = &*store.state;
    for (n, order) in all_orders(3).into_iter().enumerate() {
        let (pi, ch, inv) = (format!("pi_{n}"), format!("ch_{n}"), format!("in_{n}"));
        let facts = [
            paid(
                &format!("evt_a{n}"),
                100,
                json!({"payment_intent": pi, "charge": ch}),
                5000,
                Some("ann@example.com"),
            )?,
            fact(
                &format!("evt_b{n}"),
                200,
                json!({"charge": ch}),
                json!({"refunded": 2000}),
            )?,
            fact(
                &format!("evt_c{n}"),
                150,
                json!({"invoice": inv, "payment_intent": pi}),
                json!({"subscription_id": "sub_1"}),
            )?,
        ];
        let expected = facts.iter().fold(LedgerRow::default(), |row, f| {
            row.merge(&LedgerRow::from_facts(f))
        });
        let ordered: Vec<Facts> = order
            .iter()
            .filter_map(|&i| facts.get(i).cloned())
            .collect();
        if n % 2 == 0 {
            state.merge_facts(&ordered, &config).await?;
        } else {
            for f in &ordered {
                state.merge_facts(std::slice::from_ref(f), &config).await?;
            }
        }
        let got = entry(store, &ch).await?;
        ensure!(
            got.key == pi,
            "order {order:?}: row keyed {}, want {pi}",
            got.key
        );
        ensure!(
            got.row == expected,
            "order {order:?}: stored row differs from the pure merge"
        );
        for id in [&pi, &inv] {
            ensure!(
                entry(store, id).await?.key == pi,
                "order {order:?}: {id} does not find the row"
            );
        }
        let redelivered = state.merge_facts(&ordered, &config).await?;
        ensure!(
            redelivered.len() == 1
                && redelivered
                    .iter()
                    .all(|c| c.entry.version == got.version && c.entry.row == expected),
            "order {order:?}: a redelivery changed the row or its version"
        );
    }
    Ok(())
}

/// A fact linking two rows merges them under the payment identity; the deal written for an
/// absorbed row is kept (to be moved to the new key), a second written deal is reported.
pub async fn ledger_alias_merge(store: &Store) -> Result<(), ConformanceFailure> {
    let config = MappingConfig::default();
    let state = &*store.state;
    let invoice = paid(
        "evt_inv",
        100,
        json!({"invoice": "in_1"}),
        3000,
        Some("ann@example.com"),
    )?;
    let charge = paid(
        "evt_ch",
        101,
        json!({"charge": "ch_1", "payment_intent": "pi_1"}),
        3000,
        Some("ann@example.com"),
    )?;
    state.merge_facts(&[invoice, charge], &config).await?;
    ensure!(
        entry(store, "in_1").await?.key == "in_1",
        "the invoice row is keyed by its invoice"
    );
    ensure!(
        entry(store, "ch_1").await?.key == "pi_1",
        "the charge row is keyed by its PaymentIntent"
    );
    let written = |key: &str, deal: &str, version: i64| WriteMark {
        key: key.to_owned(),
        version,
        deal: Some(WrittenDeal {
            stripe_payment_id: key.to_owned(),
            deal_id: deal.to_owned(),
        }),
    };
    state.mark_written(&[written("in_1", "d_in", 1)]).await?;
    let got = entry(store, "in_1").await?;
    ensure!(
        got.deal.as_ref().map(|d| d.deal_id.as_str()) == Some("d_in") && !got.is_unwritten(),
        "the written deal is recorded: {:?}",
        got.deal
    );

    let link = fact(
        "evt_link",
        102,
        json!({"invoice": "in_1", "payment_intent": "pi_1"}),
        json!({}),
    )?;
    let changes = state
        .merge_facts(std::slice::from_ref(&link), &config)
        .await?;
    let [change] = changes.as_slice() else {
        return Err(ConformanceFailure(format!(
            "the link touched {} rows, want 1",
            changes.len()
        )));
    };
    ensure!(
        change.entry.key == "pi_1",
        "merged row keyed {}",
        change.entry.key
    );
    ensure!(
        change.absorbed_keys == ["in_1"],
        "absorbed {:?}",
        change.absorbed_keys
    );
    ensure!(change.entry.is_unwritten(), "a merged row is unwritten");
    ensure!(
        change
            .entry
            .deal
            .as_ref()
            .map(|d| (d.stripe_payment_id.as_str(), d.deal_id.as_str()))
            == Some(("in_1", "d_in")),
        "the invoice row's deal is kept for moving: {:?}",
        change.entry.deal
    );
    for id in ["in_1", "ch_1", "pi_1"] {
        ensure!(
            entry(store, id).await?.key == "pi_1",
            "{id} does not find the merged row"
        );
    }
    ensure!(
        entry(store, "pi_1").await?.row.captured() == Some(3000),
        "one payment, not two"
    );

    // Both rows written before the link: one deal is kept, the other reported.
    let a = paid(
        "evt_a",
        100,
        json!({"invoice": "in_2"}),
        100,
        Some("bob@example.com"),
    )?;
    let b = paid(
        "evt_b",
        101,
        json!({"payment_intent": "pi_2"}),
        100,
        Some("bob@example.com"),
    )?;
    state.merge_facts(&[a, b], &config).await?;
    state
        .mark_written(&[written("in_2", "d_a", 1), written("pi_2", "d_b", 1)])
        .await?;
    let link = fact(
        "evt_link2",
        102,
        json!({"invoice": "in_2", "payment_intent": "pi_2"}),
        json!({}),
    )?;
    let changes = state.merge_facts(&[link], &config).await?;
    let kept = changes
        .first()
        .and_then(|c| c.entry.deal.clone())
        .map(|d| d.deal_id);
    let orphaned: Vec<&str> = changes
        .iter()
        .flat_map(|c| c.orphaned_deals.iter().map(|d| d.deal_id.as_str()))
        .collect();
    ensure!(
        kept.as_deref() == Some("d_b") && orphaned == ["d_a"],
        "kept {kept:?}, orphaned {orphaned:?}: the deal under the new key stays"
    );
    Ok(())
}

/// Versions rise on change only; a written version never goes down; unwritten rows are
/// listed, waiting rows counted and never listed.
pub async fn ledger_versions(store: &Store) -> Result<(), ConformanceFailure> {
    let config = MappingConfig::default();
    let state = &*store.state;
    let first = paid(
        "evt_1",
        100,
        json!({"charge": "ch_v"}),
        1000,
        Some("ann@example.com"),
    )?;
    let changes = state
        .merge_facts(std::slice::from_ref(&first), &config)
        .await?;
    ensure!(
        changes.len() == 1
            && changes
                .iter()
                .all(|c| c.entry.version == 1 && c.entry.written_version == 0),
        "a new row is version 1, unwritten"
    );
    let listed = state.unwritten(10).await?;
    ensure!(
        listed.len() == 1 && listed.iter().all(|e| e.key == "ch_v"),
        "unwritten lists the new row"
    );
    let mark = |version| WriteMark {
        key: "ch_v".into(),
        version,
        deal: None,
    };
    state.mark_written(&[mark(1)]).await?;
    ensure!(
        state.unwritten(10).await?.is_empty(),
        "a written row is not listed"
    );
    state.merge_facts(&[first], &config).await?;
    ensure!(
        !entry(store, "ch_v").await?.is_unwritten(),
        "a redelivery leaves the row written"
    );
    let refund = fact(
        "evt_2",
        200,
        json!({"charge": "ch_v"}),
        json!({"refunded": 400}),
    )?;
    state.merge_facts(&[refund], &config).await?;
    let got = entry(store, "ch_v").await?;
    ensure!(
        got.version == 2 && got.is_unwritten(),
        "a change raises the version: {} / {}",
        got.version,
        got.written_version
    );
    state.mark_written(&[mark(2)]).await?;
    state.mark_written(&[mark(1)]).await?;
    ensure!(
        entry(store, "ch_v").await?.written_version == 2,
        "an older mark lowered the written version"
    );
    ensure!(
        state
            .mark_written(&[WriteMark {
                key: "ch_gone".into(),
                version: 9,
                deal: None
            }])
            .await
            .is_ok(),
        "a mark for an unknown key is ignored"
    );

    ensure!(state.waiting_count().await? == 0, "nothing waits yet");
    let no_email = paid("evt_3", 300, json!({"charge": "ch_w"}), 700, None)?;
    state.merge_facts(&[no_email], &config).await?;
    ensure!(
        state.waiting_count().await? == 1,
        "a paid row without an email waits"
    );
    let waiting = state.waiting(10).await?;
    ensure!(
        waiting.len() == 1
            && waiting
                .iter()
                .all(|e| e.key == "ch_w" && e.row.state(&config).as_str() == "awaiting_contact"),
        "the waiting row is listed with its state"
    );
    ensure!(
        state.unwritten(10).await?.is_empty(),
        "a waiting row is not listed as unwritten"
    );
    let email = fact(
        "evt_4",
        301,
        json!({"charge": "ch_w"}),
        json!({"contact": {"email": "cy@example.com"}}),
    )?;
    state.merge_facts(&[email], &config).await?;
    ensure!(state.waiting_count().await? == 0, "the email ends the wait");
    ensure!(
        state.waiting(10).await?.is_empty(),
        "and it is no longer listed"
    );
    ensure!(
        state.unwritten(10).await?.iter().any(|e| e.key == "ch_w"),
        "then it is unwritten"
    );
    Ok(())
}

/// The rows of one contact, found by its contact key, and only those.
pub async fn ledger_contact_rows(store: &Store) -> Result<(), ConformanceFailure> {
    let config = MappingConfig::default();
    let state = &*store.state;
    let facts = [
        paid(
            "evt_1",
            100,
            json!({"charge": "ch_a1"}),
            1000,
            Some("ann@example.com"),
        )?,
        paid(
            "evt_2",
            200,
            json!({"charge": "ch_a2"}),
            2000,
            Some("ann@example.com"),
        )?,
        paid(
            "evt_3",
            300,
            json!({"charge": "ch_b1"}),
            3000,
            Some("bob@example.com"),
        )?,
        paid("evt_4", 400, json!({"charge": "ch_n1"}), 4000, None)?,
    ];
    state.merge_facts(&facts, &config).await?;
    let rows = state.contact_rows("email=ann@example.com").await?;
    let mut charges: Vec<&str> = rows.iter().filter_map(|r| r.key()).collect();
    charges.sort_unstable();
    ensure!(charges == ["ch_a1", "ch_a2"], "ann's rows: {charges:?}");
    let key = contact_key_of(&rows.first().cloned().unwrap_or_default(), &config);
    ensure!(
        key.as_deref() == Some("email=ann@example.com"),
        "contact key spelled {key:?}"
    );
    ensure!(
        state
            .contact_rows("email=nobody@example.com")
            .await?
            .is_empty(),
        "an unknown contact has no rows"
    );
    // A refund on one of ann's payments shows in her rows.
    let refund = fact(
        "evt_5",
        500,
        json!({"charge": "ch_a2"}),
        json!({"refunded": 2000}),
    )?;
    state.merge_facts(&[refund], &config).await?;
    let rows = state.contact_rows("email=ann@example.com").await?;
    let refunded: i64 = rows.iter().map(LedgerRow::refunded).sum();
    ensure!(
        rows.len() == 2 && refunded == 2000,
        "after the refund: {} rows, {refunded} refunded",
        rows.len()
    );
    Ok(())
}

/// A newer email moves a payment to another contact: the change names the contact the row
/// was indexed under before the call, whose rollups and deal association must follow; a
/// redelivery, or a row that gets its first email, names none.
pub async fn ledger_previous_contacts(store: &Store) -> Result<(), ConformanceFailure> {
    let config = MappingConfig::default();
    let state = &*store.state;
    let charge = paid(
        "evt_ch",
        100,
        json!({"charge": "ch_p", "payment_intent": "pi_p"}),
        1000,
        Some("old@example.com"),
    )?;
    let changes = state
        .merge_facts(std::slice::from_ref(&charge), &config)
        .await?;
    ensure!(
        changes.iter().all(|c| c.previous_contact_keys.is_empty()),
        "a new row moved from no contact: {:?}",
        changes
            .iter()
            .map(|c| &c.previous_contact_keys)
            .collect::<Vec<_>>()
    );
    let receipt = fact(
        "evt_pi",
        200,
        json!({"payment_intent": "pi_p"}),
        json!({"contact": {"email": "new@example.com"}}),
    )?;
    let changes = state
        .merge_facts(std::slice::from_ref(&receipt), &config)
        .await?;
    let moved: Vec<&Vec<String>> = changes.iter().map(|c| &c.previous_contact_keys).collect();
    ensure!(
        moved == [&vec!["email=old@example.com".to_owned()]],
        "the email change names the old contact: {moved:?}"
    );
    ensure!(
        state
            .contact_rows("email=old@example.com")
            .await?
            .is_empty()
            && state.contact_rows("email=new@example.com").await?.len() == 1,
        "the row is indexed under the new contact only"
    );
    let changes = state.merge_facts(&[receipt, charge], &config).await?;
    ensure!(
        changes.iter().all(|c| c.previous_contact_keys.is_empty()),
        "a redelivery moves nothing"
    );

    // Both emails within one call: the row was under no contact before it.
    let first = paid(
        "evt_a",
        100,
        json!({"charge": "ch_q", "payment_intent": "pi_q"}),
        500,
        Some("a@example.com"),
    )?;
    let second = fact(
        "evt_b",
        200,
        json!({"payment_intent": "pi_q"}),
        json!({"contact": {"email": "b@example.com"}}),
    )?;
    let changes = state.merge_facts(&[first, second], &config).await?;
    ensure!(
        changes.iter().all(|c| c.previous_contact_keys.is_empty()),
        "a row new in the call moved from no stored contact"
    );
    Ok(())
}

/// A merge never undoes a mark recorded after it read the row: the written version and the
/// recorded deal survive a merge running at the same time (on a shared store the two race).
pub async fn ledger_merge_keeps_newer_marks(store: &Store) -> Result<(), ConformanceFailure> {
    let config = MappingConfig::default();
    let state = &*store.state;
    for round in 0..60i64 {
        let key = format!("ch_race{round}");
        let created = paid(
            &format!("evt_c{round}"),
            100,
            json!({"charge": key}),
            5000,
            Some("race@example.com"),
        )?;
        state.merge_facts(&[created], &config).await?;
        let deal = WrittenDeal {
            stripe_payment_id: key.clone(),
            deal_id: format!("d_{round}"),
        };
        let marks = [
            WriteMark::deal_only(key.clone(), deal.clone()),
            WriteMark {
                key: key.clone(),
                version: 1,
                deal: Some(deal.clone()),
            },
        ];
        // Refunds only grow, so each merge changes the row and writes it back, while the
        // mark is recorded.
        let merges = async {
            for n in 1..=3 {
                let refund = fact(
                    &format!("evt_r{round}_{n}"),
                    100 + n,
                    json!({"charge": key}),
                    json!({"refunded": n * 100}),
                )?;
                state.merge_facts(&[refund], &config).await?;
            }
            Ok::<(), ConformanceFailure>(())
        };
        let (merged, marked) = tokio::join!(merges, state.mark_written(&marks));
        merged?;
        marked?;
        let got = entry(store, &key).await?;
        ensure!(
            got.written_version == 1 && got.deal.as_ref() == Some(&deal),
            "round {round}: a merge undid a mark: written version {}, deal {:?}",
            got.written_version,
            got.deal
        );
    }
    Ok(())
}

/// Paging the ledger by key lists every row once, in key order, waiting rows included.
pub async fn ledger_pages(store: &Store) -> Result<(), ConformanceFailure> {
    let config = MappingConfig::default();
    let state = &*store.state;
    ensure!(
        state.ledger_rows(None, 10).await?.is_empty(),
        "an empty ledger has rows"
    );
    let mut facts = Vec::new();
    for i in 0..7 {
        let email = (i != 3).then_some("ann@example.com");
        facts.push(paid(
            &format!("evt_{i}"),
            100 + i,
            json!({"charge": format!("ch_{i}")}),
            1000,
            email,
        )?);
    }
    state.merge_facts(&facts, &config).await?;
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = state.ledger_rows(after.as_deref(), 3).await?;
        ensure!(
            page.len() <= 3,
            "a page of {} rows for a limit of 3",
            page.len()
        );
        let Some(last) = page.last() else { break };
        after = Some(last.key.clone());
        seen.extend(page.into_iter().map(|entry| entry.key));
    }
    let want: Vec<String> = (0..7).map(|i| format!("ch_{i}")).collect();
    ensure!(seen == want, "paged keys: {seen:?}");
    Ok(())
}

/// A checkpoint reads back the value last saved under its name, and names are independent.
pub async fn checkpoints(store: &Store) -> Result<(), ConformanceFailure> {
    let state = &*store.state;
    ensure!(
        state.checkpoint("backfill:charges").await?.is_none(),
        "an unsaved checkpoint has a value"
    );
    state.save_checkpoint("backfill:charges", "ch_1").await?;
    state.save_checkpoint("backfill:disputes", "done").await?;
    state.save_checkpoint("backfill:charges", "ch_2").await?;
    let got = state.checkpoint("backfill:charges").await?;
    ensure!(
        got.as_deref() == Some("ch_2"),
        "the last save must win: {got:?}"
    );
    let got = state.checkpoint("backfill:disputes").await?;
    ensure!(
        got.as_deref() == Some("done"),
        "names must not mix: {got:?}"
    );
    Ok(())
}

/// The operator's pause: none at first; a pause reads back with who and when (to the
/// millisecond), pausing again replaces who, resuming lifts it, and resuming twice is harmless.
pub async fn operator_pause(store: &Store) -> Result<(), ConformanceFailure> {
    let pause = &*store.pause;
    ensure!(
        pause.operator_pause().await?.is_none(),
        "a fresh store is paused"
    );
    let before = SystemTime::now() - Duration::from_millis(1);
    let stored = pause
        .pause_sync("alice via admin api on host-a pid 1")
        .await?;
    let read = pause.operator_pause().await?;
    ensure!(
        read.as_ref() == Some(&stored),
        "the pause must read back as stored: {read:?} vs {stored:?}"
    );
    ensure!(
        stored.at >= before && stored.at <= SystemTime::now(),
        "the pause must be stamped with the current time: {:?}",
        stored.at
    );
    let again = pause.pause_sync("bob").await?;
    let read = pause.operator_pause().await?;
    ensure!(
        read.as_ref().map(|p| p.by.as_str()) == Some("bob") && read.as_ref() == Some(&again),
        "a second pause replaces who paused: {read:?}"
    );
    pause.resume_sync().await?;
    ensure!(
        pause.operator_pause().await?.is_none(),
        "resume must lift the pause"
    );
    pause.resume_sync().await?;
    ensure!(
        pause.operator_pause().await?.is_none(),
        "a second resume keeps it lifted"
    );
    pause.pause_sync("carol").await?;
    ensure!(
        pause.operator_pause().await?.map(|p| p.by) == Some("carol".to_owned()),
        "the store pauses again after a resume"
    );
    Ok(())
}

/// A recorded contact mark reads back by its contact key; recording again replaces it; keys
/// without a mark are absent from the answer, and keys do not mix.
pub async fn contact_marks(store: &Store) -> Result<(), ConformanceFailure> {
    let state = &*store.state;
    let mark = |key: &str, id: &str, hash: &str| crate::ContactMark {
        contact_key: key.to_owned(),
        contact_id: id.to_owned(),
        properties_hash: hash.to_owned(),
    };
    let keys = vec![
        "email:ada@example.com".to_owned(),
        "customer:cus_2".to_owned(),
        "email:unknown@example.com".to_owned(),
    ];
    ensure!(
        state.contact_marks(&keys).await?.is_empty(),
        "a fresh store has contact marks"
    );
    state
        .record_contact_marks(&[
            mark("email:ada@example.com", "101", "h1"),
            mark("customer:cus_2", "102", "h2"),
        ])
        .await?;
    state
        .record_contact_marks(&[mark("email:ada@example.com", "101", "h3")])
        .await?;
    state.record_contact_marks(&[]).await?;
    let got = state.contact_marks(&keys).await?;
    ensure!(got.len() == 2, "marks of unknown keys answered: {got:?}");
    ensure!(
        got.get("email:ada@example.com") == Some(&mark("email:ada@example.com", "101", "h3")),
        "the last record must win: {got:?}"
    );
    ensure!(
        got.get("customer:cus_2") == Some(&mark("customer:cus_2", "102", "h2")),
        "keys must not mix: {got:?}"
    );
    Ok(())
}

/// Producers enqueue `total` jobs (a fifth of them repeats of earlier event ids) while
/// `workers` tasks reserve and complete: every distinct event is inserted once and completed
/// exactly once. Needs a multi-threaded Tokio runtime for real parallelism.
pub async fn concurrent(
    store: Store,
    producers: usize,
    total: usize,
    workers: usize,
) -> Result<(), ConformanceFailure> {
    let q = store.queue.clone();
    let unique = total - total / 5;
    let mut events: Vec<usize> = (0..unique)
        .chain((0..total / 5).map(|i| (i * 7919) % unique))
        .collect();
    // Deterministic shuffle (xorshift) so duplicates race with their originals.
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..events.len()).rev() {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        events.swap(i, (rng % (i as u64 + 1)) as usize);
    }
    let producers = producers.max(1);
    let chunk = events.len().div_ceil(producers);
    let enqueued = Arc::new(AtomicBool::new(false));
    let completed: Arc<Mutex<HashMap<String, u32>>> = Arc::default();

    let mut worker_tasks = Vec::new();
    for _ in 0..workers.max(1) {
        let (q, enqueued, completed) = (q.clone(), enqueued.clone(), completed.clone());
        worker_tasks.push(tokio::spawn(async move {
            loop {
                // Read the flag first: empty after all producers finished means drained.
                let finished = enqueued.load(Ordering::SeqCst);
                let jobs = q.reserve(32, LONG).await?;
                if jobs.is_empty() {
                    if finished {
                        return Ok::<(), QueueError>(());
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
                for job in jobs {
                    *completed
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .entry(job.event_id.clone())
                        .or_default() += 1;
                    q.complete(&job).await?;
                }
            }
        }));
    }

    let mut producer_tasks = Vec::new();
    for part in events.chunks(chunk) {
        let (q, part) = (q.clone(), part.to_vec());
        producer_tasks.push(tokio::spawn(async move {
            let mut out = Vec::with_capacity(part.len());
            for n in part {
                let id = format!("evt_c{n}");
                out.push((n, q.enqueue(new_job(&id)).await?));
            }
            Ok::<_, QueueError>(out)
        }));
    }
    let mut job_of: HashMap<usize, i64> = HashMap::new();
    let (mut inserted, mut duplicates) = (0, 0);
    let mut results = Vec::new();
    for task in producer_tasks {
        results.extend(
            task.await
                .map_err(|e| ConformanceFailure(format!("producer panicked: {e}")))??,
        );
    }
    enqueued.store(true, Ordering::SeqCst);
    for task in worker_tasks {
        task.await
            .map_err(|e| ConformanceFailure(format!("worker panicked: {e}")))??;
    }

    for (n, result) in results {
        match result {
            Enqueued::Inserted(_) => inserted += 1,
            Enqueued::Duplicate(_) => duplicates += 1,
        }
        let id = *job_of.entry(n).or_insert(result.id());
        ensure!(
            id == result.id(),
            "event {n} got ids {id} and {}",
            result.id()
        );
    }
    ensure!(
        inserted == unique && duplicates == total / 5,
        "{inserted} inserted, {duplicates} duplicates"
    );
    let completed = std::mem::take(&mut *completed.lock().unwrap_or_else(|e| e.into_inner()));
    ensure!(
        completed.len() == unique,
        "{} distinct events completed, want {unique}",
        completed.len()
    );
    if let Some((id, n)) = completed.iter().find(|(_, &n)| n != 1) {
        return Err(ConformanceFailure(format!("{id} completed {n} times")));
    }
    let stats = store.admin.stats().await?;
    ensure!(
        stats
            == QueueStats {
                done: unique as u64,
                ..Default::default()
            },
        "final stats {stats:?}"
    );
    Ok(())
}

/// `renew` extends the leases still held, so an extended job is not re-granted when its first
/// lease runs out; it reports (and leaves alone) jobs re-granted or answered meanwhile.
pub async fn renew(store: &Store) -> Result<(), ConformanceFailure> {
    let q = &*store.queue;
    for id in ["evt_kept", "evt_lapsed", "evt_answered"] {
        q.enqueue(new_job(id)).await?;
    }
    let jobs = q.reserve(3, Duration::ZERO).await?;
    ensure!(jobs.len() == 3, "expected 3 jobs, got {}", jobs.len());
    let (kept, lapsed, answered) = (&jobs[0], &jobs[1], &jobs[2]);
    // An expired lease not yet re-granted may still be renewed.
    let lost = q.renew(std::slice::from_ref(kept), LONG).await?;
    ensure!(lost.is_empty(), "renewing a held lease lost {lost:?}");
    let regranted = reserve_one(q, LONG).await?;
    ensure!(
        regranted.id == lapsed.id,
        "expected the unrenewed job to be re-granted, got {}",
        regranted.event_id
    );
    let regranted_answered = reserve_one(q, LONG).await?;
    q.complete(&regranted_answered).await?;
    ensure!(
        q.reserve(10, LONG).await?.is_empty(),
        "a renewed lease was re-granted"
    );
    let lost = q.renew(&jobs, LONG).await?;
    let mut want = vec![lapsed.id, answered.id];
    want.sort_unstable();
    let mut got = lost.clone();
    got.sort_unstable();
    ensure!(got == want, "renew reported {lost:?} lost, want {want:?}");
    ensure!(
        is_lease_lost(q.complete(lapsed).await, lapsed),
        "renew revived a lost lease"
    );
    q.complete(&regranted).await?;
    q.complete(kept).await?;
    ensure!(
        q.renew(std::slice::from_ref(kept), LONG).await? == [kept.id],
        "renewing a completed job must report its lease lost"
    );
    Ok(())
}

/// `complete_all` completes every job still held and reports (and leaves alone) those whose
/// lease was lost: re-granted to another worker or already answered.
pub async fn complete_all(store: &Store) -> Result<(), ConformanceFailure> {
    let q = &*store.queue;
    let admin = &*store.admin;
    ensure!(
        q.complete_all(&[]).await?.is_empty(),
        "completing no jobs reported a lost lease"
    );
    for id in ["evt_held", "evt_lapsed", "evt_answered", "evt_other"] {
        q.enqueue(new_job(id)).await?;
    }
    let jobs = q.reserve(3, Duration::ZERO).await?;
    ensure!(jobs.len() == 3, "expected 3 jobs, got {}", jobs.len());
    let (held, lapsed, answered) = (&jobs[0], &jobs[1], &jobs[2]);
    q.renew(&[held.clone(), answered.clone()], LONG).await?;
    let regranted = reserve_one(q, LONG).await?;
    ensure!(
        regranted.id == lapsed.id,
        "expected the lapsed job to be re-granted, got {}",
        regranted.event_id
    );
    q.release(answered).await?;
    let mut lost = q.complete_all(&jobs).await?;
    lost.sort_unstable();
    let mut want = vec![lapsed.id, answered.id];
    want.sort_unstable();
    ensure!(
        lost == want,
        "complete_all reported {lost:?} lost, want {want:?}"
    );
    let stats = admin.stats().await?;
    ensure!(
        stats.done == 1 && stats.ready == 2 && stats.leased == 1,
        "complete_all must complete only the held job, got {stats:?}"
    );
    ensure!(
        is_lease_lost(q.complete(held).await, held),
        "a job completed by complete_all could be completed again"
    );
    q.complete(&regranted).await?;
    let rest = q.reserve(10, LONG).await?;
    ensure!(rest.len() == 2, "expected 2 ready jobs, got {}", rest.len());
    ensure!(
        q.complete_all(&rest).await?.is_empty(),
        "completing held jobs reported a lost lease"
    );
    ensure!(admin.stats().await?.done == 4, "not every job is done");
    Ok(())
}

/// A backend that offers an [`EnqueueSignal`](crate::EnqueueSignal) fires it by the time an
/// insert or a replay returns (firing more often only costs a worker a look); one without a
/// signal passes.
pub async fn enqueue_signal(store: &Store) -> Result<(), ConformanceFailure> {
    let q = store.queue.as_ref();
    let Some(mut signal) = q.enqueue_signal() else {
        return Ok(());
    };
    // A backend may fire spuriously (e.g. another schema's queue announcing on the same
    // PostgreSQL channel), so start from a seen state.
    if signal.has_changed() {
        signal.changed().await;
    }
    q.enqueue(new_job("evt_signal")).await?;
    ensure!(
        signal.has_changed(),
        "the signal did not fire for an insert"
    );
    let job = reserve_one(q, LONG).await?;
    q.dead_letter(&job, "for the replay").await?;
    // Only what happens from here on counts (the announcement of the insert may also arrive
    // late, through another process's channel).
    signal.changed().await;
    store.admin.replay(job.id).await?;
    ensure!(signal.has_changed(), "the signal did not fire for a replay");
    Ok(())
}

/// Run every check, each on a fresh store from `fresh`, with a smaller concurrency run
/// (8 producers, 2,000 jobs, 4 workers).
pub async fn run_all<F, Fut>(mut fresh: F) -> Result<(), ConformanceFailure>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Store>,
{
    dedupe(&fresh().await).await?;
    ordering(&fresh().await).await?;
    lease_expiry(&fresh().await).await?;
    answered_lease_is_spent(&fresh().await).await?;
    retry_attempts(&fresh().await).await?;
    dead_letter_and_replay(&fresh().await).await?;
    stats(&fresh().await).await?;
    purge_keeps_recent(&fresh().await).await?;
    purge_dead_letters(&fresh().await).await?;
    renew(&fresh().await).await?;
    complete_all(&fresh().await).await?;
    ledger_merge_order(&fresh().await).await?;
    ledger_alias_merge(&fresh().await).await?;
    ledger_versions(&fresh().await).await?;
    ledger_reset_written(&fresh().await).await?;
    ledger_contact_rows(&fresh().await).await?;
    ledger_previous_contacts(&fresh().await).await?;
    ledger_merge_keeps_newer_marks(&fresh().await).await?;
    enqueue_signal(&fresh().await).await?;
    ledger_pages(&fresh().await).await?;
    checkpoints(&fresh().await).await?;
    operator_pause(&fresh().await).await?;
    contact_marks(&fresh().await).await?;
    customer_merge_order(&fresh().await).await?;
    customer_marks_and_pages(&fresh().await).await?;
    customer_payments_share_a_contact(&fresh().await).await?;
    guest_payment_joins_customer(&fresh().await).await?;
    payment_without_email_takes_its_customers(&fresh().await).await?;
    erase_customer_forgets_the_person(&fresh().await).await?;
    contact_marks_forgotten(&fresh().await).await?;
    company_members_and_dirtiness(&fresh().await).await?;
    company_note_during_write_stays_dirty(&fresh().await).await?;
    company_moves_bump_both(&fresh().await).await?;
    company_links_pending_after_forget(&fresh().await).await?;
    company_membership_erased(&fresh().await).await?;
    line_items_pend_on_change_only(&fresh().await).await?;
    portal_crud(&fresh().await).await?;
    portal_id_taken(&fresh().await).await?;
    portal_account_claimed(&fresh().await).await?;
    portal_set_replaces_accounts(&fresh().await).await?;
    portal_remove_frees_accounts(&fresh().await).await?;
    portal_validation(&fresh().await).await?;
    portal_token_never_shown(&fresh().await).await?;
    concurrent_portal_claims(&[fresh().await]).await?;
    namespace_isolation(&fresh().await).await?;
    namespace_long_ids(&fresh().await).await?;
    let store = fresh().await;
    namespace_dropped_elsewhere(&store, &store).await?;
    portal_fields_round_trip(&fresh().await).await?;
    portal_record_paused(&fresh().await).await?;
    portal_leases(&fresh().await).await?;
    process_heartbeats(&fresh().await).await?;
    concurrent_lease_claims(&[fresh().await]).await?;
    unrouted_events(&fresh().await).await?;
    concurrent(fresh().await, 8, 2_000, 4).await
}
