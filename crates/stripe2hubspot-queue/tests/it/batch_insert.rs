//! Many concurrent enqueues share one transaction, sent as multi-row inserts: every event is
//! stored once with its own payload, and each repeat (in the same batch or a later one) is a
//! duplicate answering the stored row's id.

use std::collections::HashMap;

use stripe2hubspot_queue::{conformance::new_job, Enqueued, Queue, QueueAdmin, SqliteQueue};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_coalesced_batches_store_each_event_once_and_match_ids_by_event() {
    let dir = tempfile::tempdir().unwrap();
    let queue = SqliteQueue::open(dir.path().join("q.db")).await.unwrap();
    // 300 distinct events, each sent twice, all at once: batches of up to 256 with repeats
    // inside them, split into chunks of 64, 16, 4 and 1 rows.
    let mut tasks = Vec::new();
    for round in 0..2 {
        for n in 0..300 {
            let queue = queue.clone();
            let id = format!("evt_{:03}", (n * 7 + round * 13) % 300);
            tasks.push(tokio::spawn(async move {
                (id.clone(), queue.enqueue(new_job(&id)).await.unwrap())
            }));
        }
    }
    let mut inserted: HashMap<String, i64> = HashMap::new();
    let mut duplicates: Vec<(String, i64)> = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (id, Enqueued::Inserted(job)) => {
                assert!(
                    inserted.insert(id, job).is_none(),
                    "an event inserted twice"
                );
            }
            (id, Enqueued::Duplicate(job)) => duplicates.push((id, job)),
        }
    }
    assert_eq!((inserted.len(), duplicates.len()), (300, 300));
    for (id, job) in duplicates {
        assert_eq!(
            inserted.get(&id),
            Some(&job),
            "{id} answered another row's id"
        );
    }
    assert_eq!(queue.stats().await.unwrap().ready, 300);
    // Each stored row holds its own event's payload (ids were not matched by position).
    let jobs = queue
        .reserve(300, std::time::Duration::from_secs(60))
        .await
        .unwrap();
    for job in jobs {
        assert_eq!(inserted.get(&job.event_id), Some(&job.id));
        assert_eq!(job.payload, new_job(&job.event_id).payload);
    }
}
