//! Entra-shaped traffic at a steady rate while something else happens (a fault, an upgrade),
//! and the check that every write it saw acknowledged is in the cluster afterwards.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kube::Api;
use kube::api::ListParams;
use scim_operator::api::User;

use crate::load::Entra;
use crate::{IDP, Provisioned};

/// Entra-shaped traffic at a steady rate until stopped: every 100 ms one of a user create, a
/// member PATCH adding the latest user to a workspace group, or a deactivation of an older user.
/// Only acknowledged writes enter the returned [`Provisioned`].
pub struct Traffic {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<anyhow::Result<Provisioned>>,
}

impl Traffic {
    pub fn start(entra: Arc<Entra>, mut provisioned: Provisioned, tag: &'static str) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            let mut latest = None;
            let mut deactivate = 1;
            for i in 0.. {
                tick.tick().await;
                if stopped.load(Ordering::Relaxed) {
                    break;
                }
                match i % 3 {
                    0 => {
                        let id = entra.create_user(&format!("{tag}{i:05}@e2e.example"), false).await?;
                        provisioned.users.push((id.clone(), "member", true));
                        latest = Some(id);
                    }
                    1 => {
                        let Some(user) = latest.take() else { continue };
                        let (group, workspace, role) = provisioned.groups[i % provisioned.groups.len()].clone();
                        entra.patch_members(&group, "add", std::slice::from_ref(&user)).await?;
                        provisioned.memberships.push((user, workspace, role));
                    }
                    _ => {
                        deactivate += 7;
                        let k = deactivate % provisioned.users.len();
                        let user = provisioned.users[k].0.clone();
                        entra.set_active(&user, false).await?;
                        provisioned.users[k].2 = false;
                    }
                }
            }
            Ok(provisioned)
        });
        Traffic { stop, task }
    }

    pub async fn finish(self) -> Provisioned {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("traffic task").expect("traffic")
    }
}

/// Acknowledged writes the cluster does not show: users missing or with the wrong `active`,
/// and derived bindings missing, once converged (or at the deadline).
pub async fn lost_writes(client: &kube::Client, provisioned: &Provisioned) -> anyhow::Result<usize> {
    let users: Api<User> = Api::namespaced(client.clone(), IDP);
    let stored: HashMap<String, bool> = users
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .map(|u| (u.metadata.name.clone().unwrap_or_default(), u.spec.is_active()))
        .collect();
    Ok(provisioned
        .users
        .iter()
        .filter(|(id, _, active)| stored.get(id) != Some(active))
        .count())
}
