//! The certificates of a throwaway control plane, made with rcgen (ECDSA P-256).

use anyhow::{Context, bail};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

/// A PEM certificate and its PEM private key.
pub struct CertAndKey {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PEM (PKCS#8).
    pub key_pem: String,
}

/// The certificate authority that signs the serving certificate and every client certificate.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate, PEM.
    pub cert_pem: String,
}

impl Ca {
    /// A new self-signed CA.
    pub fn new() -> anyhow::Result<Ca> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "scim-operator-envtest-ca");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key)?;
        Ok(Ca {
            issuer: Issuer::new(params, key),
            cert_pem: cert.pem(),
        })
    }

    /// A serving certificate for kube-apiserver on loopback and the in-cluster service names.
    pub fn serving_cert(&self) -> anyhow::Result<CertAndKey> {
        let sans = [
            "127.0.0.1",
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ];
        let mut params = CertificateParams::new(sans.map(String::from).to_vec())?;
        params.distinguished_name.push(DnType::CommonName, "kube-apiserver");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params)
    }

    /// A client certificate: Kubernetes takes the user name from CN and the groups from O.
    ///
    /// rcgen keeps one value per attribute type, so at most two groups are possible (the second is
    /// written under the same OID as a custom attribute type).
    pub fn client_cert(&self, user: &str, groups: &[&str]) -> anyhow::Result<CertAndKey> {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, user);
        match groups {
            [] => {}
            [first] => params.distinguished_name.push(DnType::OrganizationName, *first),
            [first, second] => {
                params.distinguished_name.push(DnType::OrganizationName, *first);
                params
                    .distinguished_name
                    .push(DnType::CustomDnType(vec![2, 5, 4, 10]), *second);
            }
            _ => bail!("a client certificate carries at most two groups, got {groups:?}"),
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
            .with_context(|| format!("client certificate for {user}"))
    }

    fn sign(&self, mut params: CertificateParams) -> anyhow::Result<CertAndKey> {
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(CertAndKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// The key pair that signs and verifies ServiceAccount tokens, as PEM (private, public).
pub fn service_account_key() -> anyhow::Result<(String, String)> {
    let key = KeyPair::generate()?;
    Ok((key.serialize_pem(), key.public_key_pem()))
}
