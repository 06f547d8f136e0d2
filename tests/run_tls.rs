//! `sigbench run --target wss://…`: the harness speaks TLS (rustls), trusting a private
//! CA given with `--ca-cert`. The test puts a TLS terminator (tokio-rustls, with a
//! self-signed certificate made by rcgen) in front of the reference server.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use sigbench::server::{Auth, ServerConfig, spawn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_against_a_wss_target_with_a_private_ca() {
    let dir = std::env::temp_dir().join(format!("sigbench-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

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
