//! Query parameters of list and get requests (RFC 7644 §3.4.2), and ListResponse bodies.

use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ScimError, ScimResult};
use super::filter::{AttrPath, Filter, parse_filter};
use super::request::scim_response;
use super::resource::{Projection, project};
use super::schema::ResourceType;

/// The ListResponse schema URN.
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// Raw query parameters; numbers are parsed by hand so that bad ones get SCIM errors.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Query {
    filter: Option<String>,
    start_index: Option<String>,
    count: Option<String>,
    attributes: Option<String>,
    excluded_attributes: Option<String>,
    sort_by: Option<String>,
    sort_order: Option<String>,
}

/// The SearchRequest schema URN (`POST …/.search`, RFC 7644 §3.4.3).
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

impl Query {
    /// The parameters of a `POST …/.search` body, as a GET would carry them in its URL:
    /// `attributes`/`excludedAttributes` as arrays (or comma-separated strings), numbers as
    /// numbers (or strings). Member names are matched case-insensitively; others are ignored.
    pub fn from_search(body: &Value) -> ScimResult<Query> {
        let get = |name: &str| {
            body.as_object()
                .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
                .map(|(_, v)| v)
        };
        if let Some(schemas) = get("schemas") {
            let ok = schemas.as_array().is_some_and(|s| {
                s.iter()
                    .any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(SEARCH_REQUEST)))
            });
            if !ok {
                return Err(ScimError::bad_request(
                    "invalidSyntax",
                    format!("\"schemas\" must be an array containing \"{SEARCH_REQUEST}\""),
                ));
            }
        }
        let text = |name: &str| -> ScimResult<Option<String>> {
            let bad = || ScimError::bad_request("invalidValue", format!("\"{name}\" has the wrong type"));
            Ok(match get(name) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(Value::Array(items)) => Some(
                    items
                        .iter()
                        .map(|i| i.as_str().ok_or_else(bad))
                        .collect::<ScimResult<Vec<_>>>()?
                        .join(","),
                ),
                Some(_) => return Err(bad()),
            })
        };
        Ok(Query {
            filter: text("filter")?,
            start_index: text("startIndex")?,
            count: text("count")?,
            attributes: text("attributes")?,
            excluded_attributes: text("excludedAttributes")?,
            sort_by: text("sortBy")?,
            sort_order: text("sortOrder")?,
        })
    }
}

/// A validated list request.
pub struct ListRequest {
    pub filter: Option<Filter>,
    /// 1-based index of the first result.
    pub start_index: usize,
    pub count: usize,
    pub projection: Selection,
    sort_by: Option<AttrPath>,
    descending: bool,
}

/// `attributes` / `excludedAttributes`.
#[derive(Default)]
pub struct Selection {
    pub attributes: Vec<Projection>,
    pub excluded: Vec<Projection>,
    /// The raw lists, to ask whether an attribute is wanted at all.
    attributes_raw: Vec<String>,
    excluded_raw: Vec<String>,
}

impl Selection {
    /// Parses the two parameters of a get or list request.
    pub fn parse(query: &Query, rt: &ResourceType) -> Self {
        let raw = |s: &Option<String>| -> Vec<String> {
            s.as_deref()
                .unwrap_or("")
                .split(',')
                .map(|p| p.trim().to_ascii_lowercase())
                .filter(|p| !p.is_empty())
                .collect()
        };
        Selection {
            attributes: Projection::parse_list(query.attributes.as_deref().unwrap_or(""), rt),
            excluded: Projection::parse_list(query.excluded_attributes.as_deref().unwrap_or(""), rt),
            attributes_raw: raw(&query.attributes),
            excluded_raw: raw(&query.excluded_attributes),
        }
    }

    /// Whether the top-level attribute `name` (lowercase) will be returned, so that costly ones
    /// (a group's `members`) are only computed when wanted.
    pub fn wants(&self, name: &str) -> bool {
        let names = |list: &[String]| {
            list.iter().any(|p| {
                p == name
                    || p.starts_with(&format!("{name}."))
                    || p.starts_with(&format!("{name}["))
                    || p.ends_with(&format!(":{name}"))
            })
        };
        !self
            .excluded_raw
            .iter()
            .any(|p| p == name || p.ends_with(&format!(":{name}")))
            && (self.attributes_raw.is_empty() || names(&self.attributes_raw))
    }

