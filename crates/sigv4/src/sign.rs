//! Signing a request as the AWS SDKs do (the `Authorization` header form), so that Lamina's
//! own CLI is accepted by a server that checks signatures.

use hmac::Mac;
use http::{HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};

use crate::canonical::{
    ALGORITHM, Parts, canonical_request, hex, mac, scope, signing_key, string_to_sign,
};
use crate::credentials::Credentials;

/// A request about to be sent. `headers` must hold `host` as it will be sent; signing adds
/// `x-amz-date`, `x-amz-security-token` (for temporary keys) and `authorization`.
#[derive(Debug)]
pub struct Unsigned<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The path as it will be sent (percent-encoded).
    pub path: &'a str,
    /// The query as it will be sent, without `?`.
    pub query: &'a str,
    /// The headers; signed: `host`, `content-type` when present, and what signing adds.
    pub headers: &'a mut HeaderMap,
    /// The body.
    pub body: &'a [u8],
}

/// Signs `req` with `creds` for `service` in `region`, at `now`.
pub fn sign(
    req: Unsigned<'_>,
    creds: &Credentials,
    region: &str,
    service: &str,
    now: chrono::DateTime<chrono::Utc>,
) {
    let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
    let date = &amz_date[..8];
    if let Ok(v) = HeaderValue::from_str(&amz_date) {
        req.headers.insert("x-amz-date", v);
    }
    if let Some(t) = creds
        .session_token
        .as_deref()
        .and_then(|t| HeaderValue::from_str(t).ok())
    {
        req.headers.insert("x-amz-security-token", t);
    }
    let mut signed: Vec<String> = ["content-type", "host", "x-amz-date", "x-amz-security-token"]
        .into_iter()
        .filter(|h| req.headers.contains_key(*h))
        .map(String::from)
        .collect();
    signed.sort();
    let payload_hash = hex(&Sha256::digest(req.body));
    let canonical = canonical_request(&Parts {
        method: req.method,
        path: req.path,
        query: req.query,
        headers: req.headers,
        signed_headers: &signed,
        payload_hash: &payload_hash,
        service,
        presigned: false,
    });
    let scope = scope(date, region, service);
    let key = signing_key(&creds.secret_access_key, date, region, service);
    let signature = hex(&mac(&key, &string_to_sign(&amz_date, &scope, &canonical))
        .finalize()
        .into_bytes());
    let value = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
        creds.access_key_id,
        signed.join(";")
    );
    if let Ok(v) = HeaderValue::from_str(&value) {
        req.headers.insert("authorization", v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::{Request, SigV4Error, verify};

    #[test]
    fn what_is_signed_verifies_and_nothing_else_does() {
        let creds = Credentials {
            access_key_id: "AKIDCLI".into(),
            secret_access_key: "cli/secret".into(),
            session_token: Some("token".into()),
        };
        let now = chrono::Utc::now();
        let mut headers = HeaderMap::new();
        headers.insert("host", "127.0.0.1:9000".parse().unwrap());
        headers.insert("content-type", "application/json".parse().unwrap());
        let path = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Ao/invocations";
        sign(
            Unsigned {
                method: "POST",
                path,
                query: "Qualifier=live",
                headers: &mut headers,
                body: b"{\"n\":1}",
            },
            &creds,
            "us-east-1",
            "lambda",
            now,
        );
        let secret = |k: &str| (k == "AKIDCLI").then(|| "cli/secret".to_string());
        let req = Request {
            method: "POST",
            path,
            query: "Qualifier=live",
            headers: &headers,
            body: b"{\"n\":1}",
        };
        let signer = verify(&req, secret, now.timestamp()).unwrap();
        assert_eq!(signer.service, "lambda");
        let tampered = Request {
            body: b"{\"n\":2}",
            ..req
        };
        assert_eq!(
            verify(&tampered, secret, now.timestamp()),
            Err(SigV4Error::Mismatch)
        );
    }
}
