//! Request ids, and the trace a SCIM write leaves on the object it writes.
//!
//! Every request gets a fresh random id, returned in `X-Request-Id` (a client's own header is
//! not trusted: it would end up in an audit trail). While a write request is served, the objects
//! it writes carry [`LAST_REQUEST`] = `"{METHOD} {Users|Groups}/{id} {request-id}"`, set in the
//! same API write the request does anyway (no extra writes). `export --watch --git` reads it back
//! to name the request behind a provisioning change (see `crate::audit`). The value holds ids
//! only, never a userName or any other personal data.

use axum::extract::Request;
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub use crate::api::annotations::LAST_REQUEST;
/// Response header carrying the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The request being served, visible to the write path of its task.
#[derive(Clone, Debug)]
struct Current {
    method: Method,
    id: String,
}

tokio::task_local! {
    // A task-local rather than a parameter: the trace is set once here and read at the few
    // places that build a write, without threading it through every handler.
    static CURRENT: Current;
}

/// A fresh request id: 128 random bits in hex.
pub fn new_request_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Middleware: gives the request an id, serves it with that id in scope (and in a `request_id`
/// field of its log lines), returns the id in `X-Request-Id`.
pub async fn middleware(request: Request, next: Next) -> Response {
    let current = Current {
        method: request.method().clone(),
        id: new_request_id(),
    };
    let header = HeaderValue::from_str(&current.id).expect("hex is a valid header value");
    let span = tracing::info_span!("scim", request_id = %current.id);
    let mut response = CURRENT.scope(current, next.run(request)).instrument(span).await;
    response.headers_mut().insert(REQUEST_ID_HEADER, header);
    response
}

/// The [`LAST_REQUEST`] value for a write of `resource` (`Users` or `Groups`) `id` by the
/// request being served; `None` outside a request (the controller, tools, tests).
pub fn last_request(resource: &str, id: &str) -> Option<String> {
    CURRENT
        .try_with(|c| format!("{} {resource}/{id} {}", c.method, c.id))
        .ok()
}

/// A parsed [`LAST_REQUEST`] value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Trace {
    pub method: String,
    /// `Users/{id}` or `Groups/{id}`.
    pub resource: String,
    pub request_id: String,
}

impl Trace {
    /// Parses an annotation value. Anything but the exact shape this server writes is refused,
    /// so that a hand-edited annotation cannot smuggle other text into an audit trail.
    pub fn parse(value: &str) -> Option<Trace> {
        let mut parts = value.split(' ');
        let (method, resource, request_id) = (parts.next()?, parts.next()?, parts.next()?);
        let (kind, id) = resource.split_once('/')?;
        let id_ok = !id.is_empty()
            && id.len() <= 63
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let ok = parts.next().is_none()
            && matches!(method, "POST" | "PUT" | "PATCH" | "DELETE")
            && matches!(kind, "Users" | "Groups")
            && id_ok
            && request_id.len() == 32
            && request_id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        ok.then(|| Trace {
            method: method.into(),
            resource: resource.into(),
            request_id: request_id.into(),
        })
    }
}

impl std::fmt::Display for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} request {}", self.method, self.resource, self.request_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_trace_names_the_request_in_scope_only() {
        assert_eq!(last_request("Users", "u1"), None);
        let current = Current {
            method: Method::PATCH,
            id: "0123456789abcdef0123456789abcdef".into(),
        };
        let value = CURRENT
            .scope(current, async { last_request("Groups", "g1") })
            .await
            .unwrap();
        assert_eq!(value, "PATCH Groups/g1 0123456789abcdef0123456789abcdef");
        let trace = Trace::parse(&value).unwrap();
        assert_eq!(
            trace.to_string(),
            "PATCH Groups/g1 request 0123456789abcdef0123456789abcdef"
        );
    }

    #[test]
    fn only_the_written_shape_parses() {
        let id = new_request_id();
        assert_eq!(id.len(), 32);
        assert!(Trace::parse(&format!("POST Users/u1 {id}")).is_some());
        for bad in [
            format!("GET Users/u1 {id}"),
            format!("POST Users/ada@example.com {id}"),
            format!("POST Secrets/s1 {id}"),
            format!("POST Users/u1 {id} extra"),
            "POST Users/u1 not-an-id".to_string(),
            format!("POST Users/u1 {}", id.to_uppercase()),
            format!("POST Users/u1\n{id}"),
        ] {
            assert_eq!(Trace::parse(&bad), None, "{bad}");
        }
    }
}
