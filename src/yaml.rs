//! The one YAML style for the files we write (`crds/`, `export`), on the YAML crate kube uses:
//! block collections, multi-line strings as literal `|` blocks, and every single-line string on
//! one line (serde-saphyr folds long ones into `>-` blocks by default; we do not, so a long
//! `pattern` or `description` stays greppable and a change to it stays a one-line diff).

use serde::Serialize;

/// `value` as YAML in the house style.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, serde_saphyr::SerializeError> {
    let options = serde_saphyr::ser_options! { folded_wrap_chars: usize::MAX };
    serde_saphyr::to_string_with_options(value, options)
}
