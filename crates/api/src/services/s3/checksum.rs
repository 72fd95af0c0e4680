//! The checksums the SDKs send with a body (PutObject, UploadPart): `Content-MD5`, and
//! `x-amz-checksum-{crc32,crc32c,crc64nvme,sha1,sha256}` in a header or, with `aws-chunked`
//! bodies, in a trailer. The body is hashed as it streams to disk; at its end the sums are
//! compared, and a mismatch fails the write before it commits (S3's `BadDigest`). The sums
//! computed are answered back, as S3 answers them.

use std::sync::{Arc, Mutex};

use base64::Engine;
use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use s3s::checksum::ChecksumHasher;
use s3s::crypto::Checksum as _;
use s3s::dto::{self, Checksum};
use s3s::{S3Error, S3ErrorCode, TrailingHeaders};

/// A body's sums did not match those sent with it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct Mismatch(String);

/// S3's error for a failed write whose cause was a checksum mismatch, if it was one.
pub(super) fn mismatch_of(e: &std::io::Error) -> Option<S3Error> {
    let m = e.get_ref()?.downcast_ref::<Mismatch>()?;
    Some(S3Error::with_message(S3ErrorCode::BadDigest, m.0.clone()))
}

/// What a request says its body's sums are.
pub(super) struct Expected {
    pub(super) sums: Checksum,
    pub(super) algorithm: Option<dto::ChecksumAlgorithm>,
    pub(super) content_md5: Option<String>,
    /// `x-amz-trailer`: the checksum header that follows the body.
    pub(super) trailer: Option<String>,
    pub(super) trailers: Option<TrailingHeaders>,
}

/// What a write (PutObject, UploadPart: their inputs have the same members) says its
/// body's sums are: the checksum members, the algorithm, `Content-MD5`, and the trailer that
/// will carry a sum after the body.
macro_rules! expected_of {
    ($req:expr) => {
        $crate::services::s3::checksum::Expected {
            sums: s3s::dto::Checksum {
                checksum_crc32: $req.input.checksum_crc32.clone(),
                checksum_crc32c: $req.input.checksum_crc32c.clone(),
                checksum_crc64nvme: $req.input.checksum_crc64nvme.clone(),
                checksum_sha1: $req.input.checksum_sha1.clone(),
                checksum_sha256: $req.input.checksum_sha256.clone(),
                ..Default::default()
            },
            algorithm: $req.input.checksum_algorithm.clone(),
            content_md5: $req.input.content_md5.clone(),
            trailer: $req
                .headers
                .get("x-amz-trailer")
                .and_then(|v| v.to_str().ok())
                .map(str::to_ascii_lowercase),
            trailers: $req.trailing_headers.clone(),
        }
    };
}
pub(super) use expected_of;

/// Sets the sums computed on a write's output (PutObject's, UploadPart's).
macro_rules! answer_sums {
    ($output:expr, $sums:expr) => {{
        let sums: s3s::dto::Checksum = $sums;
        $output.checksum_crc32 = sums.checksum_crc32;
        $output.checksum_crc32c = sums.checksum_crc32c;
        $output.checksum_crc64nvme = sums.checksum_crc64nvme;
        $output.checksum_sha1 = sums.checksum_sha1;
        $output.checksum_sha256 = sums.checksum_sha256;
    }};
}
pub(super) use answer_sums;

/// What the hashing found, once the body has ended.
pub(super) type Computed = Arc<Mutex<Option<Checksum>>>;

const NAMES: [&str; 5] = ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"];

fn slot<'a>(c: &'a mut Checksum, name: &str) -> Option<&'a mut Option<String>> {
    Some(match name {
        "crc32" => &mut c.checksum_crc32,
        "crc32c" => &mut c.checksum_crc32c,
        "crc64nvme" => &mut c.checksum_crc64nvme,
        "sha1" => &mut c.checksum_sha1,
        "sha256" => &mut c.checksum_sha256,
        _ => return None,
    })
}

