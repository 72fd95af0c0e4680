//! The control plane, one module per resource. Each operation checks its request, changes the
//! function's record through the registry's serialized change, and answers in the wire's
//! shapes.

pub mod aliases;
pub mod concurrency;
pub mod event_invoke;
pub mod functions;
pub mod layers;
pub mod policy;
pub mod provisioned;
pub mod tags;
pub mod urls;
pub mod versions;
