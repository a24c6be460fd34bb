//! Identities other than the admin: client-certificate users and ServiceAccount tokens, each as a
//! kubeconfig (usable by kubectl and helm) and as a `kube::Client`.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use anyhow::Context;
use kube::api::{Api, PostParams};

use super::{ControlPlane, NEXT_OWNER};

impl ControlPlane {
    /// A kubeconfig authenticating as `user` in `groups` (at most two) with a client certificate
    /// signed by the cluster CA; nothing is granted to it until RBAC says so.
    pub fn user_kubeconfig(&self, user: &str, groups: &[&str]) -> anyhow::Result<PathBuf> {
        let serial = NEXT_OWNER.fetch_add(1, Ordering::Relaxed);
        let id = format!("user-{}-{serial}", sanitize(user));
        let cert = self.ca.client_cert(user, groups)?;
        let pki = self.dir.join("pki");
        std::fs::write(pki.join(format!("{id}.crt")), cert.cert_pem)?;
        std::fs::write(pki.join(format!("{id}.key")), cert.key_pem)?;
        let path = self.dir.join(format!("kubeconfig-{id}"));
        self.write_cert_kubeconfig(&path, &id)?;
        Ok(path)
    }

    /// A client authenticating as `user` in `groups`, see [`ControlPlane::user_kubeconfig`].
    pub async fn client_for_user(&self, user: &str, groups: &[&str]) -> anyhow::Result<kube::Client> {
        let config = self.config_from(&self.user_kubeconfig(user, groups)?).await?;
        Ok(kube::Client::try_from(config)?)
    }

    /// A kubeconfig authenticating as ServiceAccount `namespace/name` — the identity the operator has
    /// in a cluster — with a token from the TokenRequest API, valid for a day. Creates the
    /// ServiceAccount when absent (the namespace must exist).
    pub async fn service_account_kubeconfig(&self, namespace: &str, name: &str) -> anyhow::Result<PathBuf> {
        use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
        use k8s_openapi::api::core::v1::ServiceAccount;
        let api: Api<ServiceAccount> = Api::namespaced(self.client().await?, namespace);
        let account = ServiceAccount {
            metadata: kube::api::ObjectMeta {
                name: Some(name.to_string()),
                ..Default::default()
            },
            ..Default::default()
        };
        match api.create(&PostParams::default(), &account).await {
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            result => {
                result.with_context(|| format!("creating ServiceAccount {namespace}/{name}"))?;
            }
        }
        let request = TokenRequest {
            spec: Some(TokenRequestSpec {
                expiration_seconds: Some(24 * 3600),
                ..Default::default()
            }),
            ..Default::default()
        };
        let token = api
            .create_token_request(name, &PostParams::default(), &request)
            .await
            .with_context(|| format!("requesting a token for {namespace}/{name}"))?
            .status
            .and_then(|status| status.token)
            .context("TokenRequest answered without a token")?;
        let serial = NEXT_OWNER.fetch_add(1, Ordering::Relaxed);
        let id = format!("sa-{}-{}-{serial}", sanitize(namespace), sanitize(name));
        let path = self.dir.join(format!("kubeconfig-{id}"));
        self.write_kubeconfig(&path, &id, &format!("token: {token}"))?;
        Ok(path)
    }

    /// A client authenticating as ServiceAccount `namespace/name`, see
    /// [`ControlPlane::service_account_kubeconfig`].
    pub async fn client_for_service_account(&self, namespace: &str, name: &str) -> anyhow::Result<kube::Client> {
        let path = self.service_account_kubeconfig(namespace, name).await?;
        Ok(kube::Client::try_from(self.config_from(&path).await?)?)
    }

    /// Writes a kubeconfig for the client certificate `pki/<cert>.{crt,key}`.
    pub(super) fn write_cert_kubeconfig(&self, path: &Path, cert: &str) -> anyhow::Result<()> {
        let pki = self.dir.join("pki");
        let credentials = format!(
            "client-certificate: {}\n    client-key: {}",
            pki.join(format!("{cert}.crt")).display(),
            pki.join(format!("{cert}.key")).display()
        );
        self.write_kubeconfig(path, cert, &credentials)
    }

    /// Writes a kubeconfig for user entry `user` with the YAML `credentials` (4-space indented).
    fn write_kubeconfig(&self, path: &Path, user: &str, credentials: &str) -> anyhow::Result<()> {
        let yaml = format!(
            "apiVersion: v1
kind: Config
clusters:
- name: envtest
  cluster:
    server: {server}
    certificate-authority: {ca}
users:
- name: {user}
  user:
    {credentials}
contexts:
- name: envtest
  context:
    cluster: envtest
    user: {user}
    namespace: default
current-context: envtest
",
            server = self.server_url,
            ca = self.dir.join("pki/ca.crt").display(),
        );
        std::fs::write(path, yaml)?;
        Ok(())
    }

    pub(super) async fn config_from(&self, kubeconfig: &Path) -> anyhow::Result<kube::Config> {
        let kubeconfig = kube::config::Kubeconfig::read_from(kubeconfig)?;
        let options = kube::config::KubeConfigOptions::default();
        Ok(kube::Config::from_custom_kubeconfig(kubeconfig, &options).await?)
    }
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}
