//! Multipart uploads on a temporary directory: parts become one object with S3's ETag and
//! the upload's metadata, the completion tells the outbox, S3's refusals (unknown, unordered
//! and too-small parts), aborts, and parts surviving a reopen.

use bytes::Bytes;
use futures_util::stream;
use lamina_objects::multipart::{MIN_PART_SIZE, multipart_etag};
use lamina_objects::{NewObject, ObjectError, Objects, silent};

fn body(bytes: Vec<u8>) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    stream::iter(vec![Ok(Bytes::from(bytes))])
}

fn blobs(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("blobs")).unwrap().count()
}

#[tokio::test]
async fn parts_become_one_object() {
    let dir = tempfile::tempdir().unwrap();
    let store = Objects::open(dir.path()).unwrap();
    store.create_bucket("big").await.unwrap();
    let new = NewObject {
        content_type: Some("video/mp4".into()),
        metadata: [("camera".to_string(), "front".to_string())].into(),
    };
    let up = store
        .uploads()
        .create("big", "movie.mp4", new)
        .await
        .unwrap();
    let first = vec![b'a'; MIN_PART_SIZE as usize];
    let p1 = store
        .uploads()
        .put_part(&up.id, "big", "movie.mp4", 1, body(first.clone()))
        .await
        .unwrap();
    // A part sent again replaces the first copy (its blob goes).
    let p2_old = store
        .uploads()
        .put_part(&up.id, "big", "movie.mp4", 2, body(b"old".to_vec()))
        .await
        .unwrap();
    let p2 = store
        .uploads()
        .put_part(&up.id, "big", "movie.mp4", 2, body(b"tail".to_vec()))
        .await
        .unwrap();
    assert_ne!(p2_old.etag, p2.etag);
    assert_eq!(blobs(dir.path()), 2);
    let (parts, more) = store
        .uploads()
        .parts(&up.id, "big", "movie.mp4", 0, 1)
        .await
        .unwrap();
    assert_eq!((parts.len(), more), (1, true));
    // Parts survive a restart.
    drop(store);
    let store = Objects::open(dir.path()).unwrap();
    assert_eq!(blobs(dir.path()), 2);
    let listed = store.uploads().list("big", "mov").await.unwrap();
    assert_eq!(listed.len(), 1);
    let m = store
        .uploads()
        .complete(
            &up.id,
            "big",
            "movie.mp4",
            vec![(1, p1.etag.clone()), (2, p2.etag.clone())],
            Box::new(|m, _| vec![format!("completed {} {}", m.key, m.size)]),
        )
        .await
        .unwrap();
    assert_eq!(m.etag, multipart_etag([p1.etag.as_str(), p2.etag.as_str()]));
    assert!(m.etag.ends_with("-2\""));
    assert_eq!(m.size, MIN_PART_SIZE + 4);
    assert_eq!(m.content_type.as_deref(), Some("video/mp4"));
    assert_eq!(m.metadata["camera"], "front");
    let bytes = std::fs::read(store.path_of(&m)).unwrap();
    assert_eq!(&bytes[..first.len()], &first[..]);
    assert_eq!(&bytes[first.len()..], b"tail");
    // The parts' blobs are gone, the upload too; the completion told the outbox.
    assert_eq!(blobs(dir.path()), 1);
    assert!(store.uploads().list("big", "").await.unwrap().is_empty());
    let outbox = store.outbox(10).await.unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].1, format!("completed movie.mp4 {}", m.size));
    assert!(matches!(
        store
            .uploads()
            .complete(&up.id, "big", "movie.mp4", vec![(1, p1.etag)], silent())
            .await,
        Err(ObjectError::NoSuchUpload)
    ));
}

#[tokio::test]
async fn s3s_refusals_and_aborts() {
    let dir = tempfile::tempdir().unwrap();
    let store = Objects::open(dir.path()).unwrap();
    store.create_bucket("big").await.unwrap();
    let up = store
        .uploads()
        .create("big", "k", NewObject::default())
        .await
        .unwrap();
    let uploads = store.uploads();
    let p1 = uploads
        .put_part(&up.id, "big", "k", 1, body(b"small".to_vec()))
        .await
        .unwrap();
    let p2 = uploads
        .put_part(&up.id, "big", "k", 2, body(b"last".to_vec()))
        .await
        .unwrap();
    let complete =
        |chosen: Vec<(u32, String)>| uploads.complete(&up.id, "big", "k", chosen, silent());
    assert!(matches!(
        complete(vec![(2, p2.etag.clone()), (1, p1.etag.clone())]).await,
        Err(ObjectError::InvalidPartOrder)
    ));
    assert!(matches!(
        complete(vec![(1, p1.etag.clone()), (3, p2.etag.clone())]).await,
        Err(ObjectError::InvalidPart)
    ));
    assert!(matches!(
        complete(vec![(1, p2.etag.clone())]).await,
        Err(ObjectError::InvalidPart)
    ));
    assert!(matches!(
        complete(vec![(1, p1.etag.clone()), (2, p2.etag.clone())]).await,
        Err(ObjectError::EntityTooSmall)
    ));
    assert!(matches!(
        complete(vec![]).await,
        Err(ObjectError::InvalidArgument(_))
    ));
    assert!(matches!(
        uploads
            .put_part(&up.id, "big", "k", 10_001, body(vec![]))
            .await,
        Err(ObjectError::InvalidArgument(_))
    ));
    assert!(matches!(
        uploads
            .put_part(&up.id, "big", "other-key", 1, body(vec![]))
            .await,
        Err(ObjectError::NoSuchUpload)
    ));
    // A single small part is a whole object.
    let one = uploads
        .create("big", "one", NewObject::default())
        .await
        .unwrap();
    let p = uploads
        .put_part(&one.id, "big", "one", 1, body(b"x".to_vec()))
        .await
        .unwrap();
    uploads
        .complete(&one.id, "big", "one", vec![(1, p.etag)], silent())
        .await
        .unwrap();
    // Abort forgets the parts; a bucket's uploads go with the bucket.
    uploads.abort(&up.id, "big", "k").await.unwrap();
    assert!(matches!(
        uploads.abort(&up.id, "big", "k").await,
        Err(ObjectError::NoSuchUpload)
    ));
    assert_eq!(blobs(dir.path()), 1);
    let dangling = uploads
        .create("big", "d", NewObject::default())
        .await
        .unwrap();
    uploads
        .put_part(&dangling.id, "big", "d", 1, body(b"d".to_vec()))
        .await
        .unwrap();
    store.delete("big", "one", silent()).await.unwrap();
    store.delete_bucket("big").await.unwrap();
    assert_eq!(blobs(dir.path()), 0);
}
