//! What real clients send (issue 13): Microsoft's reference tests, Okta, hand-written RFC 7644
//! clients. Each test names the item it covers; the vendor suites themselves run from
//! `hack/vendor-suites.sh`.

mod support;

use reqwest::StatusCode;
use serde_json::json;
use support::scim::{Scim, ServerOptions, create_directory, spawn_server};

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

async fn setup_with(prefix: &str, options: ServerOptions) -> (kube::Client, String, Scim) {
    let client = support::client().await;
    let namespace = support::fresh_namespace(&client, prefix).await;
    let token = create_directory(&client, &namespace, "entra").await;
    let addr = spawn_server(client.clone(), options).await;
    let scim = Scim::connect(addr, &namespace, "entra", &token).await;
    (client, namespace, scim)
}

async fn setup(prefix: &str) -> (kube::Client, String, Scim) {
    setup_with(prefix, ServerOptions::default()).await
}

fn ids(reply: &support::scim::Reply) -> Vec<String> {
    let mut ids: Vec<String> = reply.body["Resources"]
        .as_array()
        .unwrap_or_else(|| panic!("a ListResponse: {:?}", reply.body))
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect();
    ids.sort();
    ids
}

/// Item 1: endpoint names in any case and a trailing slash answer as the canonical paths do.
#[tokio::test]
async fn paths_in_any_case_and_with_a_trailing_slash() {
    let (_, _, scim) = setup("clients-paths").await;
    let id = scim.create_user("bjensen").await;
    for path in [
        "/users?filter=userName%20eq%20%22bjensen%22",
        "/Users/?filter=userName%20eq%20%22bjensen%22",
        "/USERS/?filter=userName%20eq%20%22bjensen%22",
    ] {
        let reply = scim.get(path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {:?}", reply.body);
        assert_eq!(ids(&reply), vec![id.clone()], "{path}");
    }
    let reply = scim.get(&format!("/users/{id}/")).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["id"], id);
    let created = scim.post("/groups/", &json!({"displayName": "ws-a-role-admin"})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    for path in ["/serviceproviderconfig", "/resourcetypes/", "/schemas"] {
        assert_eq!(scim.get(path).await.status, StatusCode::OK, "{path}");
    }
    // Ids keep their case: an id spelled otherwise is another (missing) resource.
    let reply = scim.get(&format!("/Users/{}", id.to_uppercase())).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.headers["content-type"], "application/scim+json");
}

/// Item 2: unquoted values, as Microsoft's documentation and reference tests write them.
#[tokio::test]
async fn unquoted_filter_values() {
    let (_, _, scim) = setup("clients-bare").await;
    let omalley = scim
        .post(
            "/Users",
            &json!({"userName": "OMalley", "externalId": "jyoung", "title": "Employee",
                    "name": {"familyName": "Employee"}, "emails": [{"value": "o@example.com"}]}),
        )
        .await;
    assert_eq!(omalley.status, StatusCode::CREATED, "{:?}", omalley.body);
    let omalley = omalley.body["id"].as_str().unwrap().to_string();
    let other = scim.create_user("emp1").await;
    let both = {
        let mut v = vec![omalley.clone(), other.clone()];
        v.sort();
        v
    };
    for (filter, expected) in [
        ("userName sw O", vec![omalley.clone()]),
        ("title eq Employee", vec![omalley.clone()]),
        ("externalId eq jyoung", vec![omalley.clone()]),
        (
            "name.FamilyName eq Employee and (emails.Value co example.com or emails.Value co example.org)",
            vec![omalley.clone()],
        ),
        ("meta.lastModified gt 2015-10-10T14:38:21.8617979-07:00", both.clone()),
        ("meta.created lt 2015-10-10T14:38:21.8617979-07:00", vec![]),
        // OMalley was created without `active`: absent, so neither true nor false.
        ("active eq true", vec![other.clone()]),
        ("active eq True", vec![other.clone()]),
        // Quoted values work as before.
        (r#"userName eq "emp1""#, vec![other.clone()]),
    ] {
        let reply = scim.filter("/Users", filter, "").await;
        assert_eq!(reply.status, StatusCode::OK, "{filter}: {:?}", reply.body);
        assert_eq!(ids(&reply), expected, "{filter}");
    }
    // A bare word that is not a timestamp is still refused where a dateTime is compared.
    let reply = scim.filter("/Users", "meta.created gt yesterday", "").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.scim_type(), "invalidFilter");
}

