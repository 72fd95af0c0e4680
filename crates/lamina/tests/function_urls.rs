//! Function URLs and response streaming against the real server: the configuration API and
//! the URLs themselves through boto3 and plain HTTP (tests/compat/function_urls.py),
//! InvokeWithResponseStream and streaming URLs (tests/compat/streaming.py), and a URL
//! reached with plain curl by its host name, as the README shows, on the API port and on
//! --url-listen.

mod common;

use std::process::Command;

use common::{Server, compat_suite};
use serde_json::{Value, json};

#[test]
fn function_urls_through_boto3_and_plain_http() {
    compat_suite("function_urls.py", &[]);
}

/// InvokeWithResponseStream through boto3, and RESPONSE_STREAM URLs, with Node.js
/// functions written for Lambda's streamifyResponse.
#[test]
fn responses_stream_as_they_are_written() {
    compat_suite("streaming.py", &[]);
}

const HELLO: &str = "import json\n\
def handler(event, context):\n    \
    return {'statusCode': 200, 'headers': {'content-type': 'text/plain'},\n            \
    'body': 'hello from ' + event['rawPath'] + '?' + event['rawQueryString']}\n";

/// `curl URL`, its status and body.
fn curl(url: &str) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "-w", "\n%{http_code}", url])
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.to_string(), body.to_string())
}

async fn url_of(server: &Server, name: &str) -> String {
    server.python(name, HELLO).await;
    let (status, _, made) = server
        .post_json(
            &format!("/2021-10-31/functions/{name}/url"),
            &json!({"AuthType": "NONE"}),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    made["FunctionUrl"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn curl_reaches_a_url_by_its_host_name() {
    let server = Server::start();
    let url = url_of(&server, "hello").await;
    let port = server.endpoint.rsplit(':').next().unwrap();
    assert!(
        url.ends_with(&format!(".lambda-url.us-east-1.localhost:{port}/")),
        "{url}"
    );
    let (status, body) = curl(&format!("{url}greet?name=ada"));
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("200", "hello from /greet?name=ada")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn url_listen_serves_urls_alone() {
    let server = Server::start_with(&["--url-listen", "127.0.0.1:0"], None);
    let url = url_of(&server, "hello").await;
    let api_port = server.endpoint.rsplit(':').next().unwrap();
    let url_port = url
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    assert_ne!(
        url_port, api_port,
        "the URL names the --url-listen port: {url}"
    );
    let (status, body) = curl(&format!("{url}a"));
    assert_eq!((status.as_str(), body.as_str()), ("200", "hello from /a?"));
    let id = url.split("//").nth(1).unwrap().split('.').next().unwrap();
    let (status, body) = curl(&format!("http://127.0.0.1:{url_port}/lambda-url/{id}/b"));
    assert_eq!((status.as_str(), body.as_str()), ("200", "hello from /b?"));
    // The URL port serves no API.
    let (status, body) = curl(&format!("http://127.0.0.1:{url_port}/2015-03-31/functions"));
    assert_eq!(status, "403", "{body}");
    let forbidden: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(forbidden, json!({"Message": "Forbidden"}));
    // The API port serves both.
    let (status, _) = curl(&format!("http://127.0.0.1:{api_port}/lambda-url/{id}/c"));
    assert_eq!(status, "200");
}
