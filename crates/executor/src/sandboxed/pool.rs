//! The pool of sandboxes kept ready for any function: built to the end where the host allows
//! it (root: waiting for their code and program), else sandbox inits waiting for their spec.
//! Moving a process into a cgroup costs milliseconds on cgroup v1 (an RCU grace period), so
//! this is paid ahead of time; the pool refills in the background.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::inits::{IdleInit, IdleInitGuard, Inits, Ready};
use crate::launcher::LaunchError;

/// A sandbox of the pool.
#[derive(Debug)]
enum Pooled {
    /// In its cgroups and network namespace, waiting for its spec.
    Waiting(IdleInitGuard),
    /// Built to the end (root, PID 1), waiting for its code and its program.
    Built(Ready),
}

/// Sandboxes ready for any function.
#[derive(Debug)]
pub(super) struct SandboxPool {
    size: usize,
    // Short critical sections only: push and pop.
    pooled: Mutex<Vec<Pooled>>,
    filling: AtomicBool,
}

impl SandboxPool {
    pub(super) fn new(size: usize) -> SandboxPool {
        SandboxPool {
            size,
            pooled: Mutex::new(Vec::new()),
            filling: AtomicBool::new(false),
        }
    }

    pub(super) fn size(&self) -> usize {
        self.size
    }

    /// A pooled sandbox init still waiting for its spec.
    pub(super) fn take_waiting(&self) -> Option<IdleInit> {
        let mut pool = self.pooled.lock().unwrap_or_else(|p| p.into_inner());
        let at = pool.iter().rposition(|p| matches!(p, Pooled::Waiting(_)))?;
        match pool.swap_remove(at) {
            Pooled::Waiting(mut w) => w.0.take(),
            Pooled::Built(_) => None,
        }
    }

    /// A pooled sandbox built to the end.
    pub(super) fn take_built(&self) -> Option<Ready> {
        let mut pool = self.pooled.lock().unwrap_or_else(|p| p.into_inner());
        let at = pool.iter().rposition(|p| matches!(p, Pooled::Built(_)))?;
        match pool.swap_remove(at) {
            Pooled::Built(b) => Some(b),
            Pooled::Waiting(_) => None,
        }
    }

    /// Ends every pooled sandbox.
    pub(super) fn clear(&self) {
        let pooled = std::mem::take(&mut *self.pooled.lock().unwrap_or_else(|p| p.into_inner()));
        drop(pooled);
    }

    fn len(&self) -> usize {
        self.pooled.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// One sandbox for the pool: built to the end where the host allows it.
    fn start_one(inits: &Inits) -> Result<Pooled, LaunchError> {
        if inits.prebuild {
            Ok(Pooled::Built(inits.prestart(&inits.built_spec(), None)?))
        } else {
            Ok(Pooled::Waiting(IdleInitGuard(Some(inits.start_one(
                lamina_model::limits::EPHEMERAL_MIN_MB,
                None,
            )?))))
        }
    }

    /// Tops the pool up in the background (one filler at a time).
    pub(super) fn refill(self: &Arc<Self>, inits: &Arc<Inits>) {
        if self.size == 0 || inits.is_closed() || self.filling.swap(true, Ordering::SeqCst) {
            return;
        }
        let me = self.clone();
        let inits = inits.clone();
        inits.runtime.clone().spawn_blocking(move || {
            while !inits.is_closed() && me.len() < me.size {
                match SandboxPool::start_one(&inits) {
                    Ok(pooled) => me
                        .pooled
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(pooled),
                    Err(e) => {
                        tracing::warn!(error = %e, "could not pre-start a sandbox");
                        break;
                    }
                }
            }
            me.filling.store(false, Ordering::SeqCst);
        });
    }
}
