//! Which stored packages are in use right now, so that none is removed while anything
//! still needs it: a function's cached record, an upload between its extraction and its
//! record, an invocation that resolved the package and is starting or running its
//! environment.
//!
//! Removing a package is asked for, not done: [`Leases::try_remove`] removes it at once
//! only when nothing holds it; otherwise the package is marked, and when its last
//! [`Lease`] goes the `on_free` callback is called with its id, so that the owner can try
//! again (the package may have been taken up again meanwhile, by a record reusing the same
//! bytes: that is why the owner re-checks).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Called with a package's id when its last lease goes after a removal was asked for.
pub type OnFree = Box<dyn Fn(&str) + Send + Sync>;

/// The lease registry of one code store.
#[derive(Clone, Default)]
pub struct Leases {
    inner: Arc<Registry>,
}

#[derive(Default)]
struct Registry {
    held: Mutex<HashMap<String, Held>>,
    on_free: OnceLock<OnFree>,
}

#[derive(Default)]
struct Held {
    count: usize,
    removal_asked: bool,
}

impl std::fmt::Debug for Leases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self.inner.held.lock().unwrap_or_else(|p| p.into_inner());
        f.debug_struct("Leases").field("held", &held.len()).finish()
    }
}

/// A hold on one package; it stays while this lives.
pub struct Lease {
    id: String,
    registry: Arc<Registry>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Lease").field(&self.id).finish()
    }
}

impl Leases {
    /// Sets what is called when a package whose removal was asked for is free (once).
    pub fn on_free(&self, callback: OnFree) {
        let _ = self.inner.on_free.set(callback);
    }

    /// Holds package `id` until the lease is dropped.
    pub fn lease(&self, id: &str) -> Lease {
        let mut held = self.inner.held.lock().unwrap_or_else(|p| p.into_inner());
        held.entry(id.to_string()).or_default().count += 1;
        Lease {
            id: id.to_string(),
            registry: self.inner.clone(),
        }
    }

    /// Runs `remove` for `id` if nothing holds it, with no lease taken meanwhile (so
    /// `remove` must be quick: a rename); else marks it, so that `on_free` tells when it is
    /// free. Returns whether `remove` ran.
    pub fn try_remove(&self, id: &str, remove: impl FnOnce()) -> bool {
        let mut held = self.inner.held.lock().unwrap_or_else(|p| p.into_inner());
        match held.get_mut(id) {
            Some(h) if h.count > 0 => {
                h.removal_asked = true;
                false
            }
            _ => {
                held.remove(id);
                remove();
                true
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let freed = {
            let mut held = self.registry.held.lock().unwrap_or_else(|p| p.into_inner());
            let Some(h) = held.get_mut(&self.id) else {
                return;
            };
            h.count -= 1;
            if h.count > 0 {
                return;
            }
            let asked = h.removal_asked;
            held.remove(&self.id);
            asked
        };
        if freed && let Some(callback) = self.registry.on_free.get() {
            callback(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_held_package_is_removed_only_after_its_last_lease() {
        let leases = Leases::default();
        let freed = Arc::new(Mutex::new(Vec::<String>::new()));
        let seen = freed.clone();
        leases.on_free(Box::new(move |id| {
            seen.lock().unwrap().push(id.to_string())
        }));
        let removed = AtomicUsize::new(0);

        let a = leases.lease("p");
        let b = leases.lease("p");
        assert!(!leases.try_remove("p", || {
            removed.fetch_add(1, Ordering::SeqCst);
        }));
        drop(a);
        assert!(freed.lock().unwrap().is_empty(), "one lease is left");
        drop(b);
        assert_eq!(*freed.lock().unwrap(), ["p"]);
        assert!(leases.try_remove("p", || {
            removed.fetch_add(1, Ordering::SeqCst);
        }));
        assert_eq!(removed.load(Ordering::SeqCst), 1);

        // A package nobody asked to remove is not reported when it is let go.
        drop(leases.lease("q"));
        assert_eq!(freed.lock().unwrap().len(), 1);
    }
}
