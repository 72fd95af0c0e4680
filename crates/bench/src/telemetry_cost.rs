//! What a Telemetry API subscription costs the platform: on one server, each runtime's echo
//! with no extension against the same echo with a layer whose extension subscribes to the
//! `platform` and `function` streams (an HTTP/1.1 listener inside the environment that
//! reads each batch and drops it, with Lambda's buffering defaults as AWS's sample telemetry
//! extensions ask for them, registered for SHUTDOWN only, as log shippers are), and against
//! the same extension registered without subscribing, against the same layer's files with no
//! extension in them (a function with layers may start another way), and against a second
//! plain echo (the method's own noise). What a real extension does with the records is its own cost on top.
//! Warm p50, 8 clients' throughput and the server's CPU per invocation in alternating rounds;
//! the medians are reported.

use std::net::SocketAddr;
use std::path::Path;

use base64::Engine;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::cluster::Maker;
use crate::echo::zip;
use crate::http::Conn;
use crate::metrics_cost::{Variant, alternating_rounds};
use crate::server::start_server;

const LAUNCHER: &[u8] = b"#!/bin/sh\nexec python3 /opt/subscriber/main.py \"$(basename \"$0\")\"\n";

const SUBSCRIBER: &[u8] = br#"
import json, os, sys, threading, urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer
API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"]
def call(method, path, body, headers):
    req = urllib.request.Request(API + path, method=method, headers=headers, data=json.dumps(body).encode() if body is not None else None)
    return urllib.request.urlopen(req)
ext_id = call("POST", "/2020-01-01/extension/register", {"events": ["SHUTDOWN"]},
              {"Lambda-Extension-Name": sys.argv[1]}).headers["Lambda-Extension-Identifier"]
received = 0
class Listener(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        global received
        received += len(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
if os.environ.get("SUBSCRIBE") != "0":
  server = HTTPServer(("sandbox.localdomain", 4243), Listener)
  threading.Thread(target=server.serve_forever, daemon=True).start()
  call("PUT", "/2022-07-01/telemetry", {"schemaVersion": "2022-12-13", "types": ["platform", "function"],
       "buffering": {"maxItems": 10000, "maxBytes": 262144, "timeoutMs": 1000},
       "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:4243"}},
       {"Lambda-Extension-Identifier": ext_id}).read()
call("GET", "/2020-01-01/extension/event/next", None, {"Lambda-Extension-Identifier": ext_id}).read()
"#;

/// Runs `rounds` alternating rounds of each runtime's echo without and with a subscriber.
pub async fn telemetry_cost(
    lamina: &Path,
    isolation: &str,
    makers: &[Maker<'_>],
    warm: usize,
    seconds: f64,
    rounds: usize,
) -> anyhow::Result<Value> {
    let (_server, endpoint, pid) = start_server(lamina, isolation, &["--runtime-pool", "0"])?;
    let addr: SocketAddr = endpoint.trim_start_matches("http://").parse()?;
    let arn = publish(
        addr,
        "bench-telemetry",
        &[
            ("extensions/subscriber", LAUNCHER, 0o755),
            ("subscriber/main.py", SUBSCRIBER, 0o644),
        ],
    )
    .await?;
    // The same files with no extension in them: a function with layers may start another
    // way than one without (a runtime forked or pre-started serves only the latter), so the
    // extension's cost is also told against this.
    let inert = publish(
        addr,
        "bench-inert",
        &[("subscriber/main.py", SUBSCRIBER, 0o644)],
    )
    .await?;
    let client = lamina_client::Client::new(&endpoint);
    let tag = std::process::id();
    let mut report = json!({"rounds": rounds});
    for (label, make) in makers {
        let plain = format!("bench-plain-{label}-{tag}");
        // The same plain echo once more: how far it strays from the first is how finely
        // this method can tell a cost, since each function keeps its environments (and
        // where they run) from round to round.
        let again = format!("bench-again-{label}-{tag}");
        let registered = format!("bench-registered-{label}-{tag}");
        let observed = format!("bench-observed-{label}-{tag}");
        let layered = format!("bench-layered-{label}-{tag}");
        client.create_function(&make(&plain)).await?;
        client.create_function(&make(&again)).await?;
        for (name, layer, subscribe) in [
            (&registered, &arn, "0"),
            (&observed, &arn, "1"),
            (&layered, &inert, "0"),
        ] {
            let mut with_layer = make(name);
            with_layer.layers = Some(vec![layer.clone()]);
            let vars = with_layer
                .environment
                .get_or_insert_with(Default::default)
                .variables
                .get_or_insert_with(Default::default);
            vars.insert("SUBSCRIBE".into(), subscribe.into());
            client.create_function(&with_layer).await?;
        }
        eprintln!("{label}: telemetry subscribed against none, {rounds} rounds...");
        let variants = [
            ("subscribed", observed.as_str()),
            ("registered", registered.as_str()),
            ("layer", layered.as_str()),
            ("none", plain.as_str()),
            ("none_again", again.as_str()),
        ]
        .map(|(label, function)| Variant {
            label,
            addr,
            pid,
            function,
        });
        report[*label] = alternating_rounds(&variants, warm, seconds, rounds).await?;
    }
    Ok(report)
}

/// Publishes a layer of `files` (path, bytes, mode) as `name`; returns its version's ARN.
async fn publish(
    addr: SocketAddr,
    name: &str,
    files: &[(&str, &[u8], u32)],
) -> anyhow::Result<String> {
    let body = json!({"Content": {"ZipFile": base64::engine::general_purpose::STANDARD.encode(zip(files)?)}});
    let (status, _, out) = Conn::open(addr)
        .await?
        .request(
            "POST",
            &format!("/2018-10-31/layers/{name}/versions"),
            Bytes::from(body.to_string()),
            &[("content-type", "application/json")],
        )
        .await?;
    anyhow::ensure!(status == 201, "publishing layer {name}: {status} {out:?}");
    Ok(serde_json::from_slice::<Value>(&out)?["LayerVersionArn"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}