fn enable(h: &mut ChecksumHasher, name: &str) {
    match name {
        "crc32" => h.crc32 = Some(Default::default()),
        "crc32c" => h.crc32c = Some(Default::default()),
        "crc64nvme" => h.crc64nvme = Some(Default::default()),
        "sha1" => h.sha1 = Some(Default::default()),
        "sha256" => h.sha256 = Some(Default::default()),
        _ => {}
    }
}

/// `body`, hashed on its way, failing at its end if its sums are not those `expected`.
pub(super) fn verified<S>(
    body: S,
    mut expected: Expected,
) -> (
    impl Stream<Item = Result<Bytes, std::io::Error>> + Send,
    Computed,
)
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Send,
{
    let mut hasher = ChecksumHasher::default();
    for name in NAMES {
        if slot(&mut expected.sums, name).is_some_and(|s| s.is_some()) {
            enable(&mut hasher, name);
        }
    }
    if let Some(a) = &expected.algorithm {
        enable(&mut hasher, &a.as_str().to_ascii_lowercase());
    }
    if let Some(t) = &expected.trailer {
        enable(
            &mut hasher,
            t.trim().strip_prefix("x-amz-checksum-").unwrap_or_default(),
        );
    }
    let md5 = expected.content_md5.is_some().then(s3s::crypto::Md5::new);
    let state = Arc::new(Mutex::new((hasher, md5)));
    let computed: Computed = Arc::default();
    let (fed, done) = (state.clone(), computed.clone());
    let hashed = body.inspect_ok(move |chunk| {
        let mut s = fed.lock().unwrap_or_else(|p| p.into_inner());
        s.0.update(chunk);
        if let Some(m) = &mut s.1 {
            m.update(chunk);
        }
    });
    let end = futures_util::stream::once(async move {
        let (hasher, md5) = {
            let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::take(&mut *s)
        };
        let sums = hasher.finalize();
        let result = check(&sums, md5, &mut expected);
        *done.lock().unwrap_or_else(|p| p.into_inner()) = Some(sums);
        result
    })
    .filter_map(|r| async move { r.err().map(Err) });
    (hashed.chain(end), computed)
}

/// Compares what was computed with what was sent (in headers, or in the trailers that have
/// arrived with the body's end).
fn check(
    sums: &Checksum,
    md5: Option<s3s::crypto::Md5>,
    expected: &mut Expected,
) -> Result<(), std::io::Error> {
    let b64 = base64::engine::general_purpose::STANDARD;
    if let (Some(sent), Some(md5)) = (&expected.content_md5, md5)
        && b64.encode(md5.finalize()) != *sent
    {
        return Err(std::io::Error::other(Mismatch(
            "The Content-MD5 you specified did not match what we received.".into(),
        )));
    }
    if let Some(trailers) = expected.trailers.as_ref().and_then(TrailingHeaders::take) {
        for name in NAMES {
            if let Some(v) = trailers
                .get(format!("x-amz-checksum-{name}").as_str())
                .and_then(|v| v.to_str().ok())
                && let Some(s) = slot(&mut expected.sums, name)
            {
                *s = Some(v.to_string());
            }
        }
    }
    let mut ours = sums.clone();
    for name in NAMES {
        let sent = slot(&mut expected.sums, name).and_then(|s| s.clone());
        let got = slot(&mut ours, name).and_then(|s| s.clone());
        if let Some(sent) = sent
            && got.as_ref() != Some(&sent)
        {
            return Err(std::io::Error::other(Mismatch(format!(
                "The {} you specified did not match the calculated checksum.",
                name.to_ascii_uppercase()
            ))));
        }
    }
    Ok(())
}

/// The sums to answer a write with.
pub(super) fn taken(computed: &Computed) -> Checksum {
    computed
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .unwrap_or_default()
}
