//! A throw-away certificate authority for tests of TLS connections: a CA and a server
//! certificate for 127.0.0.1 signed by it, made with the `openssl` command in a temporary
//! directory. A client trusts the CA through `SSL_CERT_FILE`.

use std::path::PathBuf;
use std::process::Command;

/// The files of a throw-away authority; removed when it is dropped.
#[derive(Debug)]
pub struct Authority {
    /// The CA's certificate (PEM): what a client must trust.
    pub ca: PathBuf,
    /// The server's certificate (PEM), for IP address 127.0.0.1.
    pub cert: PathBuf,
    /// The server's private key (PEM).
    pub key: PathBuf,
    _dir: tempfile::TempDir,
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl (the test script installs it)");
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Authority {
    /// A new CA and a server certificate for 127.0.0.1, valid for a day.
    pub fn new() -> Authority {
        let dir = tempfile::Builder::new()
            .prefix("lamina-tls-")
            .tempdir()
            .expect("a temporary directory");
        let at = |name: &str| dir.path().join(name);
        let s = |p: &PathBuf| p.display().to_string();
        let (ca, ca_key, cert, key, csr, ext) = (
            at("ca.pem"),
            at("ca.key"),
            at("server.pem"),
            at("server.key"),
            at("server.csr"),
            at("server.ext"),
        );
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=Lamina test CA",
            "-keyout",
            &s(&ca_key),
            "-out",
            &s(&ca),
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            &s(&key),
            "-out",
            &s(&csr),
        ]);
        std::fs::write(
            &ext,
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .expect("the certificate's extensions");
        openssl(&[
            "x509",
            "-req",
            "-in",
            &s(&csr),
            "-CA",
            &s(&ca),
            "-CAkey",
            &s(&ca_key),
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            &s(&ext),
            "-out",
            &s(&cert),
        ]);
        // The broker may run as another user: the files are for tests only.
        for f in [&ca, &cert, &key] {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644));
        }
        Authority {
            ca,
            cert,
            key,
            _dir: dir,
        }
    }
}

impl Default for Authority {
    fn default() -> Self {
        Authority::new()
    }
}
