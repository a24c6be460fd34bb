//! What a SCIM handler receives: the typed path parameters of its route.

use serde::Deserialize;

/// `/scim/v2/{namespace}/{directory}/…`: the directory every endpoint is under.
#[derive(Debug, Deserialize)]
pub struct DirectoryPath {
    pub namespace: String,
    pub directory: String,
}

/// `…/Users/{id}`, `…/Groups/{id}`, `…/Schemas/{id}`: one resource by its id.
#[derive(Debug, Deserialize)]
pub struct IdPath {
    pub id: String,
}

/// `…/ResourceTypes/{name}`: one resource type by its name.
#[derive(Debug, Deserialize)]
pub struct NamePath {
    pub name: String,
}
