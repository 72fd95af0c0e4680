//! The S3 service on the endpoint: buckets and objects of the `objects` crate, spoken in
//! S3's REST-XML protocol by `s3s` (routing, XML, error documents, SigV4 with its payload
//! and chunk signatures), with `backend` answering the operations.
//!
//! A request is S3's when it is signed for the service `s3` (path style,
//! `http://HOST:PORT/bucket/key`), or addressed to a bucket by host (virtual-host style,
//! `http://bucket.s3.localhost:PORT/key`, or `bucket.s3.<region>.…`). It is answered here,
//! before the gate: with `--credentials`, `s3s` checks its signature against the same keys;
//! without, any signature is taken at its word, as by the gate, and the request goes on as
//! an anonymous one.

mod backend;
mod checksum;
pub mod external;
mod multipart;
mod notify;
pub mod proxy;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use lamina_platform::Platform;
use s3s::auth::{S3Auth, SecretKey};
use s3s::host::{S3Host, VirtualHost};
use s3s::service::{S3Service, S3ServiceBuilder};

use crate::auth::Gate;

/// The S3 service of one server.
#[derive(Clone)]
pub struct S3Surface {
    service: Arc<S3Service>,
    checks_signatures: bool,
}

impl std::fmt::Debug for S3Surface {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Surface").finish_non_exhaustive()
    }
}

/// Checks S3 signatures against the gate's keys.
struct Keys(Arc<Gate>);

#[async_trait::async_trait]
impl S3Auth for Keys {
    async fn get_secret_key(&self, access_key: &str) -> s3s::S3Result<SecretKey> {
        self.0
            .secret_of(access_key)
            .map(SecretKey::from)
            .ok_or_else(|| s3s::s3_error!(InvalidAccessKeyId))
    }
}

/// Virtual-host style: `<bucket>.s3.<anything>`; any other host is path style.
struct Hosts;

impl S3Host for Hosts {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> s3s::S3Result<VirtualHost<'a>> {
        let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
        Ok(match bucket_of_host(name) {
            Some((bucket, domain)) => VirtualHost::new(domain).with_bucket(bucket),
            None => VirtualHost::new(name),
        })
    }
}

/// The bucket a host name addresses, and the rest (`photos.s3.localhost` → `photos`,
/// `s3.localhost`).
fn bucket_of_host(name: &str) -> Option<(&str, &str)> {
    let at = name.find(".s3.")?;
    (at > 0).then(|| (&name[..at], &name[at + 1..]))
}

impl S3Surface {
    /// The service over the platform's object store (none if it serves none), checking
    /// signatures with the gate's keys when it has some.
    pub fn new(platform: Platform, gate: Arc<Gate>) -> Option<S3Surface> {
        let objects = platform.s3().store()?.clone();
        let builder = S3ServiceBuilder::new(backend::Backend::new(platform, objects));
        Some(S3Surface::built(builder, gate))
    }

    /// The service proxied to another S3-compatible store through `client` (see
    /// [`proxy`]).
    pub fn proxied(platform: Platform, gate: Arc<Gate>, client: aws_sdk_s3::Client) -> S3Surface {
        let builder = S3ServiceBuilder::new(proxy::Proxied::new(client, platform));
        S3Surface::built(builder, gate)
    }

    fn built(mut builder: S3ServiceBuilder, gate: Arc<Gate>) -> S3Surface {
        let checks_signatures = gate.checks_signatures();
        builder.set_host(Hosts);
        if checks_signatures {
            builder.set_auth(Keys(gate));
        }
        S3Surface {
            service: Arc::new(builder.build()),
            checks_signatures,
        }
    }
}

/// Whether a request is S3's (see the module's documentation). Every request asks, so it
/// looks without allocating: the host, then the signature's credential scope.
fn is_s3(req: &Request) -> bool {
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
    if bucket_of_host(name).is_some() {
        return true;
    }
    // Signature version 2 (`Authorization: AWS KEY:SIG`, or a URL presigned with
    // `AWSAccessKeyId` and `Signature`, as boto3 still presigns by default) is S3's alone.
    if let Some(auth) = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
    {
        return auth.starts_with("AWS ") || auth.contains("/s3/aws4_request");
    }
    req.uri().query().is_some_and(|q| {
        let has = |p: &str| q.split('&').any(|kv| kv.starts_with(p));
        (has("AWSAccessKeyId=") && has("Signature="))
            || q.contains("%2Fs3%2Faws4_request")
            || q.contains("%2fs3%2faws4_request")
            || q.contains("/s3/aws4_request")
    })
}

/// The query parameters of a presigned URL, in either signature version.
fn presigning(kv: &str) -> bool {
    kv.starts_with("X-Amz-")
        || ["AWSAccessKeyId=", "Signature=", "Expires="]
            .iter()
            .any(|p| kv.starts_with(p))
}

/// Without keys, a request's signature is dropped (the gate would take it at its word):
/// `s3s` then serves it as an anonymous one.
fn unsigned(mut req: Request) -> Request {
    req.headers_mut().remove("authorization");
    if let Some(query) = req.uri().query() {
        let kept: Vec<&str> = query.split('&').filter(|kv| !presigning(kv)).collect();
        let path = req.uri().path().to_string();
        let uri = if kept.is_empty() {
            path
        } else {
            format!("{path}?{}", kept.join("&"))
        };
        if let Ok(uri) = uri.parse() {
            *req.uri_mut() = uri;
        }
    }
    req
}

/// The S3 surface a request is for, if it is S3's.
pub(crate) fn for_request<'a>(s3: Option<&'a S3Surface>, req: &Request) -> Option<&'a S3Surface> {
    s3.filter(|_| is_s3(req))
}

/// Answers one of S3's requests.
pub(crate) async fn answer(s3: &S3Surface, req: Request) -> Response {
    let req = if s3.checks_signatures {
        req
    } else {
        unsigned(req)
    };
    match s3.service.call(req.map(s3s::Body::http_body_unsync)).await {
        Ok(resp) => resp.map(Body::new),
        Err(e) => {
            tracing::error!(error = ?e, "the S3 service failed");
            (
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
            )
                .into_response()
        }
    }
}
