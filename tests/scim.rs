//! The SCIM endpoint over real HTTP, backed by a real kube-apiserver: Entra ID's and Okta's request
//! sequences (shared/reference/scim-clients.md), RFC 7644 filters, PATCH, paging, ETags and errors.

mod support;

use kube::Api;
use reqwest::StatusCode;
use scim_operator::api::{Group, User};
use serde_json::{Value, json};
use support::scim::{Scim, ServerOptions, create_directory, spawn_server};

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A fresh namespace with a directory, a server and a client.
async fn setup(prefix: &str) -> (kube::Client, String, Scim) {
    let client = support::client().await;
    let namespace = support::fresh_namespace(&client, prefix).await;
    let token = create_directory(&client, &namespace, "entra").await;
    let addr = spawn_server(client.clone(), ServerOptions::default()).await;
    let scim = Scim::connect(addr, &namespace, "entra", &token).await;
    (client, namespace, scim)
}

fn patch(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

fn entra_user(user_name: &str, external_id: &str) -> Value {
    json!({
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "externalId": external_id,
        "userName": user_name,
        "active": true,
        "emails": [{"primary": true, "type": "work", "value": format!("{user_name}@testuser.com")}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": []
    })
}

#[tokio::test]
async fn entra_user_lifecycle_default_mode() {
    let (client, namespace, scim) = setup("entra-user").await;

    // TV01 Test Connection: no match is a 200 with an empty ListResponse.
    let reply = scim
        .filter("/Users", "userName eq \"3f1c6a2e-0000-4000-8000-000000000000\"", "")
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["totalResults"], 0);
    assert_eq!(reply.body["Resources"], json!([]));
    assert_eq!(reply.headers["content-type"], "application/scim+json");

    // TV03 create.
    let user_name = "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee";
    let created = scim
        .post("/Users", &entra_user(user_name, "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(created.body["userName"], user_name);
    assert_eq!(created.body["meta"]["resourceType"], "User");
    assert_eq!(
        created.body["meta"]["location"],
        format!("/scim/v2/{namespace}/entra/Users/{id}")
    );
    assert!(created.headers.contains_key("etag"));
    assert_eq!(
        created.body["displayName"], "givenName familyName",
        "displayName falls back to the name parts"
    );

    // Stored as a User custom resource whose name is the SCIM id.
    let stored = Api::<User>::namespaced(client.clone(), &namespace)
        .get(&id)
        .await
        .unwrap();
    assert_eq!(stored.spec.user_name, user_name);
    assert_eq!(
        stored.spec.external_id.as_deref(),
        Some("0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef")
    );

    // TV04 duplicate, also in another letter case.
    let duplicate = scim.post("/Users", &entra_user(&user_name.to_uppercase(), "x")).await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    assert_eq!(duplicate.scim_type(), "uniqueness");
    assert_eq!(duplicate.body["status"], "409");

    // TV02 match by userName (case-insensitive) and by externalId.
    let by_name = scim
        .filter("/Users", &format!("userName eq \"{}\"", user_name.to_lowercase()), "")
        .await;
    assert_eq!(by_name.body["totalResults"], 1);
    assert_eq!(by_name.body["Resources"][0]["id"], id.as_str());
    let by_external = scim
        .filter("/Users", "externalId eq \"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef\"", "")
        .await;
    assert_eq!(by_external.body["totalResults"], 1);

    // TV06 replace a filtered multi-valued sub-attribute and a sub-attribute.
    let reply = scim
        .patch(
            &format!("/Users/{id}"),
            &patch(json!([
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
                {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"}
            ])),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["emails"][0]["value"], "updatedEmail@microsoft.com");
    assert_eq!(reply.body["name"]["familyName"], "updatedFamilyName");

    // TV08 (default form): one Replace per path, including the enterprise URN path.
    let reply = scim
        .patch(
            &format!("/Users/{id}"),
            &patch(json!([
                {"op": "Replace", "path": "externalId", "value": "new-external"},
                {"op": "Replace", "path": format!("{ENTERPRISE}:employeeNumber"), "value": "Aklq"},
                {"op": "Add", "path": "nickName", "value": "Babs"}
            ])),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body[ENTERPRISE]["employeeNumber"], "Aklq");
    assert_eq!(reply.body["nickName"], "Babs");

    // TV18 manager as a bare string on the URN path.
    let reply = scim
        .patch(
            &format!("/Users/{id}"),
            &patch(json!([{"op": "Add", "path": format!("{ENTERPRISE}:manager"), "value": "26118915-6090-4610-87e4-49d8ca9f808d"}])),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(
        reply.body[ENTERPRISE]["manager"]["value"],
        "26118915-6090-4610-87e4-49d8ca9f808d"
    );

    // TV10 roles with stringified values (AppRoleAssignmentsComplex).
    let reply = scim
        .patch(
            &format!("/Users/{id}"),
            &patch(json!([{"op": "Add", "path": "roles", "value": [
                {"value": "{\"id\":\"06b07648-ecfe-589f-9d2f-6325724a46ee\",\"value\":\"Admin\",\"displayName\":\"Admin\"}"},
                {"value": "{\"id\":\"06b07648-ecfe-599f-9d2f-6325724a46ee\",\"value\":\"User\",\"displayName\":\"User\"}"}
            ]}])),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let roles: Vec<&str> = reply.body["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["Admin", "User"]);

    // TV07 disable with the string "False"; the object says active: false.
    let reply = scim
        .patch(
            &format!("/Users/{id}"),
            &patch(json!([{"op": "Replace", "path": "active", "value": "False"}])),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["active"], false);
    let stored = Api::<User>::namespaced(client.clone(), &namespace)
        .get(&id)
        .await
        .unwrap();
    assert_eq!(stored.spec.active, Some(false));
    // Inactive users are still returned (soft delete).
    assert_eq!(scim.get(&format!("/Users/{id}")).await.status, StatusCode::OK);

    // TV19 delete, then 404 with a SCIM error body.
    assert_eq!(
        scim.delete(&format!("/Users/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    let gone = scim.get(&format!("/Users/{id}")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
    assert!(
        Api::<User>::namespaced(client, &namespace)
            .get_opt(&id)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn entra_flag_mode_patches() {
    let (_, _, scim) = setup("entra-flag").await;
    let id = scim.create_user("flag.user@contoso.com").await;
    // TV08 with aadOptscim062020: path-less replace with dotted and URN keys.
    let reply = scim
        .patch(
            &format!("/Users/{id}"),
            &patch(json!([
                {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "TestMhvaes@test.microsoft.com"},
                {"op": "replace", "value": {
                    "displayName": "Bjfe", "name.givenName": "Kkom", "name.familyName": "Unua",
                    format!("{ENTERPRISE}:employeeNumber"): "Aklq"
                }}
            ])),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let user = &reply.body;
    assert_eq!(user["displayName"], "Bjfe");
    assert_eq!(user["name"]["givenName"], "Kkom");
    assert_eq!(user["name"]["familyName"], "Unua");
    assert_eq!(user[ENTERPRISE]["employeeNumber"], "Aklq");
    assert!(
        user.get("name.givenName").is_none(),
        "dotted keys must not be stored literally"
    );
    assert_eq!(user["emails"].as_array().unwrap().len(), 1);
    assert_eq!(user["emails"][0]["type"], "work");
    // Disable with a real boolean; TV12 assertive roles replace.
    let reply = scim
        .patch(
            &format!("/Users/{id}"),
            &patch(json!([
                {"op": "replace", "path": "active", "value": false},
                {"op": "replace", "path": "roles", "value": [
                    {"primary": false, "type": "WindowsAzureActiveDirectoryRole", "display": "User", "value": "User"},
                    {"primary": false, "type": "WindowsAzureActiveDirectoryRole", "display": "Test", "value": "Test"}
                ]}
            ])),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["active"], false);
    let roles: Vec<&str> = reply.body["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["User", "Test"]);
}

#[tokio::test]
async fn entra_group_lifecycle() {
    let (client, namespace, scim) = setup("entra-group").await;
    let alice = scim.create_user("alice@contoso.com").await;
    let bob = scim.create_user("bob@contoso.com").await;

    // TV13 create (Entra's extra schema URN is tolerated), always with empty members.
    let created = scim
        .post(
            "/Groups",
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
                "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                "displayName": "ws-Sales-role-admin",
                "meta": {"resourceType": "Group"}
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let gid = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(created.body["members"], json!([]));
    let again = scim
        .post("/Groups", &json!({"displayName": "ws-Sales-role-admin"}))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.scim_type(), "uniqueness");

    // TV14 lookup without members.
    let found = scim
        .filter(
            "/Groups",
            "displayName eq \"ws-Sales-role-admin\"",
            "excludedAttributes=members",
        )
        .await;
    assert_eq!(found.body["totalResults"], 1);
    assert!(found.body["Resources"][0].get("members").is_none());
    assert_eq!(found.body["Resources"][0]["id"], gid.as_str());

    // TV15 add members (with "$ref": null); re-adding is a no-op.
    let add = |id: &str| patch(json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": id}]}]));
    assert_eq!(
        scim.patch(&format!("/Groups/{gid}"), &add(&alice)).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        scim.patch(&format!("/Groups/{gid}"), &add(&bob)).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        scim.patch(&format!("/Groups/{gid}"), &add(&alice)).await.status,
        StatusCode::NO_CONTENT
    );
    let group = scim.get(&format!("/Groups/{gid}")).await;
    let mut members: Vec<&str> = group.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    members.sort();
    let mut expected = vec![alice.as_str(), bob.as_str()];
    expected.sort();
    assert_eq!(members, expected);
    // Membership is stored on the member.
    let stored = Api::<User>::namespaced(client.clone(), &namespace)
        .get(&alice)
        .await
        .unwrap();
    assert_eq!(stored.spec.groups, vec![gid.clone()]);
    // The user shows its groups.
    let user = scim.get(&format!("/Users/{alice}")).await;
    assert_eq!(user.body["groups"][0]["value"], gid.as_str());
    assert_eq!(user.body["groups"][0]["display"], "ws-Sales-role-admin");
    // members.value eq finds the user's groups.
    let by_member = scim.filter("/Groups", &format!("members.value eq \"{bob}\""), "").await;
    assert_eq!(by_member.body["totalResults"], 1);

    // TV16 default remove by value list: only that member goes.
    let remove = patch(json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": alice}]}]));
    assert_eq!(
        scim.patch(&format!("/Groups/{gid}"), &remove).await.status,
        StatusCode::NO_CONTENT
    );
    let group = scim.get(&format!("/Groups/{gid}")).await;
    assert_eq!(
        group.body["members"],
        json!([{"value": bob, "display": "bob@contoso.com", "$ref": format!("/scim/v2/{namespace}/entra/Users/{bob}"), "type": "User"}])
    );

    // TV16 flag form: remove by filter, no value.
    let remove = patch(json!([{"op": "remove", "path": format!("members[value eq \"{bob}\"]")}]));
    assert_eq!(
        scim.patch(&format!("/Groups/{gid}"), &remove).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(scim.get(&format!("/Groups/{gid}")).await.body["members"], json!([]));

    // Adding an unknown user is refused and changes nothing.
    let bad = scim.patch(&format!("/Groups/{gid}"), &add("u-does-not-exist")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.scim_type(), "invalidValue");

    // TV17 rename.
    let rename = patch(json!([{"op": "Replace", "path": "displayName", "value": "ws-Sales-role-member"}]));
    assert_eq!(
        scim.patch(&format!("/Groups/{gid}"), &rename).await.status,
        StatusCode::NO_CONTENT
    );
    let stored = Api::<Group>::namespaced(client.clone(), &namespace)
        .get(&gid)
        .await
        .unwrap();
    assert_eq!(stored.spec.display_name, "ws-Sales-role-member");

    // TV19 delete: memberships go with the group.
    assert_eq!(
        scim.patch(&format!("/Groups/{gid}"), &add(&alice)).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        scim.delete(&format!("/Groups/{gid}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(scim.get(&format!("/Groups/{gid}")).await.status, StatusCode::NOT_FOUND);
    let stored = Api::<User>::namespaced(client, &namespace).get(&alice).await.unwrap();
    assert!(stored.spec.groups.is_empty());
}

#[tokio::test]
async fn okta_sequences() {
    let (_, _, scim) = setup("okta").await;
    // TV21 lookup with paging parameters, no match.
    let reply = scim
        .filter(
            "/Users",
            "userName eq \"test.user@okta.local\"",
            "startIndex=1&count=100",
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["totalResults"], 0);
    assert_eq!(reply.body["startIndex"], 1);
    // Create with a password (discarded), then PUT a profile change.
    let created = scim
        .post("/Users", &json!({"schemas": [USER_SCHEMA], "userName": "test.user@okta.local", "password": "s3cret!", "active": true,
            "name": {"givenName": "Test", "familyName": "User"}, "emails": [{"value": "test.user@okta.local", "primary": true, "type": "work"}], "groups": []}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert!(
        created.body.get("password").is_none(),
        "passwords are never stored or returned"
    );
    let id = created.body["id"].as_str().unwrap().to_string();
    let mut profile = created.body.clone();
    profile["name"]["familyName"] = json!("Renamed");
    let replaced = scim.put(&format!("/Users/{id}"), &profile).await;
    assert_eq!(replaced.status, StatusCode::OK, "{:?}", replaced.body);
    assert_eq!(replaced.body["name"]["familyName"], "Renamed");
    // TV20 deactivate with a path-less replace.
    let reply = scim
        .patch(
            &format!("/Users/{id}"),
            &patch(json!([{"op": "replace", "value": {"active": false}}])),
        )
        .await;
    assert_eq!(reply.body["active"], false);

    // Push Groups: create with members: [], rename path-less with read-only id, member filter-remove + add.
    let other = scim.create_user("other@okta.local").await;
    let group = scim.post("/Groups", &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Okta Pushed", "members": []})).await;
    assert_eq!(group.status, StatusCode::CREATED);
    let gid = group.body["id"].as_str().unwrap().to_string();
    let rename = patch(json!([{"op": "replace", "value": {"id": gid, "displayName": "Test SCIMv2"}}]));
    assert_eq!(
        scim.patch(&format!("/Groups/{gid}"), &rename).await.status,
        StatusCode::NO_CONTENT
    );
    let swap = patch(json!([
        {"op": "add", "path": "members", "value": [{"value": id}]},
    ]));
    assert_eq!(
        scim.patch(&format!("/Groups/{gid}"), &swap).await.status,
        StatusCode::NO_CONTENT
    );
    let swap = patch(json!([
        {"op": "remove", "path": format!("members[value eq \"{id}\"]")},
        {"op": "add", "path": "members", "value": [{"value": other}]}
    ]));
    assert_eq!(
        scim.patch(&format!("/Groups/{gid}"), &swap).await.status,
        StatusCode::NO_CONTENT
    );
    let group = scim.get(&format!("/Groups/{gid}")).await;
    assert_eq!(group.body["displayName"], "Test SCIMv2");
    let members: Vec<&str> = group.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    assert_eq!(members, [other.as_str()]);
    // PUT replaces the member list.
    let put = scim
        .put(
            &format!("/Groups/{gid}"),
            &json!({"displayName": "Test SCIMv2", "members": [{"value": id}]}),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{:?}", put.body);
    let members: Vec<&str> = put.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    assert_eq!(members, [id.as_str()]);
}

#[tokio::test]
async fn filters_paging_sorting_and_attribute_selection() {
    let (_, _, scim) = setup("filters").await;
    for (name, title, active, email_type) in [
        ("ann@x.io", "Engineer", true, "work"),
        ("bob@x.io", "Manager", false, "home"),
        ("cat@y.io", "Engineer", true, "work"),
    ] {
        let reply = scim
            .post("/Users", &json!({"userName": name, "title": title, "active": active, "emails": [{"type": email_type, "value": name}]}))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED);
    }
    let names = |reply: &support::scim::Reply| -> Vec<String> {
        let mut v: Vec<String> = reply.body["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["userName"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    for (filter, expected) in [
        ("userName co \"@x\"", vec!["ann@x.io", "bob@x.io"]),
        ("userName sw \"C\"", vec!["cat@y.io"]),
        ("userName ew \"y.io\"", vec!["cat@y.io"]),
        ("title pr", vec!["ann@x.io", "bob@x.io", "cat@y.io"]),
        ("nickName pr", vec![]),
        ("userName gt \"b\"", vec!["bob@x.io", "cat@y.io"]),
        ("userName le \"bob@x.io\"", vec!["ann@x.io", "bob@x.io"]),
        ("title ne \"Engineer\"", vec!["bob@x.io"]),
        ("not (title eq \"Engineer\")", vec!["bob@x.io"]),
        ("active eq true and title eq \"engineer\"", vec!["ann@x.io", "cat@y.io"]),
        (
            "userName eq \"ann@x.io\" or userName eq \"bob@x.io\"",
            vec!["ann@x.io", "bob@x.io"],
        ),
        (
            "(title eq \"Manager\" or userName sw \"c\") and active eq false",
            vec!["bob@x.io"],
        ),
        ("emails[type eq \"work\" and value co \"x.io\"]", vec!["ann@x.io"]),
        ("emails[type eq \"work\"].value eq \"cat@y.io\"", vec!["cat@y.io"]),
        (
            "meta.created gt \"2000-01-01T00:00:00Z\"",
            vec!["ann@x.io", "bob@x.io", "cat@y.io"],
        ),
    ] {
        let reply = scim.filter("/Users", filter, "").await;
        assert_eq!(reply.status, StatusCode::OK, "{filter}: {:?}", reply.body);
        assert_eq!(names(&reply), expected, "{filter}");
    }
    // Bad filters are 400 invalidFilter with a detail.
    for bad in [
        "userName eq",
        "userName zz \"a\"",
        "(userName eq \"a\"",
        "noSuchAttribute eq \"a\"",
    ] {
        let reply = scim.filter("/Users", bad, "").await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(reply.scim_type(), "invalidFilter", "{bad}");
        assert!(!reply.body["detail"].as_str().unwrap().is_empty());
    }
    // Paging: totalResults counts all, the page holds count items from startIndex.
    let page = scim.get("/Users?sortBy=userName&startIndex=2&count=1").await;
    assert_eq!(page.body["totalResults"], 3);
    assert_eq!(page.body["startIndex"], 2);
    assert_eq!(page.body["itemsPerPage"], 1);
    assert_eq!(page.body["Resources"][0]["userName"], "bob@x.io");
    let desc = scim.get("/Users?sortBy=userName&sortOrder=descending").await;
    assert_eq!(desc.body["Resources"][0]["userName"], "cat@y.io");
    // Attribute selection keeps id and schemas.
    let selected = scim
        .get("/Users?attributes=userName&filter=userName%20eq%20%22ann@x.io%22")
        .await;
    let resource = selected.body["Resources"][0].as_object().unwrap();
    let mut keys: Vec<&String> = resource.keys().collect();
    keys.sort();
    assert_eq!(keys, ["id", "schemas", "userName"]);
    let excluded = scim.get("/Users?excludedAttributes=emails,title").await;
    assert!(excluded.body["Resources"][0].get("emails").is_none());
    assert!(excluded.body["Resources"][0].get("title").is_none());
    assert!(excluded.body["Resources"][0].get("userName").is_some());
}

#[tokio::test]
async fn etags_and_preconditions() {
    let (_, _, scim) = setup("etag").await;
    let id = scim.create_user("etag@x.io").await;
    let first = scim.get(&format!("/Users/{id}")).await;
    let etag = first.headers["etag"].to_str().unwrap().to_string();
    assert_eq!(first.body["meta"]["version"], etag.as_str());
    let change = patch(json!([{"op": "replace", "path": "title", "value": "One"}]));
    let ok = scim
        .send(
            reqwest::Method::PATCH,
            &format!("/Users/{id}"),
            Some(&change),
            &[("If-Match", &etag)],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_ne!(
        ok.headers["etag"].to_str().unwrap(),
        etag,
        "a write changes the version"
    );
    // What the cache serves right after the write, by id and in a list, is the written
    // object's `meta` (its version, and lastModified, which the cache keeps apart).
    let by_id = scim.get(&format!("/Users/{id}")).await;
    let listed = scim.filter("/Users", r#"userName eq "etag@x.io""#, "").await;
    assert_eq!(by_id.body["meta"], ok.body["meta"]);
    assert_eq!(listed.body["Resources"][0]["meta"], ok.body["meta"]);
    let stale = scim
        .send(
            reqwest::Method::PATCH,
            &format!("/Users/{id}"),
            Some(&change),
            &[("If-Match", &etag)],
        )
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    let stale_delete = scim
        .send(
            reqwest::Method::DELETE,
            &format!("/Users/{id}"),
            None,
            &[("If-Match", &etag)],
        )
        .await;
    assert_eq!(stale_delete.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(
        scim.get(&format!("/Users/{id}")).await.status,
        StatusCode::OK,
        "a refused delete deletes nothing"
    );
}

#[tokio::test]
async fn errors_are_scim_bodies() {
    let (client, namespace, scim) = setup("errors").await;
    // 401: no token, wrong token, and the token of another directory in another namespace.
    let no_token = reqwest::get(format!("{}/Users", scim.base)).await.unwrap();
    assert_eq!(no_token.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(no_token.headers()["content-type"], "application/scim+json");
    assert_eq!(
        scim.with_token("wrong").get("/Users").await.status,
        StatusCode::UNAUTHORIZED
    );
    let other_ns = support::fresh_namespace(&client, "errors-other").await;
    let other_token = create_directory(&client, &other_ns, "okta").await;
    assert_eq!(
        scim.with_token(&other_token).get("/Users").await.status,
        StatusCode::UNAUTHORIZED
    );
    // 404 for an unknown resource; an unknown directory looks like a wrong token (401).
    assert_eq!(scim.get("/Users/u-nope").await.status, StatusCode::NOT_FOUND);
    let unknown_dir = scim
        .base
        .replace(&format!("/{namespace}/entra"), &format!("/{namespace}/nope"));
    let reply = reqwest::Client::new()
        .get(format!("{unknown_dir}/Users"))
        .bearer_auth(&scim.token)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::UNAUTHORIZED);
    // 400s with scimType.
    let reply = scim.post("/Users", &json!({"displayName": "no userName"})).await;
    assert_eq!(
        (reply.status, reply.scim_type()),
        (StatusCode::BAD_REQUEST, "invalidValue")
    );
    let reply = scim
        .post("/Users", &json!({"userName": "x@x.io", "active": "perhaps"}))
        .await;
    assert_eq!(
        (reply.status, reply.scim_type()),
        (StatusCode::BAD_REQUEST, "invalidValue")
    );
    let id = scim.create_user("valid@x.io").await;
    let reply = scim
        .patch(
            &format!("/Users/{id}"),
            &patch(json!([{"op": "replace", "path": "noSuchThing", "value": 1}])),
        )
        .await;
    assert_eq!(
        (reply.status, reply.scim_type()),
        (StatusCode::BAD_REQUEST, "invalidPath")
    );
    let reply = scim
        .patch(
            &format!("/Users/{id}"),
            &patch(json!([{"op": "replace", "path": "id", "value": "other"}])),
        )
        .await;
    assert_eq!(
        (reply.status, reply.scim_type()),
        (StatusCode::BAD_REQUEST, "mutability")
    );
    let reply = scim
        .patch(
            &format!("/Users/{id}"),
            &patch(json!([{"op": "jump", "path": "title", "value": "x"}])),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    // An atomic PATCH: the failing second op leaves the first unapplied.
    let reply = scim
        .patch(&format!("/Users/{id}"), &patch(json!([{"op": "replace", "path": "title", "value": "Changed"}, {"op": "replace", "path": "noSuchThing", "value": 1}])))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(scim.get(&format!("/Users/{id}")).await.body.get("title").is_none());
    // Malformed JSON.
    let reply = reqwest::Client::new()
        .post(format!("{}/Users", scim.base))
        .bearer_auth(&scim.token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::BAD_REQUEST);
    // 413 above the body limit.
    let huge = json!({"userName": "big@x.io", "title": "x".repeat(2 * 1024 * 1024)});
    let reply = scim.post("/Users", &huge).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(scim.filter("/Users", "userName eq \"big@x.io\"", "").await.body["totalResults"] == 0);
}

#[tokio::test]
async fn discovery_describes_what_is_supported() {
    let (_, _, scim) = setup("discovery").await;
    let spc = scim.get("/ServiceProviderConfig").await;
    assert_eq!(spc.body["patch"]["supported"], true);
    assert_eq!(spc.body["bulk"]["supported"], false);
    assert_eq!(spc.body["filter"]["supported"], true);
    assert_eq!(spc.body["etag"]["supported"], true);
    assert_eq!(spc.body["authenticationSchemes"][0]["type"], "oauthbearertoken");
    let types = scim.get("/ResourceTypes").await;
    assert_eq!(types.body["totalResults"], 2);
    assert_eq!(types.body["Resources"][0]["schemaExtensions"][0]["schema"], ENTERPRISE);
    let schemas = scim.get("/Schemas").await;
    assert_eq!(schemas.body["totalResults"], 3);
    let user = scim.get(&format!("/Schemas/{USER_SCHEMA}")).await;
    let user_name = user.body["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "userName")
        .unwrap();
    assert_eq!(user_name["uniqueness"], "server");
    assert_eq!(user_name["caseExact"], false);
    assert_eq!(user_name["mutability"], "readWrite");
    let text = schemas.body.to_string();
    assert!(!text.contains("null"), "Entra refuses nulls in /Schemas");
}

#[tokio::test]
async fn concurrent_creates_of_one_user_name_store_one_user() {
    let client = support::client().await;
    let namespace = support::fresh_namespace(&client, "race").await;
    let token = create_directory(&client, &namespace, "entra").await;
    // Two replicas, each with its own cache: uniqueness cannot rely on either cache.
    let a = Scim::connect(
        spawn_server(client.clone(), ServerOptions::default()).await,
        &namespace,
        "entra",
        &token,
    )
    .await;
    let b = Scim::connect(
        spawn_server(client.clone(), ServerOptions::default()).await,
        &namespace,
        "entra",
        &token,
    )
    .await;
    let body = json!({"userName": "race@x.io"});
    let replies = futures::future::join_all((0..24).map(|i| {
        let scim = if i % 2 == 0 { a.clone() } else { b.clone() };
        let body = body.clone();
        async move { scim.post("/Users", &body).await.status }
    }))
    .await;
    assert_eq!(
        replies.iter().filter(|s| **s == StatusCode::CREATED).count(),
        1,
        "{replies:?}"
    );
    assert_eq!(
        replies.iter().filter(|s| **s == StatusCode::CONFLICT).count(),
        23,
        "{replies:?}"
    );
    let stored = Api::<User>::namespaced(client, &namespace)
        .list(&Default::default())
        .await
        .unwrap();
    assert_eq!(stored.items.len(), 1);
}

#[tokio::test]
async fn token_rotation_takes_effect_without_restart() {
    let (client, namespace, scim) = setup("rotation").await;
    let new_token = "rotated-token-0123456789abcdef0123456789";
    let secrets = Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client, &namespace);
    let patch_body = json!({"stringData": {"token": new_token}});
    secrets
        .patch(
            "entra-token",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch_body),
        )
        .await
        .unwrap();
    // The new token works at once: a miss re-reads the Secret.
    let deadline = tokio::time::Instant::now() + support::WAIT;
    while scim.with_token(new_token).get("/Users").await.status != StatusCode::OK {
        assert!(tokio::time::Instant::now() < deadline, "new token never accepted");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The old one stops working once the cached Secret expires (1 s in tests).
    while scim.get("/Users").await.status != StatusCode::UNAUTHORIZED {
        assert!(tokio::time::Instant::now() < deadline, "old token still accepted");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn overload_answers_429_with_retry_after() {
    let client = support::client().await;
    let namespace = support::fresh_namespace(&client, "overload").await;
    let token = create_directory(&client, &namespace, "entra").await;
    let addr = spawn_server(
        client,
        ServerOptions {
            max_in_flight: 1,
            ..Default::default()
        },
    )
    .await;
    let scim = Scim::connect(addr, &namespace, "entra", &token).await;
    // Hold the only slot with a request whose body never finishes arriving.
    let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Vec<u8>, std::io::Error>>();
    tx.unbounded_send(Ok(b"{\"userName\":".to_vec())).unwrap();
    let held = reqwest::Client::new()
        .post(format!("{}/Users", scim.base))
        .bearer_auth(&token)
        .body(reqwest::Body::wrap_stream(rx))
        .send();
    let held = tokio::spawn(held);
    let deadline = tokio::time::Instant::now() + support::WAIT;
    let refused = loop {
        let reply = scim.get("/Users").await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            break reply;
        }
        assert!(tokio::time::Instant::now() < deadline, "never saw 429");
        tokio::task::yield_now().await;
    };
    assert_eq!(refused.headers["retry-after"], "5");
    assert_eq!(refused.body["status"], "429");
    // Finish the held request; the server serves again.
    tx.unbounded_send(Ok(b"\"held@x.io\"}".to_vec())).unwrap();
    drop(tx);
    assert_eq!(held.await.unwrap().unwrap().status(), StatusCode::CREATED);
    assert_eq!(scim.get("/Users").await.status, StatusCode::OK);
}

#[tokio::test]
async fn pages_cut_before_rendering_match_the_scanned_pages() {
    // Without a filter or sortBy a page is cut before anything is rendered; `userName pr` (true
    // for every user) takes the other path, which renders and filters every candidate. Both must
    // give the same totals, the same order and the same page.
    let (_, _, scim) = setup("pages").await;
    let mut users = Vec::new();
    for name in ["p1@x.io", "p2@x.io", "p3@x.io", "p4@x.io", "p5@x.io"] {
        users.push(scim.create_user(name).await);
    }
    let group = scim
        .post(
            "/Groups",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "ws-Pages-role-member",
            "members": [{"value": users[1]}, {"value": users[3]}]}),
        )
        .await;
    assert_eq!(group.status, StatusCode::CREATED, "{:?}", group.body);
    for window in [
        "",
        "startIndex=2&count=2",
        "startIndex=5&count=10",
        "startIndex=9",
        "count=0",
    ] {
        let sep = if window.is_empty() { "" } else { "&" };
        let cut = scim.get(&format!("/Users?{window}")).await;
        let scanned = scim.get(&format!("/Users?filter=userName%20pr{sep}{window}")).await;
        assert_eq!(cut.status, StatusCode::OK);
        assert_eq!(cut.body["totalResults"], 5, "{window}");
        assert_eq!(cut.body, scanned.body, "/Users?{window}");
        let cut = scim.get(&format!("/Groups?{window}")).await;
        let scanned = scim.get(&format!("/Groups?filter=displayName%20pr{sep}{window}")).await;
        assert_eq!(cut.body, scanned.body, "/Groups?{window}");
    }
    let page = scim.get("/Users?startIndex=2&count=2").await;
    assert_eq!(page.body["itemsPerPage"], 2);
    let all = scim.get("/Users").await;
    let member = all.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == users[1].as_str());
    assert_eq!(
        member.unwrap()["groups"][0]["value"],
        group.body["id"],
        "groups are rendered on the cut path"
    );
    let groups = scim.get("/Groups?count=1").await;
    let members = groups.body["Resources"][0]["members"].as_array().unwrap();
    assert_eq!(members.len(), 2, "members are rendered on the cut path too");
    assert!(
        scim.get("/Users?startIndex=9").await.body["Resources"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}
