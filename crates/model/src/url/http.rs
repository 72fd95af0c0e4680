//! Function URLs' HTTP contract, as pure functions: an HTTP request as the event Lambda
//! gives the function (API Gateway's payload format 2.0), and the function's answer as the
//! HTTP response Lambda makes of it (a `statusCode` object, or an inferred 200 JSON answer).

use base64::Engine;
use serde_json::{Map, Value, json};

/// An HTTP request that reached a function URL.
#[derive(Debug, Clone)]
pub struct UrlRequest<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The path, as sent.
    pub raw_path: &'a str,
    /// The query string, as sent, without `?` (empty when none).
    pub raw_query: &'a str,
    /// The headers, in order, names as sent.
    pub headers: &'a [(String, String)],
    /// The body.
    pub body: &'a [u8],
    /// The client's address.
    pub source_ip: &'a str,
    /// The URL's id (`requestContext.apiId`).
    pub url_id: &'a str,
    /// The host name the URL is served under (`requestContext.domainName`).
    pub domain: &'a str,
    /// The request id.
    pub request_id: &'a str,
    /// When it arrived, epoch milliseconds.
    pub time_epoch_ms: i64,
    /// Who signed the request, for `AWS_IAM` URLs; `None` for `NONE` URLs (`anonymous`).
    pub caller: Option<Caller<'a>>,
}

/// The signer of a request to an `AWS_IAM` URL.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// The access key it signed with.
    pub access_key: &'a str,
    /// The account (Lamina's own: keys belong to the server's one account).
    pub account_id: &'a str,
}

/// Whether a body of this content type reaches the function as text (else base64): text
/// types and JSON, as AWS does; anything else, and a body that is not UTF-8, as base64.
pub fn is_text(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return true;
    };
    let ct = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    ct.starts_with("text/") || ct == "application/json" || ct.ends_with("+json")
}

/// Comma-joins the values of each name (names lower-cased), keeping first-seen order.
fn joined(pairs: impl Iterator<Item = (String, String)>) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in pairs {
        match out.get_mut(&k) {
            Some(Value::String(s)) => {
                s.push(',');
                s.push_str(&v);
            }
            _ => {
                out.insert(k, Value::String(v));
            }
        }
    }
    out
}

/// The event a function receives for `req` (payload format 2.0).
pub fn request_event(req: &UrlRequest<'_>) -> Value {
    let headers = joined(
        req.headers
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("cookie"))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone())),
    );
    let cookies: Vec<String> = req
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("cookie"))
        .flat_map(|(_, v)| v.split(';').map(|c| c.trim().to_string()))
        .filter(|c| !c.is_empty())
        .collect();
    let header = |name: &str| headers.get(name).and_then(Value::as_str);
    let time = chrono::DateTime::from_timestamp_millis(req.time_epoch_ms)
        .unwrap_or_default()
        .format("%d/%b/%Y:%H:%M:%S +0000")
        .to_string();
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": req.raw_path,
        "rawQueryString": req.raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": req.caller.map_or("anonymous", |c| c.account_id),
            "apiId": req.url_id,
            "domainName": req.domain,
            "domainPrefix": req.url_id,
            "http": {
                "method": req.method,
                "path": req.raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": req.source_ip,
                "userAgent": header("user-agent").unwrap_or_default(),
            },
            "requestId": req.request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": time,
            "timeEpoch": req.time_epoch_ms,
        },
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if let Some(c) = req.caller {
        // Lamina's keys are not IAM users: the key stands for the user.
        event["requestContext"]["authorizer"] = json!({
            "iam": {
                "accessKey": c.access_key,
                "accountId": c.account_id,
                "callerId": c.access_key,
                "cognitoIdentity": null,
                "principalOrgId": null,
                "userArn": format!("arn:aws:iam::{}:user/{}", c.account_id, c.access_key),
                "userId": c.access_key,
            }
        });
    }
    if !req.raw_query.is_empty() {
        let params = joined(req.raw_query.split('&').filter(|p| !p.is_empty()).map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(k), decode(v))
        }));
        event["queryStringParameters"] = Value::Object(params);
    }
    if !req.body.is_empty() {
        match std::str::from_utf8(req.body) {
            Ok(text) if is_text(header("content-type")) => event["body"] = json!(text),
            _ => {
                event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(req.body));
                event["isBase64Encoded"] = json!(true);
            }
        }
    }
    event
}

/// The HTTP response Lambda makes of a function's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlResponse {
    /// Status.
    pub status: u16,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
    /// One `set-cookie` header each.
    pub cookies: Vec<String>,
    /// Body.
    pub body: Vec<u8>,
}

