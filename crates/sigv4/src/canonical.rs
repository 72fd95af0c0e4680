//! AWS's canonical request and signing key, as botocore builds them: the path URI-encoded
//! once more (kept as sent for S3), the query sorted and encoded, the signed headers
//! lower-cased with their values trimmed and inner spaces collapsed. Verifying and signing
//! both build on this, so what the CLI signs is what the server checks.

use hmac::{Hmac, Mac};
use http::HeaderMap;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};

pub(crate) type HmacSha256 = Hmac<Sha256>;

pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Characters left as they are in a canonical URI or query (RFC 3986 unreserved).
pub(crate) const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The same, keeping `/` in paths.
const PATH: &AsciiSet = &UNRESERVED.remove(b'/');

/// The query's pairs, percent-decoded.
pub(crate) fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', "%20"))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(k), decode(v))
        })
        .collect()
}

/// What a canonical request is made of.
pub(crate) struct Parts<'a> {
    pub method: &'a str,
    /// As sent, still percent-encoded.
    pub path: &'a str,
    /// As sent, without `?`.
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    /// Lower-cased, in the order signed.
    pub signed_headers: &'a [String],
    /// The payload's SHA-256 in hex, or `UNSIGNED-PAYLOAD`.
    pub payload_hash: &'a str,
    pub service: &'a str,
    /// A presigned request: its own `X-Amz-Signature` is not part of what it signs.
    pub presigned: bool,
}

/// The canonical request of AWS's rules.
pub(crate) fn canonical_request(req: &Parts<'_>) -> String {
    // S3 signs the path as sent; every other service signs it encoded once more.
    let uri = if req.service == "s3" {
        req.path.to_string()
    } else {
        utf8_percent_encode(&normalize(req.path), PATH).to_string()
    };
    let mut pairs: Vec<(String, String)> = query_pairs(req.query)
        .into_iter()
        .filter(|(k, _)| !(req.presigned && k == "X-Amz-Signature"))
        .map(|(k, v)| {
            (
                utf8_percent_encode(&k, UNRESERVED).to_string(),
                utf8_percent_encode(&v, UNRESERVED).to_string(),
            )
        })
        .collect();
    pairs.sort();
    let query = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut headers = String::new();
    for name in req.signed_headers {
        let values: Vec<String> = req
            .headers
            .get_all(name.as_str())
            .iter()
            .map(|v| collapse(&String::from_utf8_lossy(v.as_bytes())))
            .collect();
        headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    format!(
        "{}\n{uri}\n{query}\n{headers}\n{}\n{}",
        req.method,
        req.signed_headers.join(";"),
        req.payload_hash
    )
}

/// The string a signature is the HMAC of.
pub(crate) fn string_to_sign(amz_date: &str, scope: &str, canonical: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    )
}

/// `DATE/REGION/SERVICE/aws4_request`.
pub(crate) fn scope(date: &str, region: &str, service: &str) -> String {
    format!("{date}/{region}/{service}/aws4_request")
}

/// The HMAC of `data` under `key`.
pub(crate) fn mac(key: &[u8], data: &str) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key");
    mac.update(data.as_bytes());
    mac
}

/// The path with `.` and `..` segments resolved and empty segments dropped, a leading and a
/// trailing `/` kept, still percent-encoded as sent: botocore's `remove_dot_segments`, which
/// services other than S3 sign.
pub(crate) fn normalize(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let first = if path.starts_with('/') { "/" } else { "" };
    let last = if path.ends_with('/') && !out.is_empty() {
        "/"
    } else {
        ""
    };
    format!("{first}{}{last}", out.join("/"))
}

/// A header value trimmed, with runs of spaces made one.
pub(crate) fn collapse(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(crate) fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let hmac = |key: &[u8], data: &str| {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key");
        mac.update(data.as_bytes());
        mac.finalize().into_bytes().to_vec()
    };
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date);
    let k_region = hmac(&k_date, region);
    let k_service = hmac(&k_region, service);
    hmac(&k_service, "aws4_request")
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
