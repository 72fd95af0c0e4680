//! Runtimes started ahead of time for the managed runtimes: sandboxes whose runtime already
//! runs, without code and without a function, started from a template per runtime (see
//! [`crate::launcher::Launcher::keep_ready`]). A cold start whose function agrees with the
//! template on what the runtime reads at start takes one; the interpreter's start and the
//! bootstrap's imports are then paid ahead of time. Each serves one function, once: nothing
//! of one function can reach another through it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use lamina_sandbox::SandboxSpec;

use super::inits::{Inits, Ready};
use crate::launcher::{LaunchSpec, read_at_start};

/// What a runtime started ahead of time was started as, and those waiting.
#[derive(Debug)]
struct Template {
    spec: LaunchSpec,
    sandbox: SandboxSpec,
    ready: Vec<Ready>,
}

impl Template {
    /// Whether a runtime started from this template behaves as one started for `spec`.
    fn serves(&self, spec: &LaunchSpec) -> bool {
        let at_start = |env: &[(String, String)]| {
            let mut v: Vec<&(String, String)> =
                env.iter().filter(|(k, _)| read_at_start(k)).collect();
            v.sort();
            v.into_iter().cloned().collect::<Vec<_>>()
        };
        // Layers are mounted when the sandbox is built: a function with layers gets its own.
        spec.opt_dir.is_none()
            && self.spec.program == spec.program
            && self.spec.args == spec.args
            && self.spec.extra_ro == spec.extra_ro
            && at_start(&self.spec.env) == at_start(&spec.env)
    }
}

/// The templates and their waiting runtimes.
#[derive(Debug, Default)]
pub(super) struct Templates {
    // Short critical sections only.
    list: Mutex<Vec<Template>>,
    per_template: AtomicUsize,
    filling: AtomicBool,
}

impl Templates {
    /// Keeps `count` runtimes of `spec` (as sandbox `sandbox`) waiting; false if known already.
    pub(super) fn add(&self, spec: LaunchSpec, sandbox: SandboxSpec, count: usize) -> bool {
        {
            let mut list = self.list.lock().unwrap_or_else(|p| p.into_inner());
            if list.iter().any(|t| t.sandbox == sandbox) {
                return false;
            }
            list.push(Template {
                sandbox,
                spec,
                ready: Vec::new(),
            });
        }
        self.per_template.store(count, Ordering::SeqCst);
        true
    }

    /// A waiting runtime that can serve `spec`, if one is ready.
    pub(super) fn take_ready(&self, spec: &LaunchSpec) -> Option<Ready> {
        let mut list = self.list.lock().unwrap_or_else(|p| p.into_inner());
        list.iter_mut()
            .find(|t| t.serves(spec))
            .and_then(|t| t.ready.pop())
    }

    /// Ends every waiting runtime.
    pub(super) fn clear(&self) {
        let list = std::mem::take(&mut *self.list.lock().unwrap_or_else(|p| p.into_inner()));
        drop(list);
    }

    /// Tops up every template's waiting runtimes in the background (one filler at a time).
    pub(super) fn refill(self: &Arc<Self>, inits: &Arc<Inits>) {
        if self.per_template.load(Ordering::SeqCst) == 0
            || inits.is_closed()
            || self.filling.swap(true, Ordering::SeqCst)
        {
            return;
        }
        let me = self.clone();
        let inits = inits.clone();
        inits.runtime.clone().spawn_blocking(move || {
            while !inits.is_closed() {
                let per = me.per_template.load(Ordering::SeqCst);
                let next = me
                    .list
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .find(|t| t.ready.len() < per)
                    .map(|t| t.sandbox.clone());
                let Some(sandbox) = next else { break };
                match inits.prestart(&sandbox) {
                    Ok(ready) => {
                        let mut list = me.list.lock().unwrap_or_else(|p| p.into_inner());
                        if let Some(t) = list.iter_mut().find(|t| t.sandbox == sandbox) {
                            t.ready.push(ready);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(program = %sandbox.program.display(), error = %e, "could not pre-start a runtime");
                        break;
                    }
                }
            }
            me.filling.store(false, Ordering::SeqCst);
        });
    }
}
