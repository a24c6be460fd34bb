//! Logs carry ids and counts, never personal data: a SCIM session with distinctive userNames and
//! emails — creates, updates, conflicts, errors — logged at TRACE, and none of them in the logs.
//! A test binary of its own, since it installs the process's tracing subscriber.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use scim_operator::scim::error::ScimError;
use serde_json::json;
use support::scim::{Scim, ServerOptions, create_directory, spawn_server};

/// Everything logged to it: this process's subscriber, or one scoped to a test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An API server's error messages quote the rejected values (a userName, an email): the log line
/// for an API error keeps its code and reason, never its message.
#[test]
fn api_errors_are_logged_without_their_message() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let message = r#"User.scim-operator.io "u-1" is invalid: spec.userName: Invalid value: "pii.person@example.com""#;
    let errors = tracing::subscriber::with_default(subscriber, || {
        [422, 403, 404, 500].map(|code| {
            ScimError::from(kube::Error::Api(Box::new(
                kube::core::Status::failure(message, "Invalid").with_code(code),
            )))
        })
    });
    assert_eq!(errors.map(|e| e.status.as_u16()), [500, 503, 503, 503]);
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("code=422") && logs.contains("Invalid"), "{logs}");
    assert!(!logs.contains("pii.person"), "{logs}");
}

#[tokio::test]
async fn logs_at_trace_carry_no_user_names_or_emails() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .try_init()
        .expect("the only subscriber of this binary");

    let client = support::client().await;
    let namespace = support::fresh_namespace(&client, "logs").await;
    let token = create_directory(&client, &namespace, "entra").await;
    let addr = spawn_server(client, ServerOptions::default()).await;
    let scim = Scim::connect(addr, &namespace, "entra", &token).await;

    // Every piece of personal data below contains `tag`.
    let tag = format!("pii{:012x}", rand::random::<u64>());
    let alice = format!("alice.{tag}@example.test");
    let user = json!({
        "userName": alice,
        "displayName": format!("Alice {tag}"),
        "emails": [{"type": "work", "primary": true, "value": format!("mail.{tag}@example.test")}],
        "externalId": format!("ext-{tag}"),
    });
    let created = scim.post("/Users", &user).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let request_id = created.headers["x-request-id"].to_str().unwrap().to_string();
    let id = created.body["id"].as_str().unwrap().to_string();
    // A conflict, in two spellings.
    assert_eq!(scim.post("/Users", &user).await.status, StatusCode::CONFLICT);
    let upper = json!({"userName": alice.to_uppercase()});
    assert_eq!(scim.post("/Users", &upper).await.status, StatusCode::CONFLICT);
    // Lookups, an update, a rename, PATCHes good and bad.
    let found = scim.filter("/Users", &format!("userName eq \"{alice}\""), "").await;
    assert_eq!(found.body["totalResults"], 1);
    let renamed = json!({"userName": format!("bob.{tag}@example.test"), "title": format!("Title {tag}")});
    assert_eq!(scim.put(&format!("/Users/{id}"), &renamed).await.status, StatusCode::OK);
    let ops = |ops| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    let good = ops(json!([{"op": "replace", "path": "nickName", "value": format!("nick-{tag}")}]));
    assert_eq!(scim.patch(&format!("/Users/{id}"), &good).await.status, StatusCode::OK);
    let bad = ops(json!([{"op": "replace", "path": format!("no{tag}"), "value": tag}]));
    assert_eq!(
        scim.patch(&format!("/Users/{id}"), &bad).await.status,
        StatusCode::BAD_REQUEST
    );
    let bad_filter = scim.filter("/Users", &format!("userName zz \"{tag}\""), "").await;
    assert_eq!(bad_filter.status, StatusCode::BAD_REQUEST);
    // A group with the user, then deletes and a 404.
    let group = scim
        .post(
            "/Groups",
            &json!({"displayName": "ws-Logs-role-member", "members": [{"value": id}]}),
        )
        .await;
    assert_eq!(group.status, StatusCode::CREATED, "{:?}", group.body);
    assert_eq!(
        scim.delete(&format!("/Users/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(scim.get(&format!("/Users/{id}")).await.status, StatusCode::NOT_FOUND);

    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(logs.contains("user created"), "nothing captured:\n{logs}");
    // A request's log lines carry the id its response returned (and an audit commit names).
    let line = logs.lines().find(|l| l.contains("user created")).unwrap();
    assert!(line.contains(&format!("request_id={request_id}")), "{line}");
    let leaks: Vec<&str> = logs.lines().filter(|l| l.contains(&tag)).collect();
    assert!(leaks.is_empty(), "personal data in logs:\n{}", leaks.join("\n"));
}
