//! Runtimes started ahead of time for the managed runtimes: sandboxes whose runtime already
//! runs, without code and without a function, started from a template per runtime (see
//! [`crate::launcher::Launcher::keep_ready`]). A cold start whose function agrees with the
//! template on what the runtime reads at start takes one; the interpreter's start and the
//! bootstrap's imports are then paid ahead of time. Each serves one function, once: nothing
//! of one function can reach another through it.
//!
//! Where the runtime can fork (`zygotes`), a template also has a zygote: the waiting runtimes
//! are forked from it into sandboxes built to the end, and a cold start that finds none
//! waiting forks one at once, so that a burst pays a fork per environment rather than an
//! interpreter's start.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use lamina_sandbox::SandboxSpec;

use lamina_sandbox::{Zygote, ZygoteCommand};

use super::inits::{Inits, Ready};
use super::zygotes;
use crate::launcher::{LaunchError, LaunchSpec, read_at_start};

/// What a runtime started ahead of time was started as, and those waiting.
#[derive(Debug)]
struct Template {
    spec: LaunchSpec,
    sandbox: SandboxSpec,
    ready: Vec<Ready>,
    /// What its zygote is started as, when its runtime can fork.
    zygote_command: Option<ZygoteCommand>,
    zygote: Option<Arc<Zygote>>,
}

impl Template {
    /// The sandbox a runtime is forked into: built to the end, with no program of its own.
    fn forked_sandbox(&self) -> SandboxSpec {
        SandboxSpec {
            exec_later: true,
            ..self.sandbox.clone()
        }
    }
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
        // Layers are attached with the code; extensions, if the layers hold any, are
        // started beside the runtime when it is given its function.
        let (program, args) = match &spec.extensions {
            Some(e) => (&e.runtime, &e.runtime_args),
            None => (&spec.program, &spec.args),
        };
        self.spec.program == *program
            && self.spec.args == *args
            && self.spec.extra_ro == spec.extra_ro
            && at_start(&self.spec.env) == at_start(&spec.env)
    }
}

/// The templates and their waiting runtimes.
#[derive(Debug, Default)]
pub(super) struct Templates {
    // Short critical sections only: never held across a start or a fork.
    list: Mutex<Vec<Template>>,
    per_template: AtomicUsize,
    filling: AtomicBool,
    /// Whether runtimes that can fork come from zygotes.
    zygotes: bool,
}

impl Templates {
    /// Templates whose runtimes come from zygotes where they can (`zygotes`).
    pub(super) fn new(zygotes: bool) -> Templates {
        Templates {
            zygotes,
            ..Templates::default()
        }
    }

    /// Whether runtimes that can fork come from zygotes.
    pub(super) fn forks(&self) -> bool {
        self.zygotes
    }

    /// Keeps `count` runtimes of `spec` (as sandbox `sandbox`) waiting; false if known already.
    pub(super) fn add(&self, spec: LaunchSpec, sandbox: SandboxSpec, count: usize) -> bool {
        {
            let mut list = self.list.lock().unwrap_or_else(|p| p.into_inner());
            if list.iter().any(|t| t.sandbox == sandbox) {
                return false;
            }
            let zygote_command = if self.zygotes {
                zygotes::command(&sandbox, &spec.host.runtime_dir)
            } else {
                None
            };
            list.push(Template {
                sandbox,
                spec,
                ready: Vec::new(),
                zygote_command,
                zygote: None,
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

    /// A runtime forked at once for `spec` into a sandbox built to the end (`built`, else
    /// one built now), when a template that serves it has a zygote.
    pub(super) fn fork_now(
        &self,
        spec: &LaunchSpec,
        inits: &Inits,
        built: impl FnOnce() -> Option<Ready>,
    ) -> Option<Result<Ready, LaunchError>> {
        let (zygote, sandbox, pooled_serves) = {
            let list = self.list.lock().unwrap_or_else(|p| p.into_inner());
            let t = list.iter().find(|t| t.serves(spec))?;
            (
                t.zygote.clone()?,
                t.forked_sandbox(),
                inits.built_serves(&t.spec),
            )
        };
        let ready = match pooled_serves.then(built).flatten() {
            Some(b) => b,
            None => match inits.prestart(&sandbox, Some(spec)) {
                Ok(r) => r,
                Err(e) => return Some(Err(e)),
            },
        };
        Some(inits.fork_into(ready, &zygote, &sandbox, true))
    }

    /// Ends every waiting runtime and every zygote.
    pub(super) fn clear(&self) {
        let list = std::mem::take(&mut *self.list.lock().unwrap_or_else(|p| p.into_inner()));
        drop(list);
    }

    /// Tops up every template's waiting runtimes in the background (one filler at a time),
    /// and starts or replaces their zygotes.
    pub(super) fn refill(self: &Arc<Self>, inits: &Arc<Inits>) {
        if !self.has_work() || inits.is_closed() || self.filling.swap(true, Ordering::SeqCst) {
            return;
        }
        let me = self.clone();
        let inits = inits.clone();
        inits.runtime.clone().spawn_blocking(move || {
            while !inits.is_closed() {
                me.renew_zygotes();
                let per = me.per_template.load(Ordering::SeqCst);
                let next = me
                    .list
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .find(|t| t.ready.len() < per)
                    .map(|t| (t.sandbox.clone(), t.zygote.clone(), t.forked_sandbox()));
                let Some((sandbox, zygote, forked)) = next else {
                    break;
                };
                let made = match &zygote {
                    Some(z) => inits
                        .prestart(&forked, None)
                        .and_then(|r| inits.fork_into(r, z, &forked, false)),
                    None => inits.prestart(&sandbox, None),
                };
                match made {
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

    /// Whether a runtime should be started or a zygote started or replaced.
    fn has_work(&self) -> bool {
        let per = self.per_template.load(Ordering::SeqCst);
        self.list
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|t| {
                t.ready.len() < per
                    || (t.zygote_command.is_some()
                        && t.zygote.as_deref().is_none_or(zygotes::stale))
            })
    }

    /// Starts the zygote of every template that should have one and has none, or a stale
    /// one (which goes once its successor is ready). A zygote that cannot start is not
    /// tried again: that template's runtimes are started as before.
    fn renew_zygotes(&self) {
        let wanted: Vec<(SandboxSpec, ZygoteCommand)> = self
            .list
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|t| t.zygote.as_deref().is_none_or(zygotes::stale))
            .filter_map(|t| Some((t.sandbox.clone(), t.zygote_command.clone()?)))
            .collect();
        for (sandbox, command) in wanted {
            let started = Zygote::spawn(&command);
            let mut list = self.list.lock().unwrap_or_else(|p| p.into_inner());
            let Some(t) = list.iter_mut().find(|t| t.sandbox == sandbox) else {
                continue;
            };
            match started {
                Ok(z) => {
                    tracing::debug!(pid = z.pid(), program = %command.program.display(), "zygote started");
                    t.zygote = Some(Arc::new(z));
                }
                Err(e) => {
                    tracing::warn!(program = %command.program.display(), error = %e, "no zygote: runtimes are started instead");
                    t.zygote_command = None;
                    t.zygote = None;
                }
            }
        }
    }
}
