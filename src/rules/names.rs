//! Object names: the workspace identity key and the Workspace and RoleBinding object names.
//!
//! A workspace object name is a DNS-1123 label derived from the lowercased `{group}`:
//! - a *clean* name — lowercase ASCII letters and digits in words joined by single `-`, at most
//!   63 characters — is used as is (`Sales-EU` → `sales-eu`);
//! - any other name (lossy: accents transliterated, symbols, `--`; empty; or too long) becomes its
//!   slug, truncated, then `--` and 8 hex digits of SHA-256 of the lowercased name
//!   (`Sales & Marketing` → `sales-marketing--<hash>`, `★★` → `ws--<hash>`).
//!
//! Why `--`: a slug never contains `--` (runs of separators collapse to one `-`), so a clean name
//! never contains it either. A hashed name therefore never equals a clean one, clean names are
//! distinct because they *are* the distinct keys, and two hashed names are equal only on a 32-bit
//! hash collision, which [`super::plan_workspaces`] detects and reports rather than merging silently.

use std::borrow::Cow;

use sha2::{Digest, Sha256};

/// The longest DNS-1123 label.
pub const MAX_LABEL_LEN: usize = 63;
/// The longest DNS-1123 subdomain (the limit on most object names).
pub const MAX_SUBDOMAIN_LEN: usize = 253;
/// Hex digits of SHA-256 appended to a lossy, empty or too long name.
const HASH_HEX_LEN: usize = 8;
/// Between the slug and the hash; never found in a clean name.
const HASH_SEPARATOR: &str = "--";
/// Stands in for a slug with no letter or digit at all, so the label starts with a letter.
const EMPTY_SLUG: &str = "ws";

/// The case-insensitive identity of a workspace `{group}`: per-character Unicode lowercase, with
/// the final sigma folded to `σ` so that `ΣΑΣ` and `σας` are one workspace. Not NFC-normalised:
/// precomposed and decomposed accents are different keys (and then different object names).
pub fn workspace_key(group: &str) -> String {
    group
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| if c == 'ς' { 'σ' } else { c })
        .collect()
}

/// The Workspace object name of `{group}` (see the module doc); always a valid DNS-1123 label and
/// the same for every case variant of `group`.
pub fn workspace_object_name(group: &str) -> String {
    label_for(&workspace_key(group))
}

/// The organisation-level RoleBinding of a user: named like the User itself.
pub fn org_binding_name(user_id: &str) -> String {
    user_label(user_id).into_owned()
}

/// The RoleBinding of a user in a workspace: `{user id}.{workspace object name}`. Both parts are
/// labels without dots, so the name splits back unambiguously and never equals an org binding
/// name (which has no dot); at most 63 + 1 + 63 characters, a valid DNS-1123 subdomain.
pub fn workspace_binding_name(user_id: &str, workspace: &str) -> String {
    let workspace = if is_dns1123_label(workspace) {
        Cow::Borrowed(workspace)
    } else {
        Cow::Owned(label_for(workspace))
    };
    format!("{}.{workspace}", user_label(user_id))
}

/// User ids are server-generated DNS labels; anything else (never expected) is made one.
fn user_label(user_id: &str) -> Cow<'_, str> {
    if is_dns1123_label(user_id) {
        Cow::Borrowed(user_id)
    } else {
        Cow::Owned(label_for(user_id))
    }
}

/// Whether `s` is a DNS-1123 label: 1–63 of `[a-z0-9-]`, starting and ending alphanumeric.
pub fn is_dns1123_label(s: &str) -> bool {
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !s.is_empty()
        && s.len() <= MAX_LABEL_LEN
        && s.bytes().all(|b| alnum(&b) || b == b'-')
        && s.as_bytes().first().is_some_and(alnum)
        && s.as_bytes().last().is_some_and(alnum)
}

/// Whether `s` is a DNS-1123 subdomain: at most 253 characters of dot-separated labels.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= MAX_SUBDOMAIN_LEN && s.split('.').all(is_dns1123_label)
}

/// A DNS-1123 label for `key`: the key itself when clean, else slug `--` hash.
fn label_for(key: &str) -> String {
    let slug = slug(key);
    if !slug.is_empty() && slug.len() <= MAX_LABEL_LEN && slug == key {
        return slug;
    }
    let keep = MAX_LABEL_LEN - HASH_SEPARATOR.len() - HASH_HEX_LEN;
    // The slug is ASCII, so byte truncation is character truncation.
    let base = match slug.get(..slug.len().min(keep)) {
        Some(s) if !s.is_empty() => s.trim_end_matches('-'),
        _ => EMPTY_SLUG,
    };
    format!("{base}{HASH_SEPARATOR}{}", short_hash(key))
}

