//! Pipelines and their stages: the account's default deal pipeline, and knobs to change it.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::objects::{known_type, unknown_type};
use super::replies::Reply;
use super::state::FakeState;

/// A stored pipeline.
#[derive(Debug, Clone)]
pub(super) struct StoredPipeline {
    pub(super) id: String,
    pub(super) label: String,
    pub(super) stages: Vec<StoredStage>,
}

/// A stored pipeline stage.
#[derive(Debug, Clone)]
pub(super) struct StoredStage {
    pub(super) id: String,
    pub(super) label: String,
    pub(super) probability: &'static str,
}

/// HubSpot's "Sales Pipeline" (`default`) with its seven stages, as a new account has it.
pub(super) fn default_pipelines() -> BTreeMap<String, Vec<StoredPipeline>> {
    let stages = [
        ("appointmentscheduled", "Appointment Scheduled", "0.2"),
        ("qualifiedtobuy", "Qualified To Buy", "0.4"),
        ("presentationscheduled", "Presentation Scheduled", "0.6"),
        ("decisionmakerboughtin", "Decision Maker Bought-In", "0.8"),
        ("contractsent", "Contract Sent", "0.9"),
        ("closedwon", "Closed Won", "1.0"),
        ("closedlost", "Closed Lost", "0.0"),
    ]
    .into_iter()
    .map(|(id, label, probability)| StoredStage {
        id: id.to_owned(),
        label: label.to_owned(),
        probability,
    })
    .collect();
    let sales = StoredPipeline {
        id: "default".to_owned(),
        label: "Sales Pipeline".to_owned(),
        stages,
    };
    BTreeMap::from([("deals".to_owned(), vec![sales])])
}

fn pipeline_json(order: usize, p: &StoredPipeline) -> Value {
    let stages: Vec<Value> = p
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let closed = matches!(s.id.as_str(), "closedwon" | "closedlost");
            json!({
                "id": s.id,
                "label": s.label,
                "displayOrder": i,
                "metadata": { "isClosed": closed.to_string(), "probability": s.probability },
                "archived": false,
            })
        })
        .collect();
    json!({
        "id": p.id,
        "label": p.label,
        "displayOrder": order,
        "stages": stages,
        "archived": false,
    })
}

/// `GET /crm/pipelines/{version}/{type}`.
pub(super) fn list_pipelines(state: &FakeState, object_type: &str) -> Reply {
    if !known_type(object_type) {
        return unknown_type(object_type);
    }
    let results: Vec<Value> = state
        .pipelines
        .get(object_type)
        .map(|list| {
            list.iter()
                .enumerate()
                .map(|(i, p)| pipeline_json(i, p))
                .collect()
        })
        .unwrap_or_default();
    Reply::json(200, json!({ "results": results }))
}
