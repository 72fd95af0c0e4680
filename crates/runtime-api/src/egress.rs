//! The egress proxy of one environment: an HTTP proxy served on a listener inside the
//! environment's network namespace (advertised to the function through `HTTP_PROXY` and
//! `HTTPS_PROXY`). It is the environment's only way out. It resolves names on the host and
//! connects on the function's behalf, but never to the host itself (loopback, the host's own
//! addresses, where the platform and host services listen), link-local addresses (instance
//! metadata), multicast or broadcast. Other environments have no address to reach at all.
//!
//! `CONNECT host:port` tunnels any TCP (HTTPS); a request with an absolute URI
//! (`GET http://host/path`) is forwarded.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

use crate::budget::{EnvironmentConnections, Held};
use crate::session::Session;

/// Which destinations the proxy refuses.
#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    host_addresses: Vec<IpAddr>,
}

impl EgressPolicy {
    /// A policy that refuses this host's own interface addresses, among the rest.
    pub fn for_this_host() -> EgressPolicy {
        let host_addresses = nix::ifaddrs::getifaddrs()
            .map(|addrs| {
                addrs
                    .filter_map(|a| a.address)
                    .filter_map(|a| {
                        a.as_sockaddr_in()
                            .map(|v4| IpAddr::V4(v4.ip()))
                            .or_else(|| a.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
                    })
                    .collect()
            })
            .unwrap_or_default();
        EgressPolicy { host_addresses }
    }

    /// Whether a connection to `ip` may be made.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        let forbidden = match ip {
            IpAddr::V4(v4) => {
                v4.is_loopback()
                    || v4.is_unspecified()
                    || v4.is_link_local()
                    || v4.is_multicast()
                    || v4.is_broadcast()
            }
            IpAddr::V6(v6) => {
                v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || (v6.segments()[0] & 0xffc0) == 0xfe80
            }
        };
        !forbidden && !self.host_addresses.contains(&ip)
    }
}

type ProxyBody = BoxBody<Bytes, hyper::Error>;

fn text(status: StatusCode, message: &str) -> Response<ProxyBody> {
    let mut resp = Response::new(
        Full::new(Bytes::from(format!("{message}\n")))
            .map_err(|never| match never {})
            .boxed(),
    );
    *resp.status_mut() = status;
    resp
}

/// Serves the proxy on `listener` until `session` closes.
/// Connections beyond `connections`' bounds are closed at once.
pub async fn serve(
    listener: TcpListener,
    session: Arc<Session>,
    policy: Arc<EgressPolicy>,
    connections: EnvironmentConnections,
) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
            _ = session.closed() => return,
        };
        let Some(held) = connections.egress() else {
            drop(stream);
            continue;
        };
        let policy = policy.clone();
        let session = session.clone();
        // Held by the connection and by a CONNECT tunnel, which outlives it.
        let held = Arc::new(held);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let policy = policy.clone();
                let held = held.clone();
                async move { Ok::<_, Infallible>(handle(req, &policy, held).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::select! {
                _ = conn => {}
                _ = session.closed() => {}
            }
        });
    }
}

/// Resolves `host:port` and connects to the first address the policy allows.
async fn connect(authority: &str, policy: &EgressPolicy) -> Result<TcpStream, Response<ProxyBody>> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(authority)
        .await
        .map_err(|e| {
            text(
                StatusCode::BAD_GATEWAY,
                &format!("cannot resolve {authority}: {e}"),
            )
        })?
        .collect();
    let allowed: Vec<SocketAddr> = addrs
        .iter()
        .copied()
        .filter(|a| policy.allows(a.ip()))
        .collect();
    if allowed.is_empty() {
        return Err(text(
            StatusCode::FORBIDDEN,
            &format!("egress to {authority} is not allowed: it is this host or a local address"),
        ));
    }
    let mut last = None;
    for addr in allowed {
        match TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(text(
        StatusCode::BAD_GATEWAY,
        &format!(
            "cannot connect to {authority}: {}",
            last.map(|e| e.to_string()).unwrap_or_default()
        ),
    ))
}

async fn handle(
    req: Request<Incoming>,
    policy: &EgressPolicy,
    held: Arc<Held>,
) -> Response<ProxyBody> {
    if req.method() == Method::CONNECT {
        let Some(authority) = req.uri().authority().map(|a| a.to_string()) else {
            return text(StatusCode::BAD_REQUEST, "CONNECT needs host:port");
        };
        let upstream = match connect(&authority, policy).await {
            Ok(s) => s,
            Err(resp) => return resp,
        };
        tokio::spawn(async move {
            let _held = held;
            if let Ok(upgraded) = hyper::upgrade::on(req).await {
                let mut client = TokioIo::new(upgraded);
                let mut upstream = upstream;
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            }
        });
        return Response::new(
            Full::new(Bytes::new())
                .map_err(|never| match never {})
                .boxed(),
        );
    }
    // A forwarded request: the URI must be absolute.
    let (Some(host), Some("http")) = (req.uri().host().map(str::to_string), req.uri().scheme_str())
    else {
        return text(
            StatusCode::BAD_REQUEST,
            "this is a proxy: send absolute http:// URIs, or CONNECT",
        );
    };
    let port = req.uri().port_u16().unwrap_or(80);
    let upstream = match connect(&format!("{host}:{port}"), policy).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let (mut sender, conn) =
        match hyper::client::conn::http1::handshake(TokioIo::new(upstream)).await {
            Ok(pair) => pair,
            Err(e) => return text(StatusCode::BAD_GATEWAY, &format!("upstream: {e}")),
        };
    tokio::spawn(conn);
    let (mut parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    parts.uri = match path.parse() {
        Ok(u) => u,
        Err(_) => return text(StatusCode::BAD_REQUEST, "bad request target"),
    };
    parts.headers.remove("proxy-connection");
    parts.headers.remove("proxy-authorization");
    match sender.send_request(Request::from_parts(parts, body)).await {
        Ok(resp) => resp.map(BodyExt::boxed),
        Err(e) => text(StatusCode::BAD_GATEWAY, &format!("upstream: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_the_host_and_local_addresses() {
        let policy = EgressPolicy {
            host_addresses: vec!["192.0.2.7".parse().unwrap()],
        };
        for denied in [
            "127.0.0.1",
            "127.9.9.9",
            "0.0.0.0",
            "169.254.169.254",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "192.0.2.7",
        ] {
            assert!(!policy.allows(denied.parse().unwrap()), "{denied}");
        }
        for allowed in ["93.184.216.34", "10.1.2.3", "2606:4700::1111"] {
            assert!(policy.allows(allowed.parse().unwrap()), "{allowed}");
        }
    }
}