/// Lowercase ASCII words joined by single `-`: letters and digits kept, common Latin accents
/// transliterated, combining marks dropped, everything else a separator.
fn slug(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut pending_separator = false;
    let push = |out: &mut String, word: &str, pending: &mut bool| {
        if *pending && !out.is_empty() {
            out.push('-');
        }
        *pending = false;
        out.push_str(word);
    };
    for c in key.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            let mut buf = [0; 4];
            push(&mut out, c.encode_utf8(&mut buf), &mut pending_separator);
        } else if let Some(ascii) = transliterate(c) {
            push(&mut out, ascii, &mut pending_separator);
        } else if !('\u{300}'..='\u{36f}').contains(&c) {
            pending_separator = true;
        }
    }
    out
}

/// ASCII for the lowercase letters of Latin-1 and Latin Extended-A (the accents of Western and
/// Central European names); `None` for everything else.
fn transliterate(c: char) -> Option<&'static str> {
    Some(match c {
        'à'..='å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'ð' | 'ď' | 'đ' => "d",
        'è'..='ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'ĥ' | 'ħ' => "h",
        'ì'..='ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'ĳ' => "ij",
        'ĵ' => "j",
        'ķ' | 'ĸ' => "k",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'ñ' | 'ń' | 'ņ' | 'ň' | 'ŉ' | 'ŋ' => "n",
        'ò'..='ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
        'œ' => "oe",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ś' | 'ŝ' | 'ş' | 'š' | 'ſ' => "s",
        'ß' => "ss",
        'ţ' | 'ť' | 'ŧ' => "t",
        'þ' => "th",
        'ù'..='ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        _ => return None,
    })
}

