//! Counting API requests: `apiserver_request_total` from the kube-apiserver's `/metrics`,
//! scraped with the admin client before and after a phase and diffed by verb and resource.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Verbs that write (as `apiserver_request_total` spells them).
const WRITE_VERBS: [&str; 6] = ["POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"];

/// Request counts by `(verb, resource[/subresource])`.
#[derive(Clone, Debug, Default)]
pub struct Counts(BTreeMap<(String, String), f64>);

impl Counts {
    /// Scrapes the API server.
    pub async fn scrape(client: &kube::Client) -> anyhow::Result<Counts> {
        Ok(Counts::parse(&metrics(client).await?))
    }

    fn parse(text: &str) -> Counts {
        let mut counts = BTreeMap::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
                continue;
            };
            let Some((labels, value)) = rest.rsplit_once("} ") else {
                continue;
            };
            let label = |name: &str| -> String {
                let key = format!("{name}=\"");
                labels
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(&key))
                    .map(|v| v.trim_end_matches('"').to_string())
                    .unwrap_or_default()
            };
            let mut resource = label("resource");
            let sub = label("subresource");
            if !sub.is_empty() {
                resource = format!("{resource}/{sub}");
            }
            *counts.entry((label("verb"), resource)).or_insert(0.0) += value.trim().parse::<f64>().unwrap_or(0.0);
        }
        Counts(counts)
    }

    /// `self - before`, keeping only what changed.
    pub fn since(&self, before: &Counts) -> Delta {
        let mut delta = BTreeMap::new();
        for (key, after) in &self.0 {
            let d = after - before.0.get(key).copied().unwrap_or(0.0);
            if d > 0.0 {
                delta.insert(key.clone(), d as u64);
            }
        }
        Delta(delta)
    }
}

/// What kube-apiserver stores for one resource of a namespace: how many objects, and the mean
/// size of one as JSON — the form in which custom resources are written to etcd, managedFields
/// included — over a sample of up to 200.
pub struct Stored {
    pub resource: &'static str,
    pub objects: u64,
    pub mean_bytes: f64,
}

/// [`Stored`] for each of the operator's kinds in `namespace`.
pub async fn stored(client: &kube::Client, namespace: &str) -> anyhow::Result<Vec<Stored>> {
    let mut out = Vec::new();
    for resource in ["users", "nameclaims", "groups", "rolebindings", "workspaces"] {
        let path = format!("/apis/scim-operator.io/v1alpha1/namespaces/{namespace}/{resource}?limit=200");
        let request = axum::http::Request::get(path).body(Vec::new())?;
        let list: serde_json::Value = serde_json::from_str(&client.request_text(request).await?)?;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        let bytes: usize = items.iter().map(|item| item.to_string().len()).sum();
        let remaining = list["metadata"]["remainingItemCount"].as_u64().unwrap_or(0);
        out.push(Stored {
            resource,
            objects: items.len() as u64 + remaining,
            mean_bytes: bytes as f64 / items.len().max(1) as f64,
        });
    }
    Ok(out)
}

/// The size of etcd's database file as kube-apiserver reports it (`apiserver_storage_size_bytes`:
/// what etcd's quota counts, free pages and history not yet compacted included).
pub async fn etcd_file_bytes(client: &kube::Client) -> anyhow::Result<u64> {
    let bytes = metrics(client)
        .await?
        .lines()
        .filter(|line| line.starts_with("apiserver_storage_size_bytes{"))
        .filter_map(|line| line.rsplit_once(' ')?.1.trim().parse::<f64>().ok())
        .fold(0.0, f64::max);
    Ok(bytes as u64)
}

/// kube-apiserver's `/metrics`, read with the admin client.
async fn metrics(client: &kube::Client) -> anyhow::Result<String> {
    let request = axum::http::Request::get("/metrics").body(Vec::new())?;
    Ok(client.request_text(request).await?)
}

/// Requests made between two scrapes.
#[derive(Clone, Debug, Default)]
pub struct Delta(BTreeMap<(String, String), u64>);

impl Delta {
    /// Every request (reads, watches and writes), except the `/metrics` scrapes themselves.
    pub fn total(&self) -> u64 {
        self.0.iter().filter(|((_, r), _)| !r.is_empty()).map(|(_, n)| n).sum()
    }

    /// Write requests.
    pub fn writes(&self) -> u64 {
        self.0
            .iter()
            .filter(|((verb, _), _)| WRITE_VERBS.contains(&verb.as_str()))
            .map(|(_, n)| n)
            .sum()
    }

    /// Write requests to one resource (e.g. `rolebindings`, `users/status`).
    pub fn writes_to(&self, resource: &str) -> u64 {
        self.0
            .iter()
            .filter(|((verb, r), _)| r == resource && WRITE_VERBS.contains(&verb.as_str()))
            .map(|(_, n)| n)
            .sum()
    }

    /// `users POST=50000, users PATCH=…` — writes by resource and verb, then reads in total.
    pub fn breakdown(&self) -> String {
        let mut out = String::new();
        for ((verb, resource), n) in &self.0 {
            if WRITE_VERBS.contains(&verb.as_str()) {
                let _ = write!(out, "{}{resource} {verb}={n}", if out.is_empty() { "" } else { ", " });
            }
        }
        let reads = self.total() - self.writes();
        let _ = write!(out, "{}reads={reads}", if out.is_empty() { "" } else { ", " });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_diffs_request_counters() {
        let before = Counts::parse(
            "apiserver_request_total{code=\"201\",component=\"apiserver\",dry_run=\"\",group=\"scim-operator.io\",resource=\"users\",scope=\"resource\",subresource=\"\",verb=\"POST\",version=\"v1alpha1\"} 3\n",
        );
        let after = Counts::parse(
            "# HELP x\napiserver_request_total{code=\"201\",component=\"apiserver\",dry_run=\"\",group=\"scim-operator.io\",resource=\"users\",scope=\"resource\",subresource=\"\",verb=\"POST\",version=\"v1alpha1\"} 10\n\
             apiserver_request_total{code=\"200\",component=\"apiserver\",dry_run=\"\",group=\"scim-operator.io\",resource=\"users\",scope=\"resource\",subresource=\"status\",verb=\"APPLY\",version=\"v1alpha1\"} 2\n\
             apiserver_request_total{code=\"200\",component=\"apiserver\",dry_run=\"\",group=\"scim-operator.io\",resource=\"users\",scope=\"resource\",subresource=\"\",verb=\"GET\",version=\"v1alpha1\"} 5\n",
        );
        let d = after.since(&before);
        assert_eq!(d.writes(), 9);
        assert_eq!(d.total(), 14);
        assert_eq!(d.writes_to("users"), 7);
        assert_eq!(d.writes_to("users/status"), 2);
        assert_eq!(d.breakdown(), "users/status APPLY=2, users POST=7, reads=5");
    }
}
