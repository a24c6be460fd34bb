//! The `filter` query parameter and PATCH `path` parser: any string either parses or gets an
//! error, never a panic, and whatever parses prints canonically and parses back to the same AST.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_operator::scim::filter::{MAX_FILTER_LEN, parse_filter, parse_patch_path};
use scim_operator::scim::schema::{GROUP_RESOURCE, USER_RESOURCE};

fuzz_target!(|data: &[u8]| {
    // The HTTP layer hands the parser a percent-decoded UTF-8 string.
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(filter) = parse_filter(input) {
        let printed = filter.to_string();
        // Canonical spacing can make a filter near the length limit print longer than the limit.
        assert!(
            printed.len() > MAX_FILTER_LEN || parse_filter(&printed).as_ref() == Ok(&filter),
            "{input:?} printed as {printed:?} parses as {:?}",
            parse_filter(&printed)
        );
        let user = serde_json::json!({
            "userName": "alice@example.com",
            "emails": [{"type": "work", "primary": true, "value": "alice@example.com"}],
            "name": {"givenName": "Alice"},
        });
        for rt in [&USER_RESOURCE, &GROUP_RESOURCE] {
            if filter.validate(rt).is_ok() {
                let _ = filter.matches(&user, rt);
            }
        }
    }
    if let Ok(path) = parse_patch_path(input) {
        let printed = path.to_string();
        assert!(
            printed.len() > MAX_FILTER_LEN || parse_patch_path(&printed).as_ref() == Ok(&path),
            "{input:?} printed as {printed:?} parses as {:?}",
            parse_patch_path(&printed)
        );
    }
});
