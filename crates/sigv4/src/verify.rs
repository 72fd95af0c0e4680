//! Verifying a request's signature, as AWS services check it: the `Authorization` header
//! form and the presigned query form, against a set of access keys, within AWS's clock
//! skew. The payload is the body's SHA-256 (or `x-amz-content-sha256` as sent). Signatures
//! are compared in constant time.

use std::collections::HashMap;

use hmac::Mac;
use http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::canonical::{
    ALGORITHM, Parts, canonical_request, hex, mac, query_pairs, scope, signing_key, string_to_sign,
};

/// How far a request's time may be from the server's, as AWS allows (5 minutes).
pub const CLOCK_SKEW_S: i64 = 300;

/// Why a request's signature is not accepted, named as AWS names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// No signature at all (`MissingAuthenticationTokenException`).
    #[error("Missing Authentication Token")]
    Missing,
    /// A signature that cannot be read (`IncompleteSignatureException`).
    #[error("{0}")]
    Incomplete(String),
    /// An access key that is not known (`UnrecognizedClientException`).
    #[error("The security token included in the request is invalid.")]
    UnknownKey,
    /// The signature does not match (`InvalidSignatureException`).
    #[error(
        "The request signature we calculated does not match the signature you provided. \
         Check your AWS Secret Access Key and signing method."
    )]
    Mismatch,
    /// The request's time is too far from the server's (`InvalidSignatureException`).
    #[error("Signature expired: {0} is now earlier or later than the allowed window.")]
    Expired(String),
}

impl SigV4Error {
    /// AWS's error type for it.
    pub fn error_type(&self) -> &'static str {
        match self {
            SigV4Error::Missing => "MissingAuthenticationTokenException",
            SigV4Error::Incomplete(_) => "IncompleteSignatureException",
            SigV4Error::UnknownKey => "UnrecognizedClientException",
            SigV4Error::Mismatch | SigV4Error::Expired(_) => "InvalidSignatureException",
        }
    }
}

/// Who signed a request, and for what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// The access key id.
    pub access_key: String,
    /// The credential scope's region.
    pub region: String,
    /// The credential scope's service (`lambda`, `logs`, ...).
    pub service: String,
}

/// A request as it arrived, for verification.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The path as sent, still percent-encoded.
    pub path: &'a str,
    /// The query string as sent, without `?` (empty when none).
    pub query: &'a str,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The body.
    pub body: &'a [u8],
}

/// The parts of a signature, from the header or the query.
struct Parsed {
    access_key: String,
    date: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signature: String,
    amz_date: String,
    presigned: bool,
    /// A presigned URL's `X-Amz-Expires`, seconds.
    expires: i64,
}

/// Verifies `req`'s signature with the secret `secret_of` gives for its access key, at
/// `now_s` (epoch seconds).
pub fn verify(
    req: &Request<'_>,
    secret_of: impl Fn(&str) -> Option<String>,
    now_s: i64,
) -> Result<Signer, SigV4Error> {
    let parsed = parse(req)?;
    let secret = secret_of(&parsed.access_key).ok_or(SigV4Error::UnknownKey)?;
    let at = parse_amz_date(&parsed.amz_date).ok_or_else(|| {
        SigV4Error::Incomplete(format!("Invalid X-Amz-Date: {}", parsed.amz_date))
    })?;
    // A presigned URL holds from its time (less the skew) for its lifetime; a signed header
    // within the skew either way.
    let late = if parsed.presigned {
        now_s > at + parsed.expires
    } else {
        now_s - at > CLOCK_SKEW_S
    };
    if late || at - now_s > CLOCK_SKEW_S {
        return Err(SigV4Error::Expired(parsed.amz_date.clone()));
    }
    if !parsed.amz_date.starts_with(&parsed.date) {
        return Err(SigV4Error::Incomplete(
            "The credential scope's date does not match X-Amz-Date.".into(),
        ));
    }
    // A presigned S3 URL signs no payload; other services sign the body even then.
    let payload_hash = if parsed.presigned && parsed.service == "s3" {
        "UNSIGNED-PAYLOAD".to_string()
    } else {
        req.headers
            .get("x-amz-content-sha256")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| hex(&Sha256::digest(req.body)))
    };
    let canonical = canonical_request(&Parts {
        method: req.method,
        path: req.path,
        query: req.query,
        headers: req.headers,
        signed_headers: &parsed.signed_headers,
        payload_hash: &payload_hash,
        service: &parsed.service,
        presigned: parsed.presigned,
    });
    let scope = scope(&parsed.date, &parsed.region, &parsed.service);
    let key = signing_key(&secret, &parsed.date, &parsed.region, &parsed.service);
    let mac = mac(&key, &string_to_sign(&parsed.amz_date, &scope, &canonical));
    let given = decode_hex(&parsed.signature).ok_or(SigV4Error::Mismatch)?;
    // Constant time: `verify_slice` compares without an early exit.
    mac.verify_slice(&given).map_err(|_| SigV4Error::Mismatch)?;
    Ok(Signer {
        access_key: parsed.access_key,
        region: parsed.region,
        service: parsed.service,
    })
}

