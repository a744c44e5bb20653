//! Pipelines and their stages (deals and tickets move through them).

use std::collections::BTreeMap;

use reqwest::Method;
use serde::{Deserialize, Deserializer};

use crate::client::{Call, Client};
use crate::error::Error;
use crate::objects::{id_string, ObjectType};
use crate::paths;

/// A pipeline as HubSpot returns it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pipeline {
    /// The pipeline id (`default` for the account's first deal pipeline).
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    /// Display label.
    #[serde(default)]
    pub label: String,
    /// Sort position.
    #[serde(default)]
    pub display_order: i64,
    /// The stages, in HubSpot's order.
    #[serde(default)]
    pub stages: Vec<PipelineStage>,
    /// Whether the pipeline is archived.
    #[serde(default)]
    pub archived: bool,
}

impl Pipeline {
    /// The stage with this id, if the pipeline has it.
    pub fn stage(&self, id: &str) -> Option<&PipelineStage> {
        self.stages.iter().find(|s| s.id == id)
    }
}

/// One stage of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineStage {
    /// The stage id, the value of the `dealstage` property.
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    /// Display label.
    #[serde(default)]
    pub label: String,
    /// Sort position.
    #[serde(default)]
    pub display_order: i64,
    /// Stage metadata such as `isClosed` and `probability`, values as strings.
    #[serde(default, deserialize_with = "string_map")]
    pub metadata: BTreeMap<String, String>,
    /// Whether the stage is archived.
    #[serde(default)]
    pub archived: bool,
}

fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let mut out = BTreeMap::new();
    if let serde_json::Value::Object(map) = serde_json::Value::deserialize(d)? {
        for (k, v) in map {
            let v = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Null => continue,
                other => other.to_string(),
            };
            out.insert(k, v);
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    results: Vec<Pipeline>,
}

/// Pipeline calls for one object type; get it from [`Client::pipelines`].
#[derive(Debug, Clone)]
pub struct Pipelines {
    client: Client,
    object_type: ObjectType,
}

impl Pipelines {
    pub(crate) fn new(client: Client, object_type: ObjectType) -> Self {
        Pipelines {
            client,
            object_type,
        }
    }

    /// Every pipeline of the type with its stages (`GET /crm/pipelines/{version}/{type}`).
    pub async fn list(&self) -> Result<Vec<Pipeline>, Error> {
        let call = Call::new(
            Method::GET,
            "pipelines.list",
            paths::pipelines(self.client.api_version(), self.object_type.as_str()),
        );
        Ok(self.client.execute::<Page>(call).await?.body.results)
    }
}
