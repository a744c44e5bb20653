//! Checks of per-portal namespaces ([`Store::portal`], [`PortalStore::namespace`](crate::PortalStore::namespace)):
//! each portal's jobs, ledgers, pause, checkpoints and dead letters apart from every other
//! portal's and from the store's own (the `default` portal's).

use serde_json::json;
use stripe2hubspot_map::MappingConfig;

use super::{new_job, paid, reserve_one, ConformanceFailure, LONG};
use crate::{Enqueued, QueueStats, Store, DEFAULT_PORTAL};

async fn portal(store: &Store, id: &str) -> Result<Store, ConformanceFailure> {
    store
        .portal(id)
        .await
        .map_err(|e| ConformanceFailure(format!("opening portal {id}'s store: {e}")))
}

async fn has_payment(store: &Store, id: &str) -> Result<bool, ConformanceFailure> {
    Ok(store.state.ledger_entry(id).await?.is_some())
}

/// A payment `charge` paid by `email`, merged into `store`'s ledger.
async fn pay(store: &Store, charge: &str, email: &str) -> Result<(), ConformanceFailure> {
    let facts = paid(
        &format!("evt_{charge}"),
        100,
        json!({ "charge": charge }),
        500,
        Some(email),
    )?;
    store
        .state
        .merge_facts(&[facts], &MappingConfig::default())
        .await?;
    Ok(())
}

/// What a store that was never written holds: nothing at all.
async fn ensure_empty(store: &Store, what: &str) -> Result<(), ConformanceFailure> {
    let stats = store.admin.stats().await?;
    ensure!(
        stats == QueueStats::default(),
        "{what} should hold no job: {stats:?}"
    );
    ensure!(
        store.state.unwritten(10).await?.is_empty()
            && store.state.ledger_rows(None, 10).await?.is_empty(),
        "{what} should hold no ledger row"
    );
    ensure!(
        store.pause.operator_pause().await?.is_none(),
        "{what} should not be paused"
    );
    ensure!(
        store.state.checkpoint("backfill").await?.is_none(),
        "{what} should hold no checkpoint"
    );
    ensure!(
        store.admin.dead_letters(10, None).await?.is_empty(),
        "{what} should hold no dead letter"
    );
    Ok(())
}

/// Two portals and the store's own data stay apart: a job enqueued in one is reserved only
/// there (the same event id is a new job in another portal), and ledger rows, pause,
/// checkpoints and dead letters are each portal's own. `portal("default")` is the store
/// itself. A portal's store opened again sees the same data; after `drop_namespace` it is
/// empty, while the other portal and the store's own data are untouched.
pub async fn namespace_isolation(store: &Store) -> Result<(), ConformanceFailure> {
    let a = portal(store, "acme-eu").await?;
    let b = portal(store, "beta").await?;
    let own = portal(store, DEFAULT_PORTAL).await?;
    ensure_empty(&a, "a new portal").await?;
    for bad in [DEFAULT_PORTAL, "Not A Slug", ""] {
        ensure!(
            matches!(
                store.portals.namespace(bad).await,
                Err(crate::QueueError::Config { .. })
            ),
            "namespace({bad:?}) must be refused: the default portal is the store itself, and ids are slugs"
        );
    }

    store.queue.enqueue(new_job("evt_root")).await?;
    let first = a.queue.enqueue(new_job("evt_a")).await?;
    ensure!(
        matches!(first, Enqueued::Inserted(_)),
        "portal acme-eu's first enqueue gave {first:?}"
    );
    ensure!(
        b.queue.reserve(10, LONG).await?.is_empty(),
        "portal beta reserved another portal's or the store's job"
    );
    let job = reserve_one(&*own.queue, LONG).await?;
    ensure!(
        job.event_id == "evt_root",
        "the default portal's store reserved {} (another portal's job?)",
        job.event_id
    );
    store.queue.complete(&job).await?;
    let job = reserve_one(&*a.queue, LONG).await?;
    ensure!(
        job.event_id == "evt_a",
        "portal acme-eu reserved {}",
        job.event_id
    );
    a.queue.dead_letter(&job, "for the isolation check").await?;
    let again = b.queue.enqueue(new_job("evt_a")).await?;
    ensure!(
        matches!(again, Enqueued::Inserted(_)),
        "an event id known in another portal is new in this one: gave {again:?}"
    );

    pay(&a, "ch_a", "a@example.com").await?;
    a.pause.pause_sync("ops").await?;
    a.state.save_checkpoint("backfill", "acme").await?;
    pay(&b, "ch_b", "b@example.com").await?;
    ensure!(
        !has_payment(&b, "ch_a").await? && !has_payment(store, "ch_a").await?,
        "portal acme-eu's payment shows elsewhere"
    );
    ensure!(
        !has_payment(&a, "ch_b").await? && !has_payment(store, "ch_b").await?,
        "portal beta's payment shows elsewhere"
    );
    ensure!(
        b.pause.operator_pause().await?.is_none() && store.pause.operator_pause().await?.is_none(),
        "portal acme-eu's pause paused another portal"
    );
    ensure!(
        b.state.checkpoint("backfill").await?.is_none()
            && store.state.checkpoint("backfill").await?.is_none(),
        "portal acme-eu's checkpoint shows elsewhere"
    );
    ensure!(
        b.admin.dead_letters(10, None).await?.is_empty()
            && store.admin.dead_letters(10, None).await?.is_empty(),
        "portal acme-eu's dead letter shows elsewhere"
    );

    let reopened = portal(store, "acme-eu").await?;
    ensure!(
        reopened.admin.stats().await?.dead == 1 && has_payment(&reopened, "ch_a").await?,
        "portal acme-eu's store opened again lost its data"
    );

    store.portals.drop_namespace("acme-eu").await?;
    store.portals.drop_namespace("acme-eu").await?;
    store.portals.drop_namespace("never-opened").await?;
    let fresh = portal(store, "acme-eu").await?;
    ensure_empty(&fresh, "a dropped portal opened again").await?;
    let stored = fresh.queue.enqueue(new_job("evt_a")).await?;
    ensure!(
        matches!(stored, Enqueued::Inserted(_)),
        "a dropped portal forgets its events: gave {stored:?}"
    );
    let b_stats = b.admin.stats().await?;
    ensure!(
        b_stats.ready == 1 && has_payment(&b, "ch_b").await?,
        "dropping portal acme-eu touched portal beta: {b_stats:?}"
    );
    let own_stats = store.admin.stats().await?;
    ensure!(
        own_stats.done == 1 && own_stats.ready == 0 && own_stats.dead == 0,
        "dropping portal acme-eu touched the store's own jobs: {own_stats:?}"
    );
    Ok(())
}

