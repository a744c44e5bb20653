//! Archiving (deleting) one CRM object by id.

use reqwest::Method;

use crate::client::{Call, Client};
use crate::error::Error;
use crate::objects::{check_id, ObjectType};
use crate::paths;

impl Client {
    /// Archives the object `id` of `object_type`
    /// (`DELETE /crm/objects/{version}/{type}/{id}`; HubSpot answers 204 and keeps it in the
    /// recycle bin for 90 days). An id HubSpot does not know fails with
    /// [`Error::NotFound`].
    pub async fn archive(&self, object_type: &ObjectType, id: &str) -> Result<(), Error> {
        check_id(id)?;
        let call = Call::new(
            Method::DELETE,
            "objects.archive",
            paths::objects(self.api_version(), object_type.as_str(), &[id]),
        );
        self.execute::<serde::de::IgnoredAny>(call).await.map(drop)
    }
}
