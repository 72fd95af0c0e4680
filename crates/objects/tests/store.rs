//! The object store on a temporary directory: writes are whole and atomic, replaced blobs
//! go, a write's outbox payloads commit with it, listings page as S3's do, and what a crash
//! leaves behind is cleared at open.

use bytes::Bytes;
use futures_util::stream;
use lamina_objects::{ListRequest, NewObject, ObjectError, Objects, silent};

fn body(
    parts: &[&'static [u8]],
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    stream::iter(
        parts
            .iter()
            .map(|p| Ok(Bytes::from_static(p)))
            .collect::<Vec<_>>(),
    )
}

#[tokio::test]
async fn objects_are_written_whole_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = Objects::open(dir.path()).unwrap();
    assert!(matches!(
        store
            .put("none", "k", body(&[b"x"]), NewObject::default(), silent())
            .await,
        Err(ObjectError::NoSuchBucket)
    ));
    store.create_bucket("photos").await.unwrap();
    assert!(matches!(
        store.create_bucket("photos").await,
        Err(ObjectError::BucketAlreadyOwnedByYou)
    ));
    assert!(matches!(
        store.create_bucket("Bad_Name").await,
        Err(ObjectError::InvalidBucketName)
    ));
    let new = NewObject {
        content_type: Some("text/plain".into()),
        metadata: [("owner".to_string(), "ana".to_string())].into(),
    };
    store
        .set_notification("photos", Some("rules".into()), vec![])
        .await
        .unwrap();
    assert_eq!(
        store.notification("photos").await.unwrap().as_deref(),
        Some("rules")
    );
    let first = store
        .put(
            "photos",
            "a b+c.txt",
            body(&[b"hello ", b"world"]),
            new,
            Box::new(|m, n| vec![format!("created {} {} {n:?}", m.key, m.size)]),
        )
        .await
        .unwrap();
    // MD5 of "hello world".
    assert_eq!(first.etag, "\"5eb63bbbe01eeed093cb22bb8f5acdc3\"");
    assert_eq!(first.size, 11);
    let head = store.head("photos", "a b+c.txt").await.unwrap();
    assert_eq!(head, first);
    assert_eq!(head.metadata["owner"], "ana");
    assert_eq!(std::fs::read(store.path_of(&head)).unwrap(), b"hello world");
    // Replaced: the new bytes, a later sequence, the old blob gone.
    let old_path = store.path_of(&head);
    let second = store
        .put(
            "photos",
            "a b+c.txt",
            body(&[b"again"]),
            NewObject::default(),
            silent(),
        )
        .await
        .unwrap();
    assert!(second.sequence > first.sequence);
    assert!(!old_path.exists(), "the replaced blob is removed");
    assert_eq!(std::fs::read(store.path_of(&second)).unwrap(), b"again");
    assert!(matches!(
        store.head("photos", "missing").await,
        Err(ObjectError::NoSuchKey)
    ));
    assert!(matches!(
        store.head("nobucket", "k").await,
        Err(ObjectError::NoSuchBucket)
    ));
    assert!(matches!(
        store.delete_bucket("photos").await,
        Err(ObjectError::BucketNotEmpty)
    ));
    let removed = store
        .delete(
            "photos",
            "a b+c.txt",
            Box::new(|m, n| vec![format!("removed {} {n:?}", m.key)]),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(!store.path_of(&removed).exists());
    assert!(
        store
            .delete("photos", "a b+c.txt", silent())
            .await
            .unwrap()
            .is_none()
    );
    let outbox = store.outbox(10).await.unwrap();
    assert_eq!(
        outbox.iter().map(|(_, p)| p.as_str()).collect::<Vec<_>>(),
        [
            "created a b+c.txt 11 Some(\"rules\")",
            "removed a b+c.txt Some(\"rules\")"
        ]
    );
    store
        .delivered(outbox.iter().map(|(id, _)| *id).collect())
        .await
        .unwrap();
    assert!(store.outbox(10).await.unwrap().is_empty());
    store.delete_bucket("photos").await.unwrap();
    assert!(store.buckets().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_failed_upload_leaves_nothing_and_a_crash_is_cleared_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = Objects::open(dir.path()).unwrap();
    store.create_bucket("b-1").await.unwrap();
    store
        .put(
            "b-1",
            "kept",
            body(&[b"kept"]),
            NewObject::default(),
            silent(),
        )
        .await
        .unwrap();
    // The client goes away mid-body: no object, no event, no file.
    let broken = stream::iter(vec![
        Ok(Bytes::from_static(b"part")),
        Err(std::io::Error::other("connection reset")),
    ]);
    assert!(
        store
            .put(
                "b-1",
                "broken",
                broken,
                NewObject::default(),
                Box::new(|_, _| vec!["x".into()])
            )
            .await
            .is_err()
    );
    assert!(matches!(
        store.head("b-1", "broken").await,
        Err(ObjectError::NoSuchKey)
    ));
    assert!(store.outbox(10).await.unwrap().is_empty());
    let count = |d: &str| std::fs::read_dir(dir.path().join(d)).unwrap().count();
    assert_eq!((count("tmp"), count("blobs")), (0, 1));
    // What a crash leaves: a half-written temporary file, a blob renamed but never
    // committed (an hour before the restart). The file goes at the next open, the blob soon
    // after; committed objects stay, and so does a blob staged just now.
    std::fs::write(dir.path().join("tmp/half"), b"ha").unwrap();
    let orphan = dir.path().join("blobs/orphan");
    std::fs::write(&orphan, b"orphan").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&orphan)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
        .unwrap();
    let fresh = dir.path().join("blobs/just-staged");
    std::fs::write(&fresh, b"staged").unwrap();
    drop(store);
    let store = Objects::open(dir.path()).unwrap();
    assert_eq!(count("tmp"), 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while orphan.exists() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(!orphan.exists(), "the orphan is swept");
    assert!(fresh.exists(), "a blob younger than the open is left alone");
    assert_eq!(count("blobs"), 2);
    let kept = store.head("b-1", "kept").await.unwrap();
    assert_eq!(std::fs::read(store.path_of(&kept)).unwrap(), b"kept");
}

#[tokio::test]
async fn listings_page_by_prefix_and_delimiter() {
    let dir = tempfile::tempdir().unwrap();
    let store = Objects::open(dir.path()).unwrap();
    store.create_bucket("docs").await.unwrap();
    for key in ["a.txt", "p/1.txt", "p/2.txt", "p/q/3.txt", "z.txt"] {
        store
            .put("docs", key, body(&[b"x"]), NewObject::default(), silent())
            .await
            .unwrap();
    }
    let req = ListRequest {
        prefix: "p/".into(),
        delimiter: Some("/".into()),
        max: 1000,
        ..Default::default()
    };
    let l = store.list("docs", req).await.unwrap();
    assert_eq!(
        l.objects.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(),
        ["p/1.txt", "p/2.txt"]
    );
    assert_eq!(l.common_prefixes, ["p/q/"]);
    let page = store
        .list(
            "docs",
            ListRequest {
                max: 2,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.objects.len(), 2);
    assert_eq!(page.next_after.as_deref(), Some("p/1.txt"));
    assert!(matches!(
        store.list("nope", ListRequest::default()).await,
        Err(ObjectError::NoSuchBucket)
    ));
}
