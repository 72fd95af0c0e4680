//! Concurrency limits across a cluster, without a database round trip per invocation. A
//! function's reservation, and the account's limit less every reservation (the unreserved
//! pool), are cut into slots shared by the nodes ([`Membership`]): a node admits an
//! invocation only within the slots it holds, takes one more from the cluster (one
//! transaction) only when all it holds are busy, and gives back the ones it has not needed
//! for [`KEEP_IDLE`]. So the cluster never runs more than a reservation, or the account's
//! limit, at once, and warm invocations cost no round trip. Without its database, a node
//! stops using its reservation slots before the others may take them back (reservations
//! stay exact), but keeps serving unreserved invocations within its own limit (it keeps
//! serving the functions it knows). One node alone has no grants.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lamina_store::Membership;

/// How long a slot no invocation needed is kept before it is given back.
pub(crate) const KEEP_IDLE: Duration = Duration::from_secs(2);

/// The slots this node holds, by function, and of the account's limit.
#[derive(Debug)]
pub(crate) struct Grants {
    members: Arc<dyn Membership>,
    // Short critical sections only.
    held: Mutex<HashMap<String, Arc<Held>>>,
    /// Slots of the account's limit (unreserved invocations), mirrored into admission.
    account: Held,
    concurrency: Arc<crate::admission::Concurrency>,
}

/// The scope of the account's limit.
const ACCOUNT: &str = "account";

#[derive(Debug, Default)]
struct Held {
    slots: AtomicU32,
    /// When all of them were last needed (epoch ms).
    last_full_ms: AtomicU64,
}

fn now_ms() -> u64 {
    lamina_queue::now_ms()
}

fn scope(function: &str) -> String {
    format!("reserved:{function}")
}

impl Grants {
    /// Grants of `members`' cluster, bounding `concurrency`'s unreserved pool by the account
    /// slots held (none yet).
    pub(crate) fn new(
        members: Arc<dyn Membership>,
        concurrency: Arc<crate::admission::Concurrency>,
    ) -> Grants {
        concurrency.set_unreserved_held(0);
        Grants {
            members,
            held: Mutex::new(HashMap::new()),
            account: Held::default(),
            concurrency,
        }
    }

    /// Notes that every account slot was needed just now.
    pub(crate) fn account_full(&self) {
        self.account.last_full_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Takes one more slot of the account's limit, if the cluster's unreserved invocations
    /// stay within `pool`. If the database cannot be reached, this node serves unbounded by
    /// the cluster (only by its own limit) until it can again: a node that lost its database
    /// keeps serving the functions it knows.
    pub(crate) async fn grow_account(&self, pool: u32) -> bool {
        if self.concurrency.unreserved_held() == u32::MAX {
            return false;
        }
        match self.members.acquire(ACCOUNT, pool).await {
            Ok(true) => {
                let held = self.account.slots.fetch_add(1, Ordering::SeqCst) + 1;
                self.account.last_full_ms.store(now_ms(), Ordering::Relaxed);
                self.concurrency.set_unreserved_held(held);
                true
            }
            Ok(false) if self.members.holds() => false,
            outcome => {
                if let Err(e) = outcome {
                    tracing::warn!(error = %e, "the database is away: unreserved invocations are bounded by this node's limit alone until it is back");
                }
                self.concurrency.set_unreserved_held(u32::MAX);
                true
            }
        }
    }

    pub(crate) fn members(&self) -> &Arc<dyn Membership> {
        &self.members
    }

    fn entry(&self, function: &str) -> Arc<Held> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = held.get(function) {
            return h.clone();
        }
        held.entry(function.to_string()).or_default().clone()
    }

    /// How many invocations of `function` (reserved `reserved`) this node may run now.
    pub(crate) fn cap(&self, function: &str, reserved: u32) -> u32 {
        if !self.members.holds() {
            return 0;
        }
        self.entry(function)
            .slots
            .load(Ordering::SeqCst)
            .min(reserved)
    }

    /// Notes that every slot of `function` was needed just now.
    pub(crate) fn full(&self, function: &str) {
        self.entry(function)
            .last_full_ms
            .store(now_ms(), Ordering::Relaxed);
    }

    /// Takes one more slot of `function` from the cluster, if its reservation has room.
    pub(crate) async fn grow(&self, function: &str, reserved: u32) -> bool {
        let held = self.entry(function);
        if held.slots.load(Ordering::SeqCst) >= reserved {
            return false;
        }
        match self.members.acquire(&scope(function), reserved).await {
            Ok(true) => {
                held.slots.fetch_add(1, Ordering::SeqCst);
                held.last_full_ms.store(now_ms(), Ordering::Relaxed);
                true
            }
            Ok(false) => false,
            Err(e) => {
                tracing::warn!(function, error = %e, "could not take a slot of a reservation");
                false
            }
        }
    }

    /// Gives back the account slots not needed for [`KEEP_IDLE`]; once the database is back
    /// after serving without it, bounds unreserved invocations by the slots held again.
    async fn trim_account(&self) {
        let holds = self.members.holds();
        if self.concurrency.unreserved_held() == u32::MAX {
            if holds {
                self.concurrency
                    .set_unreserved_held(self.account.slots.load(Ordering::SeqCst));
            }
            return;
        }
        let idle_before = now_ms().saturating_sub(KEEP_IDLE.as_millis() as u64);
        if self.account.last_full_ms.load(Ordering::Relaxed) >= idle_before {
            return;
        }
        let slots = self.account.slots.load(Ordering::SeqCst);
        let spare = slots.saturating_sub(self.concurrency.unreserved_in_flight());
        if spare == 0 {
            return;
        }
        let held = self.account.slots.fetch_sub(spare, Ordering::SeqCst) - spare;
        self.concurrency.set_unreserved_held(held);
        if let Err(e) = self.members.release(ACCOUNT, spare).await {
            tracing::warn!(error = %e, "could not give back account slots");
        }
    }

    /// Gives back the slots not needed for [`KEEP_IDLE`], beyond those `in_flight` says are
    /// busy; all of them when this node may no longer hold any.
    pub(crate) async fn trim(&self, in_flight: impl Fn(&str) -> u32) {
        self.trim_account().await;
        let entries: Vec<(String, Arc<Held>)> = self
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let holds = self.members.holds();
        let idle_before = now_ms().saturating_sub(KEEP_IDLE.as_millis() as u64);
        for (function, held) in entries {
            let slots = held.slots.load(Ordering::SeqCst);
            let busy = in_flight(&function);
            let spare = if !holds {
                slots
            } else if held.last_full_ms.load(Ordering::Relaxed) < idle_before {
                slots.saturating_sub(busy)
            } else {
                0
            };
            if spare == 0 {
                continue;
            }
            held.slots.fetch_sub(spare, Ordering::SeqCst);
            // Even when this node may no longer hold them: if the database is there after
            // all, they are free again at once rather than when this node is removed.
            if let Err(e) = self.members.release(&scope(&function), spare).await {
                tracing::warn!(function, error = %e, "could not give back reservation slots");
            }
        }
    }
}
