//! S3 with objects in another S3-compatible store (`serve --s3-endpoint`), as a cluster
//! serves it: two nodes on one throw-away PostgreSQL and one throw-away s3s-fs store,
//! driven by boto3 (tests/compat/s3_store.py): what one node writes the other reads,
//! notifications configured through one fire for writes through the other, multipart
//! uploads and code from the store's buckets.

mod common;

use common::{Server, test_python};
use lamina_testbrokers::S3Store;
use lamina_testbrokers::s3store::{ACCESS_KEY, SECRET_KEY};

#[test]
fn a_cluster_keeps_its_objects_in_an_s3_compatible_store() {
    let pg = lamina_testpg::Postgres::start();
    let store = S3Store::start();
    let url = pg.url();
    let endpoint = store.endpoint();
    let args = ["--database", &url, "--s3-endpoint", &endpoint];
    let env = [
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
    ];
    let a = Server::start_with_env(&args, &env);
    let b = Server::start_with_env(&args, &env);
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/compat/s3_store.py");
    let out = std::process::Command::new(test_python())
        .arg(script)
        .args([&a.endpoint, &b.endpoint])
        .output()
        .expect("run the store suite");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("all checks passed"),
        "s3_store.py failed\n{stdout}\n{}\nnode A:\n{}\nnode B:\n{}\nstore:\n{}",
        String::from_utf8_lossy(&out.stderr),
        a.output_text(),
        b.output_text(),
        store.log()
    );
}