/// Who a request says signed it, without checking the signature: for a server that holds
/// no keys, which accepts any signature but still tells signed requests from unsigned ones.
pub fn claimed_signer(req: &Request<'_>) -> Result<Signer, SigV4Error> {
    let parsed = parse(req)?;
    Ok(Signer {
        access_key: parsed.access_key,
        region: parsed.region,
        service: parsed.service,
    })
}

fn parse(req: &Request<'_>) -> Result<Parsed, SigV4Error> {
    let incomplete =
        |what: &str| SigV4Error::Incomplete(format!("{what} is missing or malformed."));
    let header = |name: &str| {
        req.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    if let Some(auth) = header("authorization") {
        let rest = auth
            .strip_prefix(ALGORITHM)
            .ok_or_else(|| incomplete("Authorization"))?;
        let fields: HashMap<&str, &str> = rest
            .split(',')
            .filter_map(|f| f.trim().split_once('='))
            .collect();
        let credential = fields
            .get("Credential")
            .ok_or_else(|| incomplete("Credential"))?;
        let signed = fields
            .get("SignedHeaders")
            .ok_or_else(|| incomplete("SignedHeaders"))?;
        let signature = fields
            .get("Signature")
            .ok_or_else(|| incomplete("Signature"))?;
        let amz_date = header("x-amz-date").ok_or_else(|| incomplete("X-Amz-Date"))?;
        return scoped(credential, signed, signature, amz_date, None);
    }
    let query: HashMap<String, String> = query_pairs(req.query).into_iter().collect();
    if query.get("X-Amz-Algorithm").map(String::as_str) == Some(ALGORITHM) {
        let get = |k: &str| query.get(k).ok_or_else(|| incomplete(k));
        // At most seven days, as AWS allows.
        let expires = get("X-Amz-Expires")?
            .parse::<i64>()
            .ok()
            .filter(|e| (1..=604_800).contains(e))
            .ok_or_else(|| incomplete("X-Amz-Expires"))?;
        return scoped(
            get("X-Amz-Credential")?,
            get("X-Amz-SignedHeaders")?,
            get("X-Amz-Signature")?,
            get("X-Amz-Date")?.clone(),
            Some(expires),
        );
    }
    Err(SigV4Error::Missing)
}

fn scoped(
    credential: &str,
    signed: &str,
    signature: &str,
    amz_date: String,
    expires: Option<i64>,
) -> Result<Parsed, SigV4Error> {
    let parts: Vec<&str> = credential.split('/').collect();
    if parts.len() != 5 || parts[4] != "aws4_request" {
        return Err(SigV4Error::Incomplete(format!(
            "Credential should be scoped to a valid region, service and aws4_request: \
             {credential}"
        )));
    }
    Ok(Parsed {
        access_key: parts[0].to_string(),
        date: parts[1].to_string(),
        region: parts[2].to_string(),
        service: parts[3].to_string(),
        signed_headers: signed.split(';').map(str::to_ascii_lowercase).collect(),
        signature: signature.to_string(),
        amz_date,
        presigned: expires.is_some(),
        expires: expires.unwrap_or_default(),
    })
}

/// `20150830T123600Z` as epoch seconds.
fn parse_amz_date(s: &str) -> Option<i64> {
    chrono::NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|t| t.and_utc().timestamp())
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::{collapse, normalize};

    const KEY: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    // 2015-08-30T12:36:00Z, the time of AWS's SigV4 test suite.
    const AT: i64 = 1_440_938_160;

    fn secrets(key: &str) -> Option<String> {
        (key == KEY).then(|| SECRET.to_string())
    }

    fn vanilla(signature: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("host", "example.amazonaws.com".parse().unwrap());
        h.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        h.insert(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature={signature}"
            )
            .parse()
            .unwrap(),
        );
        h
    }

    fn get<'a>(headers: &'a HeaderMap) -> Request<'a> {
        Request {
            method: "GET",
            path: "/",
            query: "",
            headers,
            body: b"",
        }
    }

    /// AWS's own test vector (the SigV4 test suite's `get-vanilla`).
    #[test]
    fn the_get_vanilla_vector_verifies() {
        let good = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
        let h = vanilla(good);
        let signer = verify(&get(&h), secrets, AT).unwrap();
        assert_eq!(
            (
                signer.access_key.as_str(),
                signer.region.as_str(),
                signer.service.as_str()
            ),
            ("AKIDEXAMPLE", "us-east-1", "service")
        );
    }

    #[test]
    fn what_is_refused_and_why() {
        let good = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
        // One character of the signature, of the path, of the key.
        let bad = format!("{}0", &good[..good.len() - 1]);
        let h = vanilla(&bad);
        assert_eq!(verify(&get(&h), secrets, AT), Err(SigV4Error::Mismatch));
        let h = vanilla(good);
        let other_path = Request {
            path: "/x",
            ..get(&h)
        };
        assert_eq!(verify(&other_path, secrets, AT), Err(SigV4Error::Mismatch));
        let wrong_secret = |_: &str| Some("not the secret".to_string());
        assert_eq!(
            verify(&get(&h), wrong_secret, AT),
            Err(SigV4Error::Mismatch)
        );
        assert_eq!(verify(&get(&h), |_| None, AT), Err(SigV4Error::UnknownKey));
        // Five minutes either way, not more.
        assert!(verify(&get(&h), secrets, AT + CLOCK_SKEW_S).is_ok());
        assert!(matches!(
            verify(&get(&h), secrets, AT + CLOCK_SKEW_S + 1),
            Err(SigV4Error::Expired(_))
        ));
        let none = HeaderMap::new();
        assert_eq!(verify(&get(&none), secrets, AT), Err(SigV4Error::Missing));
        let mut garbled = HeaderMap::new();
        garbled.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=x".parse().unwrap(),
        );
        let e = verify(&get(&garbled), secrets, AT).unwrap_err();
        assert_eq!(e.error_type(), "IncompleteSignatureException");
        assert_eq!(
            SigV4Error::Missing.error_type(),
            "MissingAuthenticationTokenException"
        );
        assert_eq!(
            SigV4Error::UnknownKey.error_type(),
            "UnrecognizedClientException"
        );
        assert_eq!(
            SigV4Error::Mismatch.error_type(),
            "InvalidSignatureException"
        );
    }

    #[test]
    fn canonical_paths_and_queries() {
        assert_eq!(normalize("/a/./b/../c"), "/a/c");
        assert_eq!(normalize("/"), "/");
        assert_eq!(normalize("//a//b/"), "/a/b/");
        assert_eq!(normalize("/f/arn%3Aaws"), "/f/arn%3Aaws");
        assert_eq!(
            query_pairs("b=2&a=1&Qualifier=live&x=a%2Fb"),
            [
                ("b".to_string(), "2".to_string()),
                ("a".into(), "1".into()),
                ("Qualifier".into(), "live".into()),
                ("x".into(), "a/b".into())
            ]
        );
        assert_eq!(collapse("  a   b  c "), "a b c");
        assert_eq!(decode_hex("0aff"), Some(vec![10, 255]));
        assert_eq!(decode_hex("0g"), None);
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(AT));
    }
}
