//! Reserved concurrency across a cluster, without a database round trip per invocation.
//! A function's reservation is cut into slots shared by the nodes ([`Membership`]): a node
//! admits an invocation of a reserved function only within the slots it holds, takes one
//! more from the cluster (one transaction) only when all it holds are busy, and gives back
//! the ones it has not needed for [`KEEP_IDLE`]. So the cluster never runs more than the
//! reservation at once, warm invocations cost no round trip, and a node that lost the
//! database stops using its slots before the others may take them back. One node alone has
//! no grants: its reservations are its own.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lamina_store::Membership;

/// How long a slot no invocation needed is kept before it is given back.
pub(crate) const KEEP_IDLE: Duration = Duration::from_secs(2);

/// The slots this node holds, by function.
#[derive(Debug)]
pub(crate) struct Grants {
    members: Arc<dyn Membership>,
    // Short critical sections only.
    held: Mutex<HashMap<String, Arc<Held>>>,
}

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
    pub(crate) fn new(members: Arc<dyn Membership>) -> Grants {
        Grants {
            members,
            held: Mutex::new(HashMap::new()),
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

    /// Gives back the slots not needed for [`KEEP_IDLE`], beyond those `in_flight` says are
    /// busy; all of them when this node may no longer hold any.
    pub(crate) async fn trim(&self, in_flight: impl Fn(&str) -> u32) {
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