    /// Applies the selection to one resource.
    pub fn apply(&self, resource: &mut Value, rt: &ResourceType) {
        project(resource, rt, &self.attributes, &self.excluded);
    }
}

fn parse_number(name: &str, value: &Option<String>) -> ScimResult<Option<i64>> {
    value
        .as_deref()
        .map(|v| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| ScimError::bad_request("invalidValue", format!("{name} must be an integer, got {v:?}")))
        })
        .transpose()
}

impl ListRequest {
    /// Validates the query against the resource type; `max_results` caps `count`.
    pub fn parse(query: &Query, rt: &ResourceType, max_results: usize) -> ScimResult<Self> {
        let filter = match query.filter.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
            Some(text) => {
                let filter = parse_filter(text).map_err(|e| ScimError::bad_request("invalidFilter", e.to_string()))?;
                filter
                    .validate(rt)
                    .map_err(|e| ScimError::bad_request("invalidFilter", e.to_string()))?;
                Some(filter)
            }
            None => None,
        };
        // RFC 7644 §3.4.2.4: startIndex < 1 is treated as 1; a negative count as 0.
        let start_index = parse_number("startIndex", &query.start_index)?.unwrap_or(1).max(1) as usize;
        let count = parse_number("count", &query.count)?.map_or(max_results, |c| (c.max(0) as usize).min(max_results));
        let sort_by = match query.sort_by.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(path) => {
                let parsed = super::filter::parse_patch_path(path)
                    .ok()
                    .filter(|p| p.value_filter.is_none())
                    .map(|p| p.attr)
                    .filter(|p| rt.resolve(p).is_some())
                    .ok_or_else(|| {
                        ScimError::bad_request("invalidValue", format!("cannot sort by {path:?}: unknown attribute"))
                    })?;
                Some(parsed)
            }
            None => None,
        };
        let descending = match query.sort_order.as_deref() {
            None => false,
            Some(o) if o.eq_ignore_ascii_case("ascending") => false,
            Some(o) if o.eq_ignore_ascii_case("descending") => true,
            Some(o) => {
                return Err(ScimError::bad_request(
                    "invalidValue",
                    format!("sortOrder must be ascending or descending, got {o:?}"),
                ));
            }
        };
        Ok(ListRequest {
            filter,
            start_index,
            count,
            projection: Selection::parse(query, rt),
            sort_by,
            descending,
        })
    }

    /// Whether `resource` passes the filter.
    pub fn matches(&self, resource: &Value, rt: &ResourceType) -> bool {
        self.filter.as_ref().is_none_or(|f| f.matches(resource, rt))
    }

    /// Filters, sorts, pages and projects `candidates`, answering a ListResponse.
    pub fn respond(&self, candidates: impl Iterator<Item = Value>, rt: &ResourceType) -> Response {
        let matched: Vec<Value> = candidates.filter(|r| self.matches(r, rt)).collect();
        self.page(matched, |r| self.projection.apply(r, rt))
    }

    /// Sorts and pages resources that matched, projects the page with `project`, and answers
    /// a ListResponse.
    pub fn page(&self, mut matched: Vec<Value>, project: impl Fn(&mut Value)) -> Response {
        if let Some(path) = &self.sort_by {
            let key = |r: &Value| sort_key(r, path);
            matched.sort_by_cached_key(key);
            if self.descending {
                matched.reverse();
            }
        }
        let total = matched.len();
        let page: Vec<Value> = self
            .page_of(matched)
            .map(|mut r| {
                project(&mut r);
                r
            })
            .collect();
        self.list_response(total, page)
    }

    /// Whether the page can be cut before anything is rendered: no filter to evaluate and no
    /// sort key to read, so `GET /Users?count=1` renders one user, not every user.
    fn pages_unrendered(&self) -> bool {
        self.filter.is_none() && self.sort_by.is_none()
    }

    /// This request's page of `items` (in their order).
    fn page_of<T>(&self, items: impl IntoIterator<Item = T>) -> impl Iterator<Item = T> {
        items.into_iter().skip(self.start_index - 1).take(self.count)
    }

    /// What this request takes from the store, under its lock: the page when it can be cut
    /// unrendered, else the candidates — those an index finds for the filter (`indexed`), or
    /// `all` — each as `take` makes it (shared pointers and what rendering them needs).
    pub fn take<'a, R: 'a, T>(
        &self,
        all: impl ExactSizeIterator<Item = &'a R>,
        indexed: impl FnOnce(&Filter) -> Option<Vec<&'a R>>,
        take: impl Fn(&R) -> T,
    ) -> Taken<T> {
        if self.pages_unrendered() {
            let total = all.len();
            return Taken::Page(total, self.page_of(all).map(take).collect());
        }
        Taken::Candidates(match self.filter.as_ref().and_then(indexed) {
            Some(found) => found.into_iter().map(take).collect(),
            None => all.map(take).collect(),
        })
    }

    /// Answers a list from what [`ListRequest::take`] took, with no lock held: a cut page is
    /// rendered in place; candidates are rendered, filtered and sorted off the async workers.
    pub async fn respond_taken<T: Send + 'static>(
        self,
        taken: Taken<T>,
        render: impl Fn(&T) -> Value + Send + 'static,
        rt: &'static ResourceType,
    ) -> ScimResult<Response> {
        match taken {
            Taken::Page(total, page) => Ok(self.respond_page(total, page.iter().map(render), rt)),
            Taken::Candidates(candidates) => {
                off_the_workers(candidates.len(), move || {
                    self.respond(candidates.iter().map(render), rt)
                })
                .await
            }
        }
    }

    /// A ListResponse of a page cut before rendering (see [`ListRequest::pages_unrendered`]):
    /// `page` renders it, `total` counts every candidate.
    fn respond_page(&self, total: usize, page: impl Iterator<Item = Value>, rt: &ResourceType) -> Response {
        let page = page
            .map(|mut r| {
                self.projection.apply(&mut r, rt);
                r
            })
            .collect();
        self.list_response(total, page)
    }

    fn list_response(&self, total: usize, page: Vec<Value>) -> Response {
        let body = json!({
            "schemas": [LIST_RESPONSE],
            "totalResults": total,
            "startIndex": self.start_index,
            "itemsPerPage": page.len(),
            "Resources": page,
        });
        scim_response(StatusCode::OK, &body, None)
    }
}