/// The first [`HASH_HEX_LEN`] hex digits of SHA-256 of `key`.
fn short_hash(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let mut hex = hex::encode(&digest[..HASH_HEX_LEN.div_ceil(2)]);
    hex.truncate(HASH_HEX_LEN);
    hex
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hashed(base: &str, name: &str) -> String {
        format!("{base}--{}", short_hash(&workspace_key(name)))
    }

    #[test]
    fn clean_names_are_the_lowercased_name() {
        assert_eq!(workspace_object_name("Sales"), "sales");
        assert_eq!(workspace_object_name("Sales-EU"), "sales-eu");
        assert_eq!(workspace_object_name("team42"), "team42");
        assert_eq!(workspace_object_name("sales"), workspace_object_name("Sales"));
        assert_eq!(workspace_object_name("SALES"), "sales");
    }

    #[test]
    fn lossy_names_get_a_hash() {
        let name = workspace_object_name("Sales & Marketing");
        assert_eq!(name, hashed("sales-marketing", "Sales & Marketing"));
        assert_eq!(name.len(), "sales-marketing--".len() + 8);
        assert_eq!(
            workspace_object_name("Ventes-Équipe"),
            hashed("ventes-equipe", "Ventes-Équipe")
        );
        // Transliterated and plain spellings are different workspaces.
        assert_ne!(
            workspace_object_name("Ventes-Équipe"),
            workspace_object_name("Ventes-Equipe")
        );
        assert_eq!(workspace_object_name("Straße"), hashed("strasse", "Straße"));
        // Decomposed accent: combining mark dropped, still lossy.
        assert_eq!(
            workspace_object_name("E\u{301}quipe"),
            hashed("equipe", "E\u{301}quipe")
        );
        assert_eq!(workspace_object_name("a--b"), hashed("a-b", "a--b"));
        assert_eq!(workspace_object_name("-sales-"), hashed("sales", "-sales-"));
        assert_eq!(workspace_object_name("sales eu"), hashed("sales-eu", "sales eu"));
    }

    #[test]
    fn symbol_only_and_empty_names() {
        assert_eq!(workspace_object_name("★★★"), hashed("ws", "★★★"));
        assert_eq!(workspace_object_name("&&"), hashed("ws", "&&"));
        assert_eq!(workspace_object_name("営業"), hashed("ws", "営業"));
        assert_ne!(workspace_object_name("★"), workspace_object_name("★★"));
        assert_eq!(workspace_object_name(""), hashed("ws", ""));
    }

    #[test]
    fn long_names_are_truncated_with_a_hash() {
        let long = "a".repeat(63);
        assert_eq!(workspace_object_name(&long), long);
        let longer = "a".repeat(64);
        let name = workspace_object_name(&longer);
        assert_eq!(name.len(), 63);
        assert_eq!(name, hashed(&"a".repeat(53), &longer));
        // A cut that would end on a separator drops it.
        let words = format!("{}-bcd", "a".repeat(52));
        let name = workspace_object_name(&format!("{words}-and-more-text"));
        assert!(name.starts_with(&format!("{}--", "a".repeat(52))), "{name}");
        assert!(is_dns1123_label(&name));
    }

    #[test]
    fn hashed_names_never_equal_clean_ones() {
        // A workspace literally named like another's hashed object name.
        let hashed_name = workspace_object_name("Sales & Marketing");
        assert_ne!(workspace_object_name(&hashed_name), hashed_name);
    }

    #[test]
    fn final_sigma_is_one_workspace() {
        assert_eq!(workspace_key("ΣΑΣ"), workspace_key("σας"));
        assert_eq!(workspace_object_name("ΣΑΣ"), workspace_object_name("σας"));
    }

    #[test]
    fn binding_names() {
        assert_eq!(org_binding_name("u-7f3a"), "u-7f3a");
        assert_eq!(workspace_binding_name("u-7f3a", "sales"), "u-7f3a.sales");
        let user = "u".repeat(63);
        let ws = workspace_object_name(&"x".repeat(200));
        let name = workspace_binding_name(&user, &ws);
        assert!(is_dns1123_subdomain(&name), "{name}");
        assert_eq!(name.len(), 127);
        // A workspace named `org` cannot collide with the org binding.
        assert_ne!(workspace_binding_name("u1", "org"), org_binding_name("u1"));
        // Never expected, but an invalid id still gives a valid, distinct name.
        let odd = org_binding_name("User.1");
        assert!(is_dns1123_label(&odd), "{odd}");
        assert_ne!(odd, org_binding_name("user-1"));
        assert!(is_dns1123_subdomain(&workspace_binding_name("User.1", "Not A Label")));
    }

    #[test]
    fn label_validation() {
        assert!(is_dns1123_label("a"));
        assert!(is_dns1123_label("a-1"));
        assert!(!is_dns1123_label(""));
        assert!(!is_dns1123_label("-a"));
        assert!(!is_dns1123_label("a-"));
        assert!(!is_dns1123_label("A"));
        assert!(!is_dns1123_label("a.b"));
        assert!(!is_dns1123_label(&"a".repeat(64)));
        assert!(is_dns1123_subdomain("a.b-c"));
        assert!(!is_dns1123_subdomain("a..b"));
    }

    /// A case variant of `s`: each character upper- or lowercased per `mask`, where that mapping
    /// lowercases back to the same key (not so for e.g. `ß` → `SS`).
    fn case_variant(s: &str, mask: &[bool]) -> String {
        s.chars()
            .zip(mask.iter().cycle())
            .map(|(c, up)| {
                let upper: String = c.to_uppercase().collect();
                if *up && workspace_key(&upper) == workspace_key(&c.to_string()) {
                    upper
                } else {
                    c.to_string()
                }
            })
            .collect()
    }

    proptest! {
        #[test]
        fn always_a_label(group in any::<String>()) {
            let name = workspace_object_name(&group);
            prop_assert!(is_dns1123_label(&name), "{group:?} → {name:?}");
        }

        #[test]
        fn always_a_label_for_latin_text(group in "[ a-zA-Z0-9&._ÀÉÈÜßæœ-]{0,80}") {
            let name = workspace_object_name(&group);
            prop_assert!(is_dns1123_label(&name), "{group:?} → {name:?}");
        }

        #[test]
        fn case_variants_map_to_the_same_name(
            group in "\\PC{0,30}",
            mask in proptest::collection::vec(any::<bool>(), 1..8),
        ) {
            let variant = case_variant(&group, &mask);
            prop_assert_eq!(workspace_object_name(&group), workspace_object_name(&variant));
        }

        #[test]
        fn distinct_names_never_collide(a in "[a-cA-C &é-]{0,12}", b in "[a-cA-C &é-]{0,12}") {
            prop_assume!(workspace_key(&a) != workspace_key(&b));
            prop_assert_ne!(workspace_object_name(&a), workspace_object_name(&b));
        }

        #[test]
        fn distinct_unicode_names_never_collide(a in "\\PC{0,20}", b in "\\PC{0,20}") {
            prop_assume!(workspace_key(&a) != workspace_key(&b));
            prop_assert_ne!(workspace_object_name(&a), workspace_object_name(&b));
        }

        #[test]
        fn distinct_from_a_name_spelled_like_its_object_name(a in "\\PC{0,70}") {
            let name = workspace_object_name(&a);
            prop_assume!(workspace_key(&a) != name);
            prop_assert_ne!(workspace_object_name(&name), name);
        }

        #[test]
        fn binding_names_are_subdomains(user in "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", group in any::<String>()) {
            let ws = workspace_object_name(&group);
            prop_assert!(is_dns1123_subdomain(&workspace_binding_name(&user, &ws)));
            prop_assert!(is_dns1123_subdomain(&org_binding_name(&user)));
        }
    }
}
