//! The control plane, one module per resource. Each operation checks its request, changes the
//! function's record through the registry's serialized change, and answers in the wire's
//! shapes.

mod event_invoke;
