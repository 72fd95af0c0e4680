//! The SigV4 verifier against the real signer: botocore (the Python SDK's core) signs Lambda
//! and CloudWatch Logs requests as boto3 and the AWS CLI send them (ARNs in paths, queries,
//! bodies, a presigned URL), and every signature verifies; with the wrong secret none does.

use std::process::Command;

use http::{HeaderMap, HeaderName, HeaderValue};
use lamina_sigv4::{Request, SigV4Error, verify};

const SCRIPT: &str = r#"
import json, sys
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
creds = Credentials("AKIDLAMINA", "lamina/secret+KEY")
cases = [
    ("GET", "http://127.0.0.1:9000/2015-03-31/functions/", b"", "lambda"),
    ("POST", "http://127.0.0.1:9000/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Aorders/invocations?Qualifier=live", b'{"n": 1}', "lambda"),
    ("GET", "http://127.0.0.1:9000/2015-03-31/functions/orders/aliases?Marker=2&MaxItems=10&FunctionVersion=%24LATEST", b"", "lambda"),
    ("PUT", "http://127.0.0.1:9000/2015-03-31/functions/my_func-1/configuration", b'{"Environment": {"Variables": {"A": "b c"}}}', "lambda"),
    ("POST", "http://127.0.0.1:9000/", b'{"logGroupName": "/aws/lambda/orders"}', "logs"),
]
out = []
for method, url, body, service in cases:
    req = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(creds, service, "us-east-1").add_auth(req)
    p = req.prepare()
    path, _, query = p.url.split("://", 1)[1].partition("/")[2].partition("?")
    headers = dict(p.headers.items())
    headers["host"] = "127.0.0.1:9000"  # as the HTTP client sends it
    out.append({"method": method, "path": "/" + path, "query": query,
                "headers": headers, "body": body.decode()})
req = AWSRequest(method="GET", url="http://127.0.0.1:9000/2015-03-31/functions/orders")
SigV4QueryAuth(creds, "lambda", "us-east-1", expires=300).add_auth(req)
p = req.prepare()
path, _, query = p.url.split("://", 1)[1].partition("/")[2].partition("?")
out.append({"method": "GET", "path": "/" + path, "query": query,
            "headers": {"host": "127.0.0.1:9000"}, "body": ""})
json.dump(out, sys.stdout)
"#;

/// The Python that has botocore: the test script's virtual environment.
fn python() -> String {
    std::env::var("LAMINA_TEST_PYTHON").unwrap_or_else(|_| {
        format!(
            "{}/../../target/test-venv/bin/python",
            env!("CARGO_MANIFEST_DIR")
        )
    })
}

#[test]
fn botocore_signatures_verify_and_a_wrong_secret_does_not() {
    let out = Command::new(python())
        .args(["-c", SCRIPT])
        .output()
        .expect("the test virtual environment's Python (./scripts/test.sh prepares it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cases: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cases.len(), 6);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for case in &cases {
        let mut headers = HeaderMap::new();
        for (k, v) in case["headers"].as_object().unwrap() {
            headers.append(
                HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()).unwrap(),
                HeaderValue::from_str(v.as_str().unwrap()).unwrap(),
            );
        }
        let req = Request {
            method: case["method"].as_str().unwrap(),
            path: case["path"].as_str().unwrap(),
            query: case["query"].as_str().unwrap(),
            headers: &headers,
            body: case["body"].as_str().unwrap().as_bytes(),
        };
        let signer = verify(
            &req,
            |k| (k == "AKIDLAMINA").then(|| "lamina/secret+KEY".into()),
            now,
        )
        .unwrap_or_else(|e| panic!("{e}: {case}"));
        assert_eq!(signer.region, "us-east-1");
        assert_eq!(
            verify(&req, |_| Some("lamina/secret+KEZ".into()), now),
            Err(SigV4Error::Mismatch),
            "{case}"
        );
        // A presigned URL holds for its X-Amz-Expires (300 s), a signed header for the
        // 5-minute skew; both are refused past that.
        let secret = |k: &str| (k == "AKIDLAMINA").then(|| "lamina/secret+KEY".into());
        assert!(verify(&req, secret, now + 290).is_ok(), "{case}");
        assert!(
            matches!(verify(&req, secret, now + 400), Err(SigV4Error::Expired(_))),
            "{case}"
        );
    }
}
