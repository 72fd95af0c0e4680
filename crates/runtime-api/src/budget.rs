//! How many connections a function may hold open in the server: a few per environment
//! (a runtime needs one or two to its Runtime API; its egress proxy a few dozen), and all
//! environments together no more than the descriptors the server set aside for them, so
//! that no function can take the descriptors the API and its neighbours need.
//!
//! A connection over either bound is closed as soon as it is accepted: the runtime sees a
//! reset, and the server spends no descriptor on it.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Connections one environment may hold to its Runtime API.
pub const RUNTIME_API_CONNECTIONS_PER_ENVIRONMENT: usize = 8;
/// Connections one environment may hold through its egress proxy (two descriptors each).
pub const EGRESS_CONNECTIONS_PER_ENVIRONMENT: usize = 64;

/// The descriptors of the whole server that functions' connections may use.
#[derive(Debug, Clone)]
pub struct ConnectionBudget {
    shared: Arc<Semaphore>,
}

impl ConnectionBudget {
    /// A budget of `descriptors` for all environments together.
    pub fn new(descriptors: usize) -> ConnectionBudget {
        ConnectionBudget {
            shared: Arc::new(Semaphore::new(descriptors)),
        }
    }

    /// Descriptors not in use now.
    pub fn available(&self) -> usize {
        self.shared.available_permits()
    }

    /// The bounds of one new environment.
    pub fn for_environment(&self) -> EnvironmentConnections {
        EnvironmentConnections {
            shared: self.shared.clone(),
            runtime_api: Arc::new(Semaphore::new(RUNTIME_API_CONNECTIONS_PER_ENVIRONMENT)),
            egress: Arc::new(Semaphore::new(EGRESS_CONNECTIONS_PER_ENVIRONMENT)),
        }
    }
}

impl Default for ConnectionBudget {
    fn default() -> Self {
        ConnectionBudget::new(8192)
    }
}

/// One environment's connection bounds; each accepted connection holds a [`Held`] until it
/// closes.
#[derive(Debug, Clone)]
pub struct EnvironmentConnections {
    shared: Arc<Semaphore>,
    runtime_api: Arc<Semaphore>,
    egress: Arc<Semaphore>,
}

/// Room taken for one open connection.
#[derive(Debug)]
pub struct Held {
    _own: OwnedSemaphorePermit,
    _shared: OwnedSemaphorePermit,
}

impl EnvironmentConnections {
    fn take(&self, own: &Arc<Semaphore>, descriptors: u32) -> Option<Held> {
        let own = own.clone().try_acquire_owned().ok()?;
        let shared = self
            .shared
            .clone()
            .try_acquire_many_owned(descriptors)
            .ok()?;
        Some(Held {
            _own: own,
            _shared: shared,
        })
    }

    /// Room for one more Runtime API connection, if there is any.
    pub fn runtime_api(&self) -> Option<Held> {
        self.take(&self.runtime_api, 1)
    }

    /// Room for one more egress connection (it and its upstream), if there is any.
    pub fn egress(&self) -> Option<Held> {
        self.take(&self.egress, 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_environment_and_all_of_them_are_bounded() {
        let budget = ConnectionBudget::new(12);
        let a = budget.for_environment();
        let held: Vec<Held> = std::iter::from_fn(|| a.runtime_api()).take(100).collect();
        assert_eq!(held.len(), RUNTIME_API_CONNECTIONS_PER_ENVIRONMENT);
        assert_eq!(
            budget.available(),
            12 - RUNTIME_API_CONNECTIONS_PER_ENVIRONMENT
        );
        // A neighbour gets what is left of the shared budget, two descriptors per egress.
        let b = budget.for_environment();
        let egress: Vec<Held> = std::iter::from_fn(|| b.egress()).take(100).collect();
        assert_eq!(egress.len(), 2);
        assert!(b.runtime_api().is_none());
        drop(held);
        let one = b.runtime_api().unwrap();
        assert_eq!(budget.available(), 12 - 4 - 1);
        drop(one);
    }
}
