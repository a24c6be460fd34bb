//! A Directory reports token-Secret lines too short to be accepted (issue 11.11).

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::ObjectMeta;
use scim_operator::api::*;

use super::env::*;

#[tokio::test]
async fn short_tokens_are_reported_on_the_directory() {
    let env = Env::start("tokens", None).await;
    let long = "t".repeat(MIN_TOKEN_LENGTH);
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some("entra-token".into()),
            ..Default::default()
        },
        data: Some(
            [(
                "token".to_string(),
                ByteString(format!("short-one\n{long}\n").into_bytes()),
            )]
            .into(),
        ),
        ..Default::default()
    };
    create(&env.client, &env.ns, secret).await;
    let spec = DirectorySpec {
        token_secret_ref: Some(SecretKeyRef {
            name: "entra-token".into(),
            key: None,
        }),
        ..Default::default()
    };
    create(&env.client, &env.ns, Directory::new("entra", spec)).await;
    let dir = env
        .expect("entra", "TokensAccepted False", |d: &Directory| {
            d.status
                .as_ref()
                .is_some_and(|s| has_condition(&s.conditions, "TokensAccepted", "False", "TooShort"))
        })
        .await;
    let conditions = &dir.status.expect("status").conditions;
    let message = &condition(conditions, "TokensAccepted").expect("condition").message;
    assert!(message.starts_with("1 token(s)"), "{message}");
    assert!(
        !message.contains("short-one"),
        "a token never appears in status: {message}"
    );
}
