//! Allowed email domains (SPEC §3.5).
//!
//! The address checked is the user's primary email: the `emails` value marked `primary`, else the
//! one of type `work`, else the first one; a user without an email is checked by `userName` when it
//! looks like an address (Entra sends the UPN there). Only values containing `@` count. Domains
//! match exactly and case-insensitively (a trailing dot ignored): allowing `contoso.com` does not
//! allow `eu.contoso.com`, as with the verified domains of an identity provider.

use std::collections::BTreeSet;
use std::fmt;

use crate::api::MultiValue;

/// Why a user is outside the allowed domains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DomainRejection {
    /// The user's address is in a domain that is not allowed (lowercased).
    NotAllowed { domain: String },
    /// Neither an email nor an address-like userName to check.
    NoAddress,
}

impl fmt::Display for DomainRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DomainRejection::NotAllowed { domain } => {
                write!(f, "email domain {domain:?} is not in the directory's allowed domains")
            }
            DomainRejection::NoAddress => {
                f.write_str("no email address to check against the directory's allowed domains")
            }
        }
    }
}

/// The allowed domains of a directory, normalised once; empty allows everyone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedDomains(BTreeSet<String>);

impl AllowedDomains {
    /// From the directory's list (any case, optional trailing dot).
    pub fn new<'a>(domains: impl IntoIterator<Item = &'a str>) -> Self {
        AllowedDomains(domains.into_iter().map(normalise).filter(|d| !d.is_empty()).collect())
    }

    /// Whether every domain is allowed.
    pub fn allows_all(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks a user; `Ok` when allowed.
    pub fn check(&self, emails: &[MultiValue], user_name: &str) -> Result<(), DomainRejection> {
        if self.allows_all() {
            return Ok(());
        }
        let address = user_address(emails, user_name).ok_or(DomainRejection::NoAddress)?;
        let domain = normalise(address.rsplit_once('@').map_or("", |(_, d)| d));
        if self.0.contains(&domain) {
            Ok(())
        } else {
            Err(DomainRejection::NotAllowed { domain })
        }
    }
}

fn normalise(domain: &str) -> String {
    domain.trim().trim_end_matches('.').to_lowercase()
}

/// The address whose domain is checked (see the module doc).
pub fn user_address<'a>(emails: &'a [MultiValue], user_name: &'a str) -> Option<&'a str> {
    let with_at = || {
        emails
            .iter()
            .filter(|e| e.value.as_deref().is_some_and(|v| v.contains('@')))
    };
    with_at()
        .find(|e| e.primary == Some(true))
        .or_else(|| with_at().find(|e| e.type_.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("work"))))
        .or_else(|| with_at().next())
        .and_then(|e| e.value.as_deref())
        .or_else(|| user_name.contains('@').then_some(user_name))
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(value: &str, type_: Option<&str>, primary: bool) -> MultiValue {
        MultiValue {
            value: Some(value.into()),
            type_: type_.map(Into::into),
            primary: primary.then_some(true),
            ..MultiValue::default()
        }
    }

    fn contoso() -> AllowedDomains {
        AllowedDomains::new(["Contoso.com", "fabrikam.io."])
    }

    #[test]
    fn empty_list_allows_everyone() {
        assert_eq!(AllowedDomains::new([]).check(&[], "bob"), Ok(()));
    }

    #[test]
    fn domains_match_case_insensitively_and_exactly() {
        let allowed = contoso();
        assert_eq!(allowed.check(&[email("a@CONTOSO.COM", None, true)], "a"), Ok(()));
        assert_eq!(allowed.check(&[email("a@fabrikam.io", None, true)], "a"), Ok(()));
        assert_eq!(
            allowed.check(&[email("a@eu.contoso.com", None, true)], "a"),
            Err(DomainRejection::NotAllowed {
                domain: "eu.contoso.com".into()
            })
        );
    }

    #[test]
    fn the_primary_email_decides() {
        let emails = [
            email("a@gmail.com", Some("home"), false),
            email("a@contoso.com", Some("work"), false),
            email("a@evil.com", Some("other"), true),
        ];
        let err = contoso().check(&emails, "a@contoso.com").unwrap_err();
        assert_eq!(
            err,
            DomainRejection::NotAllowed {
                domain: "evil.com".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "email domain \"evil.com\" is not in the directory's allowed domains"
        );
        // Without a primary, the work email decides.
        assert_eq!(contoso().check(&emails[..2], "x"), Ok(()));
        // Without either, the first.
        assert!(contoso().check(&emails[..1], "a@contoso.com").is_err());
    }

    #[test]
    fn user_name_is_the_fallback() {
        assert_eq!(contoso().check(&[], "alice@contoso.com"), Ok(()));
        assert!(contoso().check(&[], "alice@other.com").is_err());
        assert_eq!(
            contoso().check(&[email("not-an-address", None, true)], "alice"),
            Err(DomainRejection::NoAddress)
        );
    }
}
