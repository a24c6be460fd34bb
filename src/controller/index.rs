//! An in-memory index kept next to the watch caches: which keys an object points at, and the
//! reverse. It answers "the native RoleBindings of user U" in O(result) instead of scanning every
//! cached binding. (A group's members come from [`crate::watch::Store`].)

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::RwLock;

/// `(namespace, name)` of an object.
type Key = (String, String);

/// A many-to-many index from objects to keys in the same namespace, with the reverse lookup.
#[derive(Debug, Default)]
pub struct Index {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// object → the keys it points at.
    forward: HashMap<Key, Vec<String>>,
    /// (namespace, key) → the objects pointing at it.
    reverse: HashMap<Key, BTreeSet<String>>,
    /// Objects seen since the last relist began; `None` outside a relist.
    relist: Option<HashSet<Key>>,
}

impl Index {
    /// Records that object `name` in `namespace` points at `keys`, replacing what it pointed at.
    pub fn set(&self, namespace: &str, name: &str, keys: Vec<String>) {
        let mut inner = self.inner.write().expect("index lock");
        let object = (namespace.to_string(), name.to_string());
        if let Some(seen) = inner.relist.as_mut() {
            seen.insert(object.clone());
        }
        if inner.forward.get(&object) == Some(&keys) {
            return;
        }
        inner.unlink(&object);
        for key in &keys {
            inner
                .reverse
                .entry((namespace.to_string(), key.clone()))
                .or_default()
                .insert(name.to_string());
        }
        inner.forward.insert(object, keys);
    }

    /// Forgets an object.
    pub fn remove(&self, namespace: &str, name: &str) {
        let mut inner = self.inner.write().expect("index lock");
        inner.unlink(&(namespace.to_string(), name.to_string()));
    }

    /// A relist begins: objects not `set` before [`Index::end_relist`] are dropped then.
    pub fn begin_relist(&self) {
        self.inner.write().expect("index lock").relist = Some(HashSet::new());
    }

    /// A relist ended: drops the objects it did not list (deleted while the watch was down).
    pub fn end_relist(&self) {
        let mut inner = self.inner.write().expect("index lock");
        let Some(seen) = inner.relist.take() else {
            return;
        };
        let gone: Vec<Key> = inner.forward.keys().filter(|k| !seen.contains(*k)).cloned().collect();
        for object in gone {
            inner.unlink(&object);
        }
    }

    /// The objects pointing at `key` in `namespace`, sorted.
    pub fn objects(&self, namespace: &str, key: &str) -> Vec<String> {
        let inner = self.inner.read().expect("index lock");
        inner
            .reverse
            .get(&(namespace.to_string(), key.to_string()))
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default()
    }
}

impl Inner {
    fn unlink(&mut self, object: &Key) {
        let Some(keys) = self.forward.remove(object) else {
            return;
        };
        for key in keys {
            let rkey = (object.0.clone(), key);
            if let Some(set) = self.reverse.get_mut(&rkey) {
                set.remove(&object.1);
                if set.is_empty() {
                    self.reverse.remove(&rkey);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn set_replaces_and_remove_forgets() {
        let index = Index::default();
        index.set("ns", "alice", keys(&["g1", "g2"]));
        index.set("ns", "bob", keys(&["g1"]));
        index.set("other", "carol", keys(&["g1"]));
        assert_eq!(index.objects("ns", "g1"), keys(&["alice", "bob"]));
        assert_eq!(index.objects("ns", "g2").len(), 1);

        index.set("ns", "alice", keys(&["g2"]));
        assert_eq!(index.objects("ns", "g1"), keys(&["bob"]));

        index.remove("ns", "bob");
        assert!(index.objects("ns", "g1").is_empty());
        assert_eq!(index.objects("other", "g1"), keys(&["carol"]));
    }

    #[test]
    fn relist_drops_objects_not_listed_again() {
        let index = Index::default();
        index.set("ns", "alice", keys(&["g1"]));
        index.set("ns", "bob", keys(&["g1"]));
        index.begin_relist();
        index.set("ns", "bob", keys(&["g1"]));
        index.end_relist();
        assert_eq!(index.objects("ns", "g1"), keys(&["bob"]));
    }
}