/// What a list request takes from the store under its lock: shared pointers only, with what
/// rendering them needs, so that no lock is held while resources are rendered.
pub enum Taken<T> {
    /// The page, cut before rendering, and the number of candidates.
    Page(usize, Vec<T>),
    /// Every candidate: a filter or a sort key must read them rendered.
    Candidates(Vec<T>),
}

/// Up to this many candidates are rendered on the async worker: an indexed lookup (`userName eq`,
/// Entra's most frequent request) finds one, and a thread hop would cost more than rendering it.
const RENDERED_INLINE: usize = 64;

/// Runs `respond` (rendering, filtering and sorting `candidates` resources) on a blocking thread,
/// off the async workers that also answer health checks and other directories; a few
/// candidates are rendered in place.
pub async fn off_the_workers(
    candidates: usize,
    respond: impl FnOnce() -> Response + Send + 'static,
) -> ScimResult<Response> {
    if candidates <= RENDERED_INLINE {
        return Ok(respond());
    }
    tokio::task::spawn_blocking(respond).await.map_err(|error| {
        tracing::error!(%error, "rendering a list failed");
        ScimError::internal()
    })
}

/// The value to sort a resource by: missing values sort last (RFC 7644 §3.4.2.3), strings
/// case-insensitively, multi-valued attributes by their primary (else first) value.
fn sort_key(resource: &Value, path: &AttrPath) -> (bool, String) {
    let get = |v: &Value, key: &str| -> Option<Value> {
        v.as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
    };
    let mut value = match &path.schema {
        Some(urn) if resource.get(urn.as_str()).is_some() => {
            resource.get(urn.as_str()).and_then(|e| get(e, &path.attr))
        }
        _ => get(resource, &path.attr),
    };
    if let Some(Value::Array(items)) = &value {
        value = items
            .iter()
            .find(|i| i.get("primary") == Some(&Value::Bool(true)))
            .or(items.first())
            .cloned();
    }
    if let Some(sub) = &path.sub_attr {
        value = value.and_then(|v| get(&v, sub));
    } else if let Some(Value::Object(_)) = &value {
        value = value.and_then(|v| get(&v, "value"));
    }
    match value {
        None | Some(Value::Null) => (true, String::new()),
        Some(Value::String(s)) => (false, s.to_lowercase()),
        Some(other) => (false, other.to_string()),
    }
}
