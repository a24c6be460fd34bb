//! SCIM error responses (RFC 7644 §3.12), always as `application/scim+json`.

#[cfg(feature = "operator")]
use axum::response::{IntoResponse, Response};
use http::StatusCode;
#[cfg(feature = "operator")]
use http::{HeaderValue, header};
#[cfg(feature = "operator")]
use serde_json::json;

/// The SCIM media type.
pub const SCIM_JSON: &str = "application/scim+json";
/// The schema URN of error bodies.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// Seconds a client should wait before retrying after 429 or 503.
#[cfg(feature = "operator")]
const RETRY_AFTER_SECONDS: u64 = 5;

/// A request that failed, with what the client needs to fix or retry it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {detail}")]
pub struct ScimError {
    pub status: StatusCode,
    /// RFC 7644 §3.12 `scimType`, for 400 and 409.
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    fn new(status: StatusCode, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
        }
    }
    /// 400 with a `scimType` such as `invalidValue` or `invalidFilter`.
    pub fn bad_request(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }
    /// 401: no or wrong bearer token.
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, None, "missing or invalid bearer token")
    }
    /// 404 for a resource or directory.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, detail)
    }
    /// 409 `uniqueness`.
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, Some("uniqueness"), detail)
    }
    /// 412: `If-Match` does not match the current version.
    pub fn precondition_failed(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::PRECONDITION_FAILED, None, detail)
    }
    /// 408: the request body did not arrive within the configured time.
    pub fn request_timeout(limit: std::time::Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            None,
            format!("request body not received within {} s", limit.as_secs()),
        )
    }
    /// 413: the body is larger than the configured limit.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
            format!("request body exceeds {limit} bytes"),
        )
    }
    /// 429: too many requests in flight; retry later.
    pub fn overloaded() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            None,
            "server is at capacity; retry after the indicated delay",
        )
    }
    /// 503: the Kubernetes API server cannot be reached or is not ready.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, None, detail)
    }
    /// 500, for bugs; the detail says nothing internal.
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, None, "internal error")
    }
}

#[cfg(feature = "operator")]
impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = t.into();
        }
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
        if matches!(
            self.status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        ) {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        response
    }
}

#[cfg(feature = "operator")]
impl From<kube::Error> for ScimError {
    /// API-server failures the handlers did not expect: unreachable, overloaded, restarting or
    /// refusing the operator → 503, else 500.
    /// Logs carry the status code and reason only: an API message can quote a stored value (a
    /// userName, an email), and logs must not carry personal data.
    fn from(err: kube::Error) -> Self {
        match &err {
            kube::Error::Api(status) if status.code == 429 || status.code >= 500 => {
                tracing::warn!(code = status.code, reason = %status.reason, "API server refused a request");
                ScimError::unavailable("the Kubernetes API server is overloaded or unavailable")
            }
            // Right after kube-apiserver (re)starts it answers 404 for custom resources until it
            // serves their CRDs again, and may refuse credentials until its caches are warm; the
            // handlers deal with the 404s they expect. Transient, or (if it lasts) an install
            // problem: either way nothing was stored, so the client should retry.
            kube::Error::Api(status) if matches!(status.code, 401 | 403 | 404) => {
                tracing::warn!(code = status.code, reason = %status.reason, "API server refused a request");
                ScimError::unavailable("the Kubernetes API server does not serve this request yet")
            }
            kube::Error::Api(status) => {
                tracing::error!(code = status.code, reason = %status.reason, "unexpected API error");
                ScimError::internal()
            }
            kube::Error::SerdeError(_) => {
                // Its text may quote the value that failed to decode.
                tracing::warn!("API server response could not be decoded");
                ScimError::unavailable("the Kubernetes API server sent an unreadable response")
            }
            other => {
                tracing::warn!(error = %other, "API server unreachable");
                ScimError::unavailable("the Kubernetes API server cannot be reached")
            }
        }
    }
}

/// Result type of SCIM handlers.
pub type ScimResult<T> = Result<T, ScimError>;

/// Whether an API error is a lost optimistic-concurrency race.
#[cfg(feature = "operator")]
pub fn is_conflict(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.is_conflict())
}
