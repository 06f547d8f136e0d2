//! `sigbench run --target wss://…`: the harness speaks TLS, trusting a private CA given
//! with `--ca-cert`. The test puts a TLS terminator (a self-signed certificate made with
//! the `openssl` command) in front of the reference server.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sigbench::server::{Auth, ServerConfig, spawn};

fn make_certificate(dir: &Path) -> bool {
    Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
        ])
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_against_a_wss_target_with_a_private_ca() {
    let dir = std::env::temp_dir().join(format!("sigbench-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    assert!(
        make_certificate(&dir),
        "the openssl command makes a certificate"
    );
    let cert = std::fs::read(dir.join("cert.pem")).unwrap();
    let key = std::fs::read(dir.join("key.pem")).unwrap();
    let identity = native_tls::Identity::from_pkcs8(&cert, &key).unwrap();
    let acceptor =
        tokio_native_tls::TlsAcceptor::from(native_tls::TlsAcceptor::new(identity).unwrap());

    let server = spawn(ServerConfig {
        auth: Auth::Secret("tls-secret".into()),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let backend = server.addr();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });

    let target = format!("wss://127.0.0.1:{port}/");
    let reports = dir.join("reports");
    let run = |extra: &'static [&'static str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sigbench"));
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
            .args([
                "run",
                "scenarios/call-accept.yaml",
                "--set",
                "load.sessions=10",
                // This test is about TLS; latency thresholds would make it depend on
                // how busy the machine is.
                "--set",
                "thresholds={}",
                "--quiet",
            ])
            .args([
                "--target",
                &target,
                "--secret",
                "tls-secret",
                "--report-dir",
            ])
            .arg(&reports)
            .args(extra);
        cmd
    };
    let ca = dir.join("cert.pem");
    let mut with_ca = run(&[]);
    with_ca.arg("--ca-cert").arg(&ca);
    let out = tokio::task::spawn_blocking(move || with_ca.output().unwrap())
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Without the CA the certificate is not trusted: no connection, exit 3.
    let mut without = run(&[]);
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::task::spawn_blocking(move || without.output().unwrap()),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.shutdown().await;
}
