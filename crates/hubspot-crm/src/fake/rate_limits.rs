//! HubSpot's rate limits: the rolling request window and the per-second search limit.

use std::collections::VecDeque;
use std::time::Instant;

use serde_json::{json, Value};

use super::replies::{correlation_id, Reply};
use super::state::FakeState;
use crate::RateLimit;

/// Counts a request into a rolling window; `None` when the window is full (answer 429),
/// else how many requests the window still admits.
pub(super) fn admit(
    window: &mut VecDeque<Instant>,
    limit: RateLimit,
    now: Instant,
) -> Option<usize> {
    while window
        .front()
        .is_some_and(|sent| now.duration_since(*sent) >= limit.window())
    {
        window.pop_front();
    }
    let max = limit.max() as usize;
    if window.len() >= max {
        return None;
    }
    window.push_back(now);
    Some(max - window.len())
}

pub(super) fn rate_limit_body(policy: &str) -> Value {
    json!({
        "status": "error",
        "message": format!("You have reached your {} limit.", policy.to_ascii_lowercase()),
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id(),
        "policyName": policy,
        "groupName": "publicapi:private-app:fake"
    })
}

pub(super) fn rate_limit_headers(
    limit: RateLimit,
    remaining: usize,
) -> Vec<(&'static str, String)> {
    vec![
        ("x-hubspot-ratelimit-max", limit.max().to_string()),
        ("x-hubspot-ratelimit-remaining", remaining.to_string()),
        (
            "x-hubspot-ratelimit-interval-milliseconds",
            limit.window().as_millis().to_string(),
        ),
    ]
}

/// Counts the request into the request window (and the search window for a search):
/// `Ok` with the rate-limit headers to send, or `Err` with the 429 to answer.
pub(super) fn admit_request(
    state: &mut FakeState,
    is_search: bool,
    now: Instant,
) -> Result<Vec<(&'static str, String)>, Reply> {
    let mut headers = Vec::new();
    if let Some(limit) = state.rate_limit {
        let Some(remaining) = admit(&mut state.window, limit, now) else {
            let mut reply = Reply::json(429, rate_limit_body("TEN_SECONDLY_ROLLING"));
            reply.headers = rate_limit_headers(limit, 0);
            return Err(reply);
        };
        headers = rate_limit_headers(limit, remaining);
    }
    if is_search {
        if let Some(limit) = state.search_rate_limit {
            if admit(&mut state.search_window, limit, now).is_none() {
                return Err(Reply::json(429, rate_limit_body("SECONDLY")));
            }
        }
    }
    Ok(headers)
}
