//! The Lambda Runtime API, version 2018-06-01, as one execution environment sees it.
//!
//! Layout:
//! - [`session`]: the protocol state of one environment ([`Session`]): which invocation is
//!   waiting to be fetched, which one is running, whether init failed. Every Runtime API
//!   call is a transition of that state; calls out of order are refused with the status the
//!   specification gives, never half-handled.
//! - [`budget`]: how many connections a function may hold open in the server.
//! - [`egress`]: the environment's egress proxy, its only way out of its network namespace.
//! - [`streaming`]: streamed responses (`Lambda-Runtime-Function-Response-Mode:
//!   streaming`), handed on chunk by chunk with the error trailers at their end.
//! - [`extensions`]: the Extensions API's state: registrations, INVOKE and SHUTDOWN events,
//!   which extensions are done with theirs; the runtime's init and an environment's release
//!   wait on it.
//! - [`telemetry`]: Telemetry API subscriptions and the buffered delivery of their records to
//!   the extensions' listeners inside the environment.
//! - `extension_routes`: the HTTP routes of both, beside the runtime's; `replies`: the
//!   answers all routes share.
//! - [`server`]: the HTTP routes (`/runtime/invocation/next`, `.../{id}/response`,
//!   `.../{id}/error`, `/runtime/init/error`) served on a listener that belongs to exactly one
//!   environment.
//!
//! **Architecture invariant:** one listener and one [`Session`] per environment. An
//! environment can only ever fetch invocations assigned to its own session, so no
//! environment can receive or answer another's invocation. Nothing here starts or stops
//! processes; the executor owns that and talks to this crate through [`Session`].

pub mod budget;
pub mod egress;
mod extension_routes;
pub mod extensions;
mod replies;
pub mod server;
pub mod session;
pub mod streaming;
pub mod telemetry;

pub use budget::{ConnectionBudget, EnvironmentConnections};
pub use extensions::{Extensions, FunctionInfo};
pub use server::serve;
pub use session::{Invocation, PickedUp, PickupHook, Reply, Session};
pub use streaming::{ResponseStream, STREAM_MAX_BYTES, StreamEnd};
pub use telemetry::{Telemetry, TelemetryStream};
