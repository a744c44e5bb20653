//! Associations: default associations, single and batch.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::client::{Call, Client};
use crate::error::Error;
use crate::objects::{check_batch, check_id, BatchResult, ObjectId, ObjectType, RawBatch};
use crate::paths;

/// An association HubSpot made: both ends and the type it used.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DefaultAssociation {
    /// The source object.
    pub from: ObjectId,
    /// The target object.
    pub to: ObjectId,
    /// The association type used.
    #[serde(default)]
    pub association_spec: Option<AssociationSpec>,
}

/// An association type as HubSpot reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociationSpec {
    /// `HUBSPOT_DEFINED`, `USER_DEFINED` or `INTEGRATOR_DEFINED`.
    #[serde(default)]
    pub association_category: String,
    /// The type id.
    #[serde(default)]
    pub association_type_id: i64,
}

/// Association calls; get it from [`Client::associations`].
#[derive(Debug, Clone)]
pub struct Associations {
    client: Client,
}

#[derive(Serialize)]
struct Pair {
    from: ObjectId,
    to: ObjectId,
}

#[derive(Serialize)]
struct Inputs {
    inputs: Vec<Pair>,
}

/// One input of the v4 batch archive: a source and every target to unlink from it.
#[derive(Serialize)]
struct ArchiveInput {
    from: ObjectId,
    to: Vec<ObjectId>,
}

#[derive(Serialize)]
struct ArchiveInputs {
    inputs: Vec<ArchiveInput>,
}

impl Associations {
    pub(crate) fn new(client: Client) -> Self {
        Associations { client }
    }

    /// Associates two objects with their default (unlabeled) type
    /// (`PUT /crm/objects/{version}/{from}/{fromId}/associations/default/{to}/{toId}`).
    /// Idempotent: associating twice is not an error.
    pub async fn associate_default(
        &self,
        from_type: &ObjectType,
        from_id: &str,
        to_type: &ObjectType,
        to_id: &str,
    ) -> Result<BatchResult<DefaultAssociation>, Error> {
        check_id(from_id)?;
        check_id(to_id)?;
        let call = Call::new(
            Method::PUT,
            "associations.default",
            paths::default_association(
                self.client.api_version(),
                from_type.as_str(),
                from_id,
                to_type.as_str(),
                to_id,
            ),
        );
        let answer = self
            .client
            .execute::<RawBatch<DefaultAssociation>>(call)
            .await?;
        Ok(answer.body.into_result(answer.status))
    }

    /// Associates up to 100 `(from_id, to_id)` pairs with the default type in one request
    /// (`POST /crm/associations/{version}/{from}/{to}/batch/associate/default`).
    pub async fn batch_associate_default<I, A, B>(
        &self,
        from_type: &ObjectType,
        to_type: &ObjectType,
        pairs: I,
    ) -> Result<BatchResult<DefaultAssociation>, Error>
    where
        I: IntoIterator<Item = (A, B)>,
        A: Into<String>,
        B: Into<String>,
    {
        let inputs: Vec<Pair> = pairs
            .into_iter()
            .map(|(a, b)| Pair {
                from: ObjectId { id: a.into() },
                to: ObjectId { id: b.into() },
            })
            .collect();
        check_batch(inputs.len())?;
        for p in &inputs {
            check_id(&p.from.id)?;
            check_id(&p.to.id)?;
        }
        let call = Call::new(
            Method::POST,
            "associations.batch_default",
            paths::batch_default_associations(
                self.client.api_version(),
                from_type.as_str(),
                to_type.as_str(),
            ),
        )
        .json(&Inputs { inputs })?;
        let answer = self
            .client
            .execute::<RawBatch<DefaultAssociation>>(call)
            .await?;
        Ok(answer.body.into_result(answer.status))
    }

    /// Removes every association between each `(from_id, to_id)` pair, whatever its type, in
    /// one request (`POST /crm/associations/{version}/{from}/{to}/batch/archive`, body
    /// `{"inputs": [{"from": {"id"}, "to": [{"id"}, ...]}]}`; HubSpot answers 204). Pairs
    /// that are not associated are not an error. Up to 100 sources per call.
    pub async fn batch_archive<I, A, B>(
        &self,
        from_type: &ObjectType,
        to_type: &ObjectType,
        pairs: I,
    ) -> Result<(), Error>
    where
        I: IntoIterator<Item = (A, B)>,
        A: Into<String>,
        B: Into<String>,
    {
        let mut inputs: Vec<ArchiveInput> = Vec::new();
        for (from, to) in pairs {
            let (from, to) = (from.into(), to.into());
            check_id(&from)?;
            check_id(&to)?;
            match inputs.iter_mut().find(|input| input.from.id == from) {
                Some(input) => input.to.push(ObjectId { id: to }),
                None => inputs.push(ArchiveInput {
                    from: ObjectId { id: from },
                    to: vec![ObjectId { id: to }],
                }),
            }
        }
        if inputs.is_empty() {
            return Ok(());
        }
        check_batch(inputs.len())?;
        let call = Call::new(
            Method::POST,
            "associations.batch_archive",
            paths::batch_archive_associations(
                self.client.api_version(),
                from_type.as_str(),
                to_type.as_str(),
            ),
        )
        .json(&ArchiveInputs { inputs })?;
        self.client
            .execute::<serde::de::IgnoredAny>(call)
            .await
            .map(drop)
    }
}
