//! What real clients send (issue 13): Microsoft's reference tests, Okta, hand-written RFC 7644
//! clients. Each test names the item it covers; the vendor suites themselves run from
//! `hack/vendor-suites.sh`.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::scim::{Scim, ServerOptions, create_directory, spawn_server};

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
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

fn patch(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
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
    let options = ServerOptions::default();
    let metrics = options.metrics.clone();
    let (_, _, scim) = setup_with("clients-paths", options).await;
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
    // Requests are counted under the canonical route names.
    let text = metrics.encode();
    assert!(text.contains(r#"resource="Users",method="GET",status="200""#), "{text}");
    assert!(
        text.contains(r#"resource="Groups",method="POST",status="201""#),
        "{text}"
    );
    assert!(
        !text.contains(r#"resource="users""#) && !text.contains(r#"resource="USERS""#),
        "{text}"
    );
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

/// Item 3: `attributes=emails[type eq "work"]` returns the matching values.
#[tokio::test]
async fn attributes_with_a_value_filter() {
    let (_, _, scim) = setup("clients-attrs").await;
    let body = json!({"userName": "u357", "emails": [
        {"type": "work", "value": "emailName357", "primary": true},
        {"type": "home", "value": "home357@example.com"}]});
    let created = scim.post("/Users", &body).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.body["id"].as_str().unwrap().to_string();
    let reply = scim.get("/Users?attributes=emails%5Btype+eq+%22work%22%5D").await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let user = &reply.body["Resources"][0];
    assert_eq!(user["id"], id);
    assert_eq!(
        user["emails"],
        json!([{"type": "work", "value": "emailName357", "primary": true}])
    );
    assert!(user.get("userName").is_none());
    let reply = scim
        .get(&format!(
            "/Users/{id}?attributes=emails%5Bvalue+eq+%22emailName357%22%5D.type"
        ))
        .await;
    assert_eq!(reply.body["emails"], json!([{"type": "work"}]));
}

/// Items 4 and 5: members as a bare id, one object or an array; `display` from the member.
#[tokio::test]
async fn member_values_in_every_shape_and_their_display() {
    let mut options = ServerOptions::default();
    options.config.external_url = Some("https://scim.example.com".into());
    let (_, namespace, scim) = setup_with("clients-members", options).await;
    let base = format!("https://scim.example.com/scim/v2/{namespace}/entra");
    let alice = scim
        .post("/Users", &json!({"userName": "alice", "displayName": "Alice A."}))
        .await;
    let alice = alice.body["id"].as_str().unwrap().to_string();
    let bob = scim.create_user("bob").await;
    let carol = scim.create_user("carol").await;

    // POST with a bare id.
    let group = scim
        .post("/Groups", &json!({"displayName": "g1", "members": alice}))
        .await;
    assert_eq!(group.status, StatusCode::CREATED, "{:?}", group.body);
    let gid = group.body["id"].as_str().unwrap().to_string();
    // PATCH with a bare id, a single object, an array of ids.
    for value in [json!(bob), json!({"value": carol}), json!([alice])] {
        let reply = scim
            .patch(
                &format!("/Groups/{gid}"),
                &patch(json!([{"op": "add", "path": "members", "value": value}])),
            )
            .await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "{value}: {:?}", reply.body);
    }
    let group = scim.get(&format!("/Groups/{gid}")).await;
    let mut members = group.body["members"].as_array().unwrap().clone();
    members.sort_by_key(|m| m["value"].as_str().unwrap().to_string());
    let mut expected = vec![
        json!({"value": alice, "display": "Alice A.", "$ref": format!("{base}/Users/{alice}"), "type": "User"}),
        // No displayName: the userName.
        json!({"value": bob, "display": "bob", "$ref": format!("{base}/Users/{bob}"), "type": "User"}),
        json!({"value": carol, "display": "carol", "$ref": format!("{base}/Users/{carol}"), "type": "User"}),
    ];
    expected.sort_by_key(|m| m["value"].as_str().unwrap().to_string());
    assert_eq!(members, expected);

    // What a client writes (value, $ref, type) reads back as written.
    let written = json!({"value": bob, "$ref": format!("{base}/Users/{bob}"), "type": "User"});
    let group2 = scim
        .post("/Groups", &json!({"displayName": "g2", "members": [written.clone()]}))
        .await;
    let gid2 = group2.body["id"].as_str().unwrap().to_string();
    let got = scim.get(&format!("/Groups/{gid2}")).await.body["members"][0].clone();
    for key in ["value", "$ref", "type"] {
        assert_eq!(got[key], written[key], "{key}");
    }
    // PUT with ids as strings replaces the members.
    let reply = scim
        .put(
            &format!("/Groups/{gid2}"),
            &json!({"displayName": "g2", "members": [carol]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["members"][0]["value"], json!(carol));
    assert_eq!(reply.body["members"].as_array().unwrap().len(), 1);

    // A bare id that is no user is refused, and nothing is stored.
    let reply = scim
        .patch(
            &format!("/Groups/{gid2}"),
            &patch(json!([{"op": "add", "path": "members", "value": "string id 1"}])),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.scim_type(), "invalidValue");
    assert_eq!(
        scim.get(&format!("/Groups/{gid2}")).await.body["members"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // So is a group: nested groups are not supported, and the error says so.
    let reply = scim
        .patch(
            &format!("/Groups/{gid2}"),
            &patch(json!([{"op": "add", "path": "members", "value": [{"value": gid, "type": "Group"}]}])),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.scim_type(), "invalidValue");
    assert!(
        reply.body["detail"].as_str().unwrap().contains("nested groups"),
        "{:?}",
        reply.body
    );
}

/// Item 8: a PATCH whose path is the enterprise extension's URN adds, replaces or clears it whole.
#[tokio::test]
async fn patch_the_enterprise_extension_as_a_whole() {
    let (_, _, scim) = setup("clients-ext").await;
    let created = scim
        .post(
            "/Users",
            &json!({"schemas": [USER_SCHEMA, ENTERPRISE], "userName": "ent",
                                ENTERPRISE: {"department": "Sales", "costCenter": "1"}}),
        )
        .await;
    let id = created.body["id"].as_str().unwrap().to_string();
    let path = format!("/Users/{id}");
    let reply = scim
        .patch(
            &path,
            &patch(json!([{"op": "add", "path": ENTERPRISE, "value": {"division": "EU", "manager": {"value": "m1"}}}])),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(
        reply.body[ENTERPRISE],
        json!({"department": "Sales", "costCenter": "1", "division": "EU", "manager": {"value": "m1"}})
    );
    let reply = scim
        .patch(
            &path,
            &patch(json!([{"op": "Replace", "path": ENTERPRISE, "value": {"employeeNumber": "42"}}])),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body[ENTERPRISE], json!({"employeeNumber": "42"}));
    assert_eq!(scim.get(&path).await.body[ENTERPRISE], json!({"employeeNumber": "42"}));
    let reply = scim
        .patch(&path, &patch(json!([{"op": "remove", "path": ENTERPRISE}])))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let user = scim.get(&path).await.body;
    assert!(user.get(ENTERPRISE).is_none(), "{user}");
    assert_eq!(user["schemas"], json!([USER_SCHEMA]));
}

/// Item 9: removing `active` leaves it absent; an absent `active` counts as active.
#[tokio::test]
async fn remove_active_reads_back_absent() {
    let (client, namespace, scim) = setup("clients-active").await;
    let id = scim.create_user("act").await;
    let path = format!("/Users/{id}");
    let reply = scim
        .patch(
            &path,
            &patch(json!([{"op": "replace", "path": "active", "value": false}])),
        )
        .await;
    assert_eq!(reply.body["active"], false);
    let reply = scim
        .patch(&path, &patch(json!([{"op": "remove", "path": "active"}])))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert!(reply.body.get("active").is_none(), "{:?}", reply.body);
    assert!(scim.get(&path).await.body.get("active").is_none());
    let stored = kube::Api::<scim_operator::api::User>::namespaced(client, &namespace)
        .get(&id)
        .await
        .unwrap();
    assert_eq!(stored.spec.active, None, "not defaulted by the API server");
    assert!(stored.spec.is_active());
    // Filters see no `active`: neither true nor false.
    assert_eq!(
        scim.filter("/Users", "active eq false", "").await.body["totalResults"],
        0
    );
    assert_eq!(scim.filter("/Users", "active pr", "").await.body["totalResults"], 0);
}

/// Sends raw bytes on a new connection to the server behind `scim` and reads until it closes.
async fn raw_exchange(scim: &Scim, request: String) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let url = reqwest::Url::parse(&scim.base).unwrap();
    let addr = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(support::WAIT, stream.read_to_string(&mut response))
        .await
        .expect("the server closes the connection")
        .unwrap();
    response
}

/// Item 11: a raw `"` in the query string (hand-written clients, curl) is accepted, also on a
/// keep-alive connection after a request with a body.
#[tokio::test]
async fn raw_quotes_in_the_query_string() {
    let (_, _, scim) = setup("clients-quotes").await;
    let id = scim.create_user("bjensen").await;
    let path = url_path(&scim);
    let head = |method: &str, target: &str, extra: &str| {
        format!(
            "{method} {path}{target} HTTP/1.1\r\nHost: scim\r\nAuthorization: Bearer {}\r\n{extra}\r\n",
            scim.token
        )
    };
    let response = raw_exchange(
        &scim,
        head(
            "GET",
            "/Users?filter=userName%20eq%20\"bjensen\"",
            "Connection: close\r\n",
        ),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(&id), "{response}");

    // Pipelined: a body full of quotes passes untouched, the next request line is rewritten.
    let body = r#"{"userName":"o\"malley <x>","displayName":"\"q\""}"#;
    let request = head(
        "POST",
        "/Users",
        &format!(
            "Content-Type: application/scim+json\r\nContent-Length: {}\r\n",
            body.len()
        ),
    ) + body
        + &head(
            "GET",
            "/Users?filter=userName%20sw%20\"o\"&attributes=userName",
            "Connection: close\r\n",
        );
    let response = raw_exchange(&scim, request).await;
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    let second = response.find("HTTP/1.1 200").expect("a second answer");
    assert!(
        response[second..].contains(r#""userName":"o\"malley <x>""#),
        "{response}"
    );
    assert_eq!(
        scim.filter("/Users", r#"displayName eq "\"q\"""#, "").await.body["totalResults"],
        1,
        "the body was stored as sent"
    );
}

/// The path of the directory's base URL (`/scim/v2/{namespace}/entra`).
fn url_path(scim: &Scim) -> String {
    reqwest::Url::parse(&scim.base).unwrap().path().to_string()
}