/// The longest ids (63 characters) work, and two of them that differ only in their last
/// character are two portals, as are two that share a long beginning.
pub async fn namespace_long_ids(store: &Store) -> Result<(), ConformanceFailure> {
    let stem = "a-very-long-portal-id-for-a-connected-account-of-the-platform-";
    let (one, two) = (format!("{stem}1"), format!("{stem}2"));
    ensure!(one.len() == 63, "the test id has {} characters", one.len());
    let first = portal(store, &one).await?;
    let second = portal(store, &two).await?;
    let shorter = portal(store, &stem[..40]).await?;
    first.queue.enqueue(new_job("evt_long")).await?;
    pay(&first, "ch_long", "long@example.com").await?;
    for (other, id) in [(&second, &two), (&shorter, &stem[..40].to_owned())] {
        ensure!(
            other.queue.reserve(10, LONG).await?.is_empty()
                && !has_payment(other, "ch_long").await?,
            "portal {id} sees the data of portal {one}"
        );
    }
    let job = reserve_one(&*first.queue, LONG).await?;
    ensure!(job.event_id == "evt_long", "reserved {}", job.event_id);
    first.queue.complete(&job).await?;
    store.portals.drop_namespace(&one).await?;
    ensure_empty(&portal(store, &one).await?, "a dropped long-id portal").await?;
    Ok(())
}

/// A namespace dropped through `other` (another handle on the same backing store: another
/// process, such as the CLI's `portals remove --purge`) and opened again through `store`,
/// which had it open before, is an empty, working store.
pub async fn namespace_dropped_elsewhere(
    store: &Store,
    other: &Store,
) -> Result<(), ConformanceFailure> {
    let before = portal(store, "acme").await?;
    before.queue.enqueue(new_job("evt_old")).await?;
    pay(&before, "ch_old", "old@example.com").await?;
    other.portals.drop_namespace("acme").await?;
    let after = portal(store, "acme").await?;
    ensure_empty(&after, "a portal dropped by another process, opened again").await?;
    after.queue.enqueue(new_job("evt_new")).await?;
    pay(&after, "ch_new", "new@example.com").await?;
    let job = reserve_one(&*after.queue, LONG).await?;
    ensure!(job.event_id == "evt_new", "reserved {}", job.event_id);
    ensure!(
        has_payment(&portal(other, "acme").await?, "ch_new").await?,
        "the other process sees the new data"
    );
    Ok(())
}
