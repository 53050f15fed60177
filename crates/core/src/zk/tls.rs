//! TLS to ZooKeeper's `secureClientPort` (option `zkTls`).
//!
//! `zookeeper-client` does the TLS itself (rustls) but reports any failed connection as a lost
//! connection, which would leave the operator guessing between a server that is down and a
//! certificate that does not verify. So when a TLS session cannot be made, [`diagnose`] shakes
//! hands once more with each server itself, with the same trust settings, and says what did not
//! verify (`ERR_ZK_TLS`).

use std::io::ErrorKind;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use zookeeper_client::TlsOptions;

use crate::error::{Error, Result};
use crate::tls::{explain, TlsMaterial};

/// How long a diagnosing handshake may take, and how long it waits after it for a refusal that
/// TLS 1.3 servers send only once the handshake is over (a missing client certificate).
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
const LATE_ALERT_WAIT: Duration = Duration::from_millis(300);

/// The options `zookeeper-client` takes for `material`.
pub fn client_options(material: &TlsMaterial) -> Result<TlsOptions> {
    let field = "zkTls";
    let mut options = TlsOptions::new()
        .with_pem_ca(&material.ca)
        .map_err(|e| Error::invalid(format!("{field}.ca"), e.to_string()))?;
    if let Some((cert, key)) = &material.identity {
        options = options
            .with_pem_identity(cert, key)
            .map_err(|e| Error::invalid(format!("{field}.cert"), e.to_string()))?;
    }
    Ok(options)
}

/// Why TLS with the servers of `connect` (`host:port,…[/chroot]`) fails, as `ERR_ZK_TLS`; `None`
/// when a handshake succeeds or no server answers at all (then it is not a TLS problem).
pub async fn diagnose(connect: &str, material: &TlsMaterial) -> Option<Error> {
    let config = material.client_config("zkTls").ok()?;
    let connector = TlsConnector::from(config);
    let hosts = connect.split('/').next().unwrap_or_default();
    for server in hosts.split(',') {
        let Some((host, port)) = server.rsplit_once(':') else {
            continue;
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let Ok(name) = ServerName::try_from(host.to_string()) else {
            continue;
        };
        let attempt = async {
            let tcp = TcpStream::connect((host, port.parse::<u16>().ok()?))
                .await
                .ok()?;
            match connector.connect(name, tcp).await {
                Err(e) => explain(&e, server).or_else(|| {
                    // A TLS server answers a bad hello with an alert; a plain ZooKeeper port
                    // reads the hello as an absurd packet length and hangs up.
                    matches!(e.kind(), ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset)
                        .then(|| format!("{server} hung up during the TLS handshake: it does not speak TLS on this port (is it the secureClientPort?)"))
                }),
                Ok(mut stream) => {
                    let mut byte = [0u8; 1];
                    match tokio::time::timeout(LATE_ALERT_WAIT, stream.read(&mut byte)).await {
                        Ok(Err(e)) => explain(&e, server),
                        _ => None,
                    }
                }
            }
        };
        if let Ok(Some(detail)) = tokio::time::timeout(PROBE_TIMEOUT, attempt).await {
            return Some(Error::ZkTls { detail });
        }
    }
    None
}