/// Item 6: `POST /.search` on /Users, /Groups and the directory root.
#[tokio::test]
async fn search_with_post() {
    let (_, _, scim) = setup("clients-search").await;
    let alice = scim.create_user("alice").await;
    let bob = scim.create_user("bob").await;
    let group = scim
        .post(
            "/Groups",
            &json!({"displayName": "ws-a-role-admin", "members": [{"value": alice}]}),
        )
        .await;
    assert_eq!(group.status, StatusCode::CREATED, "{:?}", group.body);
    let group = group.body["id"].as_str().unwrap().to_string();

    let reply = scim
        .post(
            "/Users/.search",
            &json!({"schemas": [SEARCH], "filter": "userName sw \"b\"", "attributes": ["userName"]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["totalResults"], 1);
    assert_eq!(reply.body["Resources"][0]["id"], bob);
    assert_eq!(reply.body["Resources"][0]["userName"], "bob");
    assert!(reply.body["Resources"][0].get("meta").is_none(), "attributes applied");

    // Paging and sorting as on GET.
    let reply = scim
        .post(
            "/Users/.search",
            &json!({"sortBy": "userName", "sortOrder": "descending", "startIndex": 1, "count": 1}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(
        (reply.body["totalResults"].clone(), reply.body["itemsPerPage"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(reply.body["Resources"][0]["id"], bob);

    let reply = scim
        .post(
            "/Groups/.search",
            &json!({"schemas": [SEARCH], "filter": format!("members.value eq \"{alice}\""), "excludedAttributes": "members"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(ids(&reply), vec![group.clone()]);
    assert!(reply.body["Resources"][0].get("members").is_none());

    // The root: both types; a filter on an attribute of one type selects from that type.
    let reply = scim.post("/.search", &json!({"schemas": [SEARCH]})).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let mut all = vec![alice.clone(), bob.clone(), group.clone()];
    all.sort();
    assert_eq!(ids(&reply), all);
    let reply = scim.post("/.search", &json!({"filter": "userName eq \"alice\""})).await;
    assert_eq!(ids(&reply), vec![alice.clone()]);
    let reply = scim
        .post("/.search", &json!({"filter": "displayName eq \"ws-a-role-admin\""}))
        .await;
    assert_eq!(ids(&reply), vec![group.clone()]);

    // Bad input: SCIM errors.
    let reply = scim.post("/.search", &json!({"filter": "nosuch eq 1"})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.scim_type(), "invalidFilter");
    let reply = scim.post("/Users/.search", &json!({"schemas": ["urn:other"]})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.scim_type(), "invalidSyntax");
    let reply = scim.post("/Users/.search", &json!({"count": {"n": 1}})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.scim_type(), "invalidValue");
}

/// Item 7: every 201 carries `Location`, the new resource's `meta.location`.
#[tokio::test]
async fn created_resources_have_a_location() {
    let (_, namespace, scim) = setup("clients-location").await;
    let user = scim
        .post("/Users", &json!({"schemas": [USER_SCHEMA], "userName": "loc"}))
        .await;
    assert_eq!(user.status, StatusCode::CREATED);
    let id = user.body["id"].as_str().unwrap();
    assert_eq!(
        user.headers["location"],
        format!("/scim/v2/{namespace}/entra/Users/{id}")
    );
    assert_eq!(
        user.headers["location"],
        user.body["meta"]["location"].as_str().unwrap()
    );
    let group = scim
        .post("/Groups", &json!({"displayName": "g-loc", "members": [{"value": id}]}))
        .await;
    assert_eq!(group.status, StatusCode::CREATED);
    let gid = group.body["id"].as_str().unwrap();
    assert_eq!(
        group.headers["location"],
        format!("/scim/v2/{namespace}/entra/Groups/{gid}")
    );
    // Not on other answers.
    assert!(!scim.get(&format!("/Users/{id}")).await.headers.contains_key("location"));
}

/// Item 10: `--external-url` makes `Location`, `meta.location` and `$ref` absolute.
#[tokio::test]
async fn external_url_makes_locations_absolute() {
    let mut options = ServerOptions::default();
    options.config.external_url = Some("https://scim.example.com/idp".into());
    let (_, namespace, scim) = setup_with("clients-external", options).await;
    let base = format!("https://scim.example.com/idp/scim/v2/{namespace}/entra");
    let user = scim.post("/Users", &json!({"userName": "ext"})).await;
    assert_eq!(user.status, StatusCode::CREATED);
    let id = user.body["id"].as_str().unwrap().to_string();
    assert_eq!(user.headers["location"], format!("{base}/Users/{id}"));
    assert_eq!(user.body["meta"]["location"], format!("{base}/Users/{id}"));
    let group = scim
        .post("/Groups", &json!({"displayName": "g-ext", "members": [{"value": id}]}))
        .await;
    let gid = group.body["id"].as_str().unwrap().to_string();
    assert_eq!(group.headers["location"], format!("{base}/Groups/{gid}"));
    let group = scim.get(&format!("/Groups/{gid}")).await;
    assert_eq!(group.body["members"][0]["$ref"], format!("{base}/Users/{id}"));
    let user = scim.get(&format!("/Users/{id}")).await;
    assert_eq!(user.body["groups"][0]["$ref"], format!("{base}/Groups/{gid}"));
    let spc = scim.get("/ServiceProviderConfig").await;
    assert_eq!(spc.body["meta"]["location"], format!("{base}/ServiceProviderConfig"));
}
