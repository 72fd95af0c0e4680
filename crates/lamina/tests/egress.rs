//! Egress: a sandboxed function reaches other networks through its proxy, and nothing else:
//! not this host (its loopback services, the platform, its own addresses), not with the
//! proxy turned off. "Other networks" is a test host in a network namespace this test makes,
//! joined to the host by a veth pair.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Server, eventually};
use serde_json::{Value, json};

/// A host in its own network namespace, serving HTTP on 10.213.N.2:8080.
struct TestHost {
    ns: String,
    link: String,
    server: Child,
    ip: String,
    host_side: String,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("run ip (iproute2)");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestHost {
    fn start() -> TestHost {
        let n = std::process::id() % 200 + 20;
        let ns = format!("lamina-egress-{}", std::process::id());
        let link = format!("lme{n}");
        let (host_side, ip_addr) = (format!("10.213.{n}.1"), format!("10.213.{n}.2"));
        ip(&["netns", "add", &ns]);
        ip(&[
            "link", "add", &link, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ]);
        ip(&["addr", "add", &format!("{host_side}/30"), "dev", &link]);
        ip(&["link", "set", &link, "up"]);
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{ip_addr}/30"),
            "dev",
            "eth0",
        ]);
        ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        let dir = tempfile::tempdir().unwrap().keep();
        std::fs::write(dir.join("index.html"), "hello from the other network\n").unwrap();
        let server = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns,
                "python3",
                "-m",
                "http.server",
                "8080",
                "--bind",
                &ip_addr,
            ])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        TestHost {
            ns,
            link,
            server,
            ip: ip_addr,
            host_side,
        }
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = Command::new("ip")
            .args(["link", "del", &self.link])
            .status();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

const NET: &str = r#"
import json, os, socket, urllib.request, urllib.error

def fetch(url, proxy=None):
    handlers = [urllib.request.ProxyHandler({"http": proxy})] if proxy else []
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(url, timeout=5) as r:
            return {"status": r.status, "body": r.read().decode()}
    except urllib.error.HTTPError as e:
        return {"status": e.code, "body": e.read().decode()}
    except Exception as e:
        return {"error": type(e).__name__ + ": " + str(e)}

def connect_tunnel(proxy_host, proxy_port, target):
    s = socket.create_connection((proxy_host, proxy_port), timeout=5)
    s.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target, target)).encode())
    head = s.recv(4096).decode()
    if not head.startswith("HTTP/1.1 200"):
        return {"tunnel": head.split("\r\n")[0]}
    s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return {"tunnel": "open", "body": data.decode().split("\r\n\r\n", 1)[-1]}

def handler(event, context):
    proxy = os.environ.get("HTTP_PROXY")
    out = {"proxy": proxy}
    out["through_proxy"] = fetch(event["url"])
    try:
        socket.create_connection((event["ip"], 8080), timeout=2).close()
        out["direct"] = "connected"
    except OSError as e:
        out["direct"] = type(e).__name__
    if proxy:
        out["to_platform"] = fetch(event["platform"], proxy)
        out["tunnel_to_platform"] = connect_tunnel("127.0.0.1", 3128, event["platform_addr"])
        out["to_host_address"] = fetch("http://%s:8080/" % event["host_side"], proxy)
        out["to_metadata"] = fetch("http://169.254.169.254/latest/meta-data/", proxy)
        out["tunnel"] = connect_tunnel("127.0.0.1", 3128, "%s:8080" % event["ip"])
    return out
"#;

#[tokio::test(flavor = "multi_thread")]
async fn functions_reach_other_networks_through_their_proxy_only() {
    let host = TestHost::start();
    // The test host answers from this machine directly.
    let url = format!("http://{}:8080/", host.ip);
    let up = eventually(Duration::from_secs(10), async || {
        reqwest::get(&url).await.is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert!(up, "the test host serves");
    // Started after the veth exists, so that its host-side address counts as this host's.
    let s = Server::start_with(&["--isolation", "sandbox"], None);
    let code = common::b64(&common::zip(&[("app.py", NET, 0o644)]));
    for (name, tags) in [
        ("net", json!({})),
        ("offline", json!({"lamina:egress": "off"})),
    ] {
        s.create_with(json!({"FunctionName": name, "Runtime": "python3.11", "Handler": "app.handler",
                             "Role": common::ROLE, "Timeout": 20, "Tags": tags, "Code": {"ZipFile": code}}))
            .await;
    }
    let event = json!({"url": url, "ip": host.ip, "host_side": host.host_side,
                       "platform": format!("{}/_lamina/health", s.endpoint),
                       "platform_addr": s.endpoint.trim_start_matches("http://")});

    let out = s.invoke("net", event.clone()).await;
    assert_eq!(out.function_error, None, "{:?}", out.body);
    let b: &Value = &out.body;
    assert_eq!(b["proxy"], "http://127.0.0.1:3128");
    assert_eq!(b["through_proxy"]["status"], 200, "{b}");
    assert_eq!(b["through_proxy"]["body"], "hello from the other network\n");
    assert_eq!(b["tunnel"]["tunnel"], "open", "CONNECT tunnels: {b}");
    assert!(
        b["tunnel"]["body"]
            .as_str()
            .unwrap()
            .contains("hello from the other network")
    );
    assert!(b["direct"] != "connected", "no way out but the proxy: {b}");
    assert!(
        b["to_platform"]["status"] != 200,
        "the platform is unreachable: {b}"
    );
    assert_eq!(
        b["tunnel_to_platform"]["tunnel"], "HTTP/1.1 403 Forbidden",
        "the proxy refuses this host: {b}"
    );
    assert_eq!(
        b["to_host_address"]["status"], 403,
        "this host's own addresses: {b}"
    );
    assert_eq!(b["to_metadata"]["status"], 403, "link-local: {b}");

    let off = s.invoke("offline", event).await;
    assert_eq!(
        off.body["proxy"],
        Value::Null,
        "no proxy advertised: {:?}",
        off.body
    );
    assert!(
        off.body["through_proxy"]["error"].is_string(),
        "no way out: {:?}",
        off.body
    );
    assert!(off.body["direct"] != "connected");
}
