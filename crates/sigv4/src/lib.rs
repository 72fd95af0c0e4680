//! AWS Signature Version 4, for both ends of Lamina's endpoint: the server verifies requests
//! ([`verify`]: the header and presigned forms, AWS's clock skew, constant-time comparison),
//! the CLI signs them ([`sign`]), and both read keys from the AWS shared-credentials format
//! ([`credentials`]). One canonical request (`canonical`) serves both, so what the CLI signs
//! is exactly what the server checks; botocore's own signatures are checked against it in
//! `tests/botocore.rs`.
//!
//! What a verified caller may do is decided by the caller of [`verify`].

mod canonical;
pub mod credentials;
mod sign;
mod verify;

pub use credentials::{Credentials, CredentialsError, KeyRing};
pub use sign::{Unsigned, sign};
pub use verify::{CLOCK_SKEW_S, Request, SigV4Error, Signer, claimed_signer, verify};
