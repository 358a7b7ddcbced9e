//! Connection setup: TCP or TLS, with quick ACKs on the socket.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::chat::irc::IrcAdapter;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// A connection to the server, plain or TLS, that can reach its TCP socket.
pub(super) trait Stream: AsyncRead + AsyncWrite + Send + Unpin {
    fn tcp(&self) -> &TcpStream;
}

impl Stream for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Stream for tokio_rustls::client::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

/// Acknowledges every read at once. Servers echo our own lines back (echo-message); if that
/// echo's ACK is delayed (Linux delays up to 40 ms), a server with Nagle on holds the next
/// line for us until the ACK, and every relayed message waits 40 ms.
pub(super) struct QuickAck(pub(super) Box<dyn Stream>);

impl AsyncRead for QuickAck {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let res = std::pin::Pin::new(&mut self.0).poll_read(cx, buf);
        if matches!(res, std::task::Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let _ = self.0.tcp().set_quickack(true);
        }
        res
    }
}

impl AsyncWrite for QuickAck {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, data)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

pub(super) async fn connect(adapter: &IrcAdapter) -> Result<Box<dyn Stream>, String> {
    let cfg = &adapter.cfg;
    let addr = (cfg.server.as_str(), cfg.effective_port());
    let tcp = timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| format!("connect failed: {e}"))?;
    let _ = tcp.set_nodelay(true);
    if !cfg.tls {
        return Ok(Box::new(tcp));
    }
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = &cfg.tls_ca_file {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("cannot read tls_ca_file {}: {e}", path.display()))?;
        for c in certs {
            let c = c.map_err(|e| format!("bad certificate in {}: {e}", path.display()))?;
            roots
                .add(c)
                .map_err(|e| format!("bad certificate in {}: {e}", path.display()))?;
        }
    }
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let host = cfg
        .tls_server_name
        .clone()
        .unwrap_or_else(|| cfg.server.clone());
    let server_name = rustls::pki_types::ServerName::try_from(host)
        .map_err(|e| format!("bad TLS server name: {e}"))?;
    let stream = timeout(
        CONNECT_TIMEOUT,
        tokio_rustls::TlsConnector::from(Arc::new(tls)).connect(server_name, tcp),
    )
    .await
    .map_err(|_| "TLS handshake timed out".to_string())?
    .map_err(|e| format!("TLS handshake failed: {e}"))?;
    Ok(Box::new(stream))
}