/// What a function URL answers for the function's `payload`: an object with `statusCode`
/// gives the status, headers, cookies and body (base64-decoded when it says so); any other
/// answer is an inferred `200 application/json` with the answer as the body.
pub fn response_from(payload: &[u8]) -> UrlResponse {
    let inferred = || UrlResponse {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        cookies: Vec::new(),
        body: payload.to_vec(),
    };
    // Most answers without a statusCode are large documents: a look for the key alone
    // (which skips the rest without building it) settles them.
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "statusCode")]
        status_code: Option<serde::de::IgnoredAny>,
    }
    if !matches!(
        serde_json::from_slice::<Probe>(payload),
        Ok(Probe {
            status_code: Some(_)
        })
    ) {
        return inferred();
    }
    let Ok(Value::Object(answer)) = serde_json::from_slice::<Value>(payload) else {
        return inferred();
    };
    let Some(status) = answer.get("statusCode").and_then(Value::as_u64) else {
        return inferred();
    };
    let headers: Vec<(String, String)> = answer
        .get("headers")
        .and_then(Value::as_object)
        .map(|h| {
            h.iter()
                .map(|(k, v)| {
                    let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                    (k.to_ascii_lowercase(), v)
                })
                .collect()
        })
        .unwrap_or_default();
    let cookies = answer
        .get("cookies")
        .and_then(Value::as_array)
        .map(|c| {
            c.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let body = match answer.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) if answer.get("isBase64Encoded") == Some(&Value::Bool(true)) => {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .unwrap_or_else(|_| s.as_bytes().to_vec())
        }
        Some(Value::String(s)) => s.as_bytes().to_vec(),
        Some(other) => other.to_string().into_bytes(),
    };
    UrlResponse {
        status: u16::try_from(status).unwrap_or(500),
        headers,
        cookies,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request<'a>(
        headers: &'a [(String, String)],
        raw_query: &'a str,
        body: &'a [u8],
    ) -> UrlRequest<'a> {
        UrlRequest {
            method: "POST",
            raw_path: "/orders/42",
            raw_query,
            headers,
            body,
            source_ip: "127.0.0.1",
            url_id: "abcdefghijklmnopqrstuvwxyz012345",
            domain: "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.localhost",
            request_id: "r-1",
            time_epoch_ms: 1_649_597_405_000,
            caller: None,
        }
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_event_has_payload_format_2_0() {
        let headers = h(&[
            ("Host", "x.localhost"),
            ("User-Agent", "curl/8"),
            ("X-Multi", "a"),
            ("x-multi", "b"),
            ("Cookie", "s=1; theme=dark"),
            ("Content-Type", "application/json"),
        ]);
        let e = request_event(&request(&headers, "a=1&a=2&q=hello+world", b"{\"n\":1}"));
        assert_eq!(e["version"], "2.0");
        assert_eq!(e["rawPath"], "/orders/42");
        assert_eq!(e["rawQueryString"], "a=1&a=2&q=hello+world");
        assert_eq!(
            e["queryStringParameters"],
            json!({"a": "1,2", "q": "hello world"})
        );
        assert_eq!(e["headers"]["x-multi"], "a,b");
        assert_eq!(e["headers"]["host"], "x.localhost");
        assert!(e["headers"].get("cookie").is_none());
        assert_eq!(e["cookies"], json!(["s=1", "theme=dark"]));
        assert_eq!(e["body"], "{\"n\":1}");
        assert_eq!(e["isBase64Encoded"], false);
        let ctx = &e["requestContext"];
        assert_eq!(ctx["accountId"], "anonymous");
        assert_eq!(ctx["http"]["method"], "POST");
        assert_eq!(ctx["http"]["userAgent"], "curl/8");
        assert_eq!(ctx["time"], "10/Apr/2022:13:30:05 +0000");
        assert_eq!(ctx["timeEpoch"], 1_649_597_405_000_i64);
        assert_eq!(ctx["apiId"], ctx["domainPrefix"]);
        assert!(ctx.get("authorizer").is_none());
        let signed = UrlRequest {
            caller: Some(Caller {
                access_key: "AKIDX",
                account_id: "123456789012",
            }),
            ..request(&headers, "", b"")
        };
        let ctx = &request_event(&signed)["requestContext"];
        assert_eq!(ctx["accountId"], "123456789012");
        assert_eq!(ctx["authorizer"]["iam"]["accessKey"], "AKIDX");
        assert_eq!(
            ctx["authorizer"]["iam"]["userArn"],
            "arn:aws:iam::123456789012:user/AKIDX"
        );
    }

    #[test]
    fn absent_parts_are_left_out_and_binary_bodies_base64() {
        let e = request_event(&request(&[], "", b""));
        assert!(e.get("queryStringParameters").is_none() && e.get("cookies").is_none());
        assert!(e.get("body").is_none());
        let png = h(&[("content-type", "image/png")]);
        let e = request_event(&request(&png, "", &[0x89, b'P', b'N', b'G']));
        assert_eq!(
            (e["body"].as_str(), e["isBase64Encoded"].as_bool()),
            (Some("iVBORw=="), Some(true))
        );
        // Bytes that are not UTF-8 go as base64 whatever the type says.
        let text = h(&[("content-type", "text/plain")]);
        let e = request_event(&request(&text, "", &[0xff, 0xfe]));
        assert_eq!(e["isBase64Encoded"], true);
        for (ct, text) in [
            (Some("text/html; charset=utf-8"), true),
            (Some("application/json"), true),
            (Some("application/ld+json"), true),
            (None, true),
            (Some("application/octet-stream"), false),
            (Some("application/x-www-form-urlencoded"), false),
        ] {
            assert_eq!(is_text(ct), text, "{ct:?}");
        }
    }

    #[test]
    fn answers_become_responses_as_lambda_makes_them() {
        let r = response_from(
            br#"{"statusCode": 201, "headers": {"X-Id": "7"}, "cookies": ["a=1", "b=2"], "body": "made"}"#,
        );
        assert_eq!(r.status, 201);
        assert_eq!(r.headers, h(&[("x-id", "7")]));
        assert_eq!(r.cookies, ["a=1", "b=2"]);
        assert_eq!(r.body, b"made");
        let r = response_from(br#"{"statusCode": 200, "body": "aGk=", "isBase64Encoded": true}"#);
        assert_eq!(r.body, b"hi");
        // Anything without statusCode is an inferred 200 JSON answer, quotes included.
        for payload in [&b"\"Hello, world!\""[..], b"{\"a\":1}", b"42", b"not json"] {
            let r = response_from(payload);
            assert_eq!((r.status, r.body.as_slice()), (200, payload));
            assert_eq!(r.headers, h(&[("content-type", "application/json")]));
        }
    }
}
