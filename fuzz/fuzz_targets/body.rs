//! POST/PUT bodies as the endpoint reads them: JSON → `normalize` → `user_from_scim` /
//! `group_from_scim`. Any body gets a spec or a SCIM error, never a panic; a stored user
//! renders as SCIM again (what a GET returns).
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_operator::api::User;
use scim_operator::scim::patch::normalize;
use scim_operator::scim::resource::{group_from_scim, user_from_scim, user_to_scim};
use scim_operator::scim::schema::{GROUP_RESOURCE, USER_RESOURCE};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let mut user = body.clone();
    if normalize(&mut user, &USER_RESOURCE).is_ok()
        && let Ok(spec) = user_from_scim(user)
    {
        let _ = user_to_scim(&User::new("fuzz", spec), "/scim/v2/ns/dir", &[]);
    }
    let mut group = body;
    if normalize(&mut group, &GROUP_RESOURCE).is_ok() {
        let _ = group_from_scim(group);
    }
});
