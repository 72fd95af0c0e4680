//! ListObjectsV2's semantics over keys in order: a prefix, a delimiter that rolls keys up
//! into common prefixes, a start (StartAfter or a continuation), and a page size that counts
//! keys and common prefixes together. Pure: the store gives it keys in byte order.

/// What a listing asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListRequest {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// Keys (and common prefixes) after this one only: StartAfter, or where the last page
    /// ended.
    pub after: Option<String>,
    /// At most this many keys and common prefixes (S3's MaxKeys, 1000 by default).
    pub max: usize,
}

/// One page of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing<T> {
    pub objects: Vec<T>,
    pub common_prefixes: Vec<String>,
    /// Where the next page starts, when this one was cut short.
    pub next_after: Option<String>,
}

/// Pages `items` (in key order, all starting with the request's prefix, all after its
/// start) as the request says; `key` reads an item's key.
pub fn page<T>(
    req: &ListRequest,
    items: impl IntoIterator<Item = T>,
    key: impl Fn(&T) -> &str,
) -> Listing<T> {
    let mut out = Listing {
        objects: Vec::new(),
        common_prefixes: Vec::new(),
        next_after: None,
    };
    // Starting after a common prefix skips the keys it rolled up.
    let mut last: Option<String> = req.after.clone();
    for item in items {
        let k = key(&item);
        if req.after.as_deref().is_some_and(|a| k <= a) || !k.starts_with(&req.prefix) {
            continue;
        }
        // A key inside the common prefix just listed is part of it.
        if let Some(l) = &last
            && req.delimiter.is_some()
            && l.ends_with(req.delimiter.as_deref().unwrap_or_default())
            && k.starts_with(l.as_str())
        {
            continue;
        }
        if out.objects.len() + out.common_prefixes.len() == req.max {
            out.next_after = last;
            return out;
        }
        let rolled = req
            .delimiter
            .as_deref()
            .filter(|d| !d.is_empty())
            .and_then(|d| {
                let rest = &k[req.prefix.len()..];
                rest.find(d)
                    .map(|at| k[..req.prefix.len() + at + d.len()].to_string())
            });
        match rolled {
            Some(common) => {
                last = Some(common.clone());
                out.common_prefixes.push(common);
            }
            None => {
                last = Some(k.to_string());
                out.objects.push(item);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(req: &ListRequest, keys: &[&str]) -> Listing<String> {
        page(req, keys.iter().map(|k| k.to_string()), |k| k.as_str())
    }

    const KEYS: &[&str] = &[
        "a.txt",
        "photos/2025/a.jpg",
        "photos/2025/b.jpg",
        "photos/2026/c.jpg",
        "photos/d.jpg",
        "z.txt",
    ];

    #[test]
    fn delimiters_roll_keys_into_common_prefixes() {
        let req = ListRequest {
            delimiter: Some("/".into()),
            max: 1000,
            ..Default::default()
        };
        let l = list(&req, KEYS);
        assert_eq!(l.objects, ["a.txt", "z.txt"]);
        assert_eq!(l.common_prefixes, ["photos/"]);
        assert_eq!(l.next_after, None);
        let inside = ListRequest {
            prefix: "photos/".into(),
            ..req
        };
        let l = list(&inside, KEYS);
        assert_eq!(l.objects, ["photos/d.jpg"]);
        assert_eq!(l.common_prefixes, ["photos/2025/", "photos/2026/"]);
    }

    #[test]
    fn pages_count_keys_and_prefixes_and_continue_where_they_stopped() {
        let mut req = ListRequest {
            delimiter: Some("/".into()),
            max: 2,
            ..Default::default()
        };
        let first = list(&req, KEYS);
        assert_eq!(
            (first.objects.clone(), first.common_prefixes.clone()),
            (vec!["a.txt".to_string()], vec!["photos/".to_string()])
        );
        assert_eq!(first.next_after.as_deref(), Some("photos/"));
        req.after = first.next_after;
        let second = list(&req, KEYS);
        assert_eq!(second.objects, ["z.txt"]);
        assert!(second.common_prefixes.is_empty() && second.next_after.is_none());
        // Without a delimiter, every key; StartAfter skips up to and including its key.
        let flat = ListRequest {
            prefix: "photos/".into(),
            after: Some("photos/2025/a.jpg".into()),
            max: 1000,
            ..Default::default()
        };
        assert_eq!(
            list(&flat, KEYS).objects,
            ["photos/2025/b.jpg", "photos/2026/c.jpg", "photos/d.jpg"]
        );
    }
}
