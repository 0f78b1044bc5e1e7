//! TLS material for tests, made at test time with the `openssl` command: a CA, a server
//! certificate for `127.0.0.1` and `localhost` signed by it, a client certificate signed by it,
//! and a second, unrelated CA (which signed nothing the server presents).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A temporary directory of PEM files; removed when dropped.
pub struct TlsFiles {
    dir: tempfile::TempDir,
}

impl TlsFiles {
    /// Generates every file (P-256 keys: fast to make, and what rustls and OpenSSL both take).
    pub fn generate() -> TlsFiles {
        let dir = tempfile::Builder::new()
            .prefix("cache-tests-tls-")
            .tempdir()
            .expect("create a temporary directory for TLS files");
        let files = TlsFiles { dir };
        files.make_ca("ca");
        files.make_ca("other-ca");
        files.signed(
            "server",
            "localhost",
            Some("subjectAltName=IP:127.0.0.1,DNS:localhost"),
        );
        files.signed(
            "client",
            "cache-tests client",
            Some("basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth"),
        );
        files
    }

    /// The CA that signed the server's and the client's certificates.
    pub fn ca(&self) -> PathBuf {
        self.path("ca.crt")
    }

    /// A CA that signed neither.
    pub fn other_ca(&self) -> PathBuf {
        self.path("other-ca.crt")
    }

    /// The server's certificate.
    pub fn server_cert(&self) -> PathBuf {
        self.path("server.crt")
    }

    /// The server's private key.
    pub fn server_key(&self) -> PathBuf {
        self.path("server.key")
    }

    /// The client's certificate, for mutual TLS.
    pub fn client_cert(&self) -> PathBuf {
        self.path("client.crt")
    }

    /// The client's private key.
    pub fn client_key(&self) -> PathBuf {
        self.path("client.key")
    }

    /// `name` in the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn make_ca(&self, name: &str) {
        openssl(
            self.dir.path(),
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN=cache-tests {name}"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.crt"),
            ],
        );
    }

    fn signed(&self, name: &str, common_name: &str, extensions: Option<&str>) {
        openssl(
            self.dir.path(),
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
                &format!("/CN={common_name}"),
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ],
        );
        let mut args = vec![
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &format!("{name}.crt"),
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
        if let Some(extensions) = extensions {
            let file = format!("{name}.ext");
            std::fs::write(self.path(&file), format!("{extensions}\n")).expect("write extensions");
            args.extend(["-extfile".to_owned(), file]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        openssl(self.dir.path(), &args);
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run openssl: {e} (is it installed? .ci/run installs it)")
        });
    assert!(
        output.status.success(),
        "openssl {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}
