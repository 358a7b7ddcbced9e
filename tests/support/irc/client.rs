//! A small IRC client playing a person in tests: registers, joins, sends raw lines and
//! collects every line it receives (raw bytes checked for UTF-8, and parsed with tags).

use std::time::Duration;

use flare::chat::irc::message::Message;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

pub const WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Line {
    pub raw: String,
    pub valid_utf8: bool,
    pub msg: Option<Message>,
}

impl Line {
    pub fn is(&self, command: &str) -> bool {
        self.msg.as_ref().is_some_and(|m| m.command == command)
    }
    pub fn param(&self, i: usize) -> Option<&str> {
        self.msg.as_ref().and_then(|m| m.param(i))
    }
    pub fn sender_nick(&self) -> Option<&str> {
        self.msg.as_ref().and_then(|m| m.source_nick())
    }
}

pub struct TestClient {
    pub nick: String,
    out: mpsc::UnboundedSender<String>,
    rx: mpsc::UnboundedReceiver<Line>,
    /// Every line received so far, in order.
    pub log: Vec<Line>,
    /// The connection ended (read error or end of stream).
    closed: bool,
}

impl TestClient {
    /// Connects and registers; `caps` are requested as-is (only ask for what the server has).
    pub async fn connect(port: u16, nick: &str, caps: &[&str]) -> TestClient {
        // A refused connection is tried again for a few seconds (a server that is still
        // starting, or restarting in a test); one that stays refused fails the test.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let stream = loop {
            match tokio::time::timeout(WAIT, TcpStream::connect(("127.0.0.1", port))).await {
                Ok(Ok(s)) => break s,
                Ok(Err(e))
                    if e.kind() == std::io::ErrorKind::ConnectionRefused
                        && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ok(Err(e)) => panic!("connect to 127.0.0.1:{port}: {e}"),
                Err(_) => panic!("connect to 127.0.0.1:{port} timed out"),
            }
        };
        // Latency figures must not include Nagle's delay.
        let _ = stream.set_nodelay(true);
        TestClient::start(stream, nick, caps).await
    }

    /// Connects with TLS, trusting the test CA.
    pub async fn connect_tls(port: u16, ca: &std::path::Path, nick: &str) -> TestClient {
        use rustls::pki_types::pem::PemObject;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls::pki_types::CertificateDer::pem_file_iter(ca).expect("ca file") {
            roots.add(c.expect("ca cert")).expect("add ca");
        }
        let cfg = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tcp = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))
            .connect(name, tcp)
            .await
            .expect("tls handshake");
        TestClient::start(tls, nick, &[]).await
    }

    async fn start<S>(stream: S, nick: &str, caps: &[&str]) -> TestClient
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
    {
        let (rd, mut wr) = tokio::io::split(stream);
        let (out, mut out_rx) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(l) = out_rx.recv().await {
                if wr.write_all(format!("{l}\r\n").as_bytes()).await.is_err() {
                    break;
                }
            }
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let pong = out.clone();
        tokio::spawn(async move {
            let mut rd = BufReader::new(rd);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match rd.read_until(b'\n', &mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let valid_utf8 = std::str::from_utf8(&buf).is_ok();
                let raw = String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\r', '\n'])
                    .to_string();
                let msg = Message::parse(&raw).ok();
                if let Some(m) = &msg
                    && m.command == "PING"
                {
                    let _ = pong.send(format!("PONG :{}", m.param(0).unwrap_or("")));
                }
                if tx
                    .send(Line {
                        raw,
                        valid_utf8,
                        msg,
                    })
                    .is_err()
                {
                    break;
                }
            }
        });
        let mut c = TestClient {
            nick: nick.to_string(),
            out,
            rx,
            log: Vec::new(),
            closed: false,
        };
        if !caps.is_empty() {
            c.raw(&format!("CAP REQ :{}", caps.join(" ")));
        }
        c.raw(&format!("NICK {nick}"));
        c.raw(&format!("USER {nick} 0 * :test person"));
        if !caps.is_empty() {
            c.raw("CAP END");
        }
        c.expect(|l| l.is("001")).await;
        c
    }

    pub fn raw(&self, line: &str) {
        let _ = self.out.send(line.to_string());
    }

    pub fn say(&self, channel: &str, text: &str) {
        self.raw(&format!("PRIVMSG {channel} :{text}"));
    }

    pub async fn join(&mut self, channel: &str) {
        self.raw(&format!("JOIN {channel}"));
        let me = self.nick.clone();
        let ch = channel.to_string();
        self.expect(move |l| {
            l.is("366")
                && l.param(0) == Some(&me)
                && l.param(1).is_some_and(|c| c.eq_ignore_ascii_case(&ch))
        })
        .await;
    }

    /// The next line matching `pred` (earlier lines stay in `log`); panics after [`WAIT`].
    pub async fn expect(&mut self, pred: impl Fn(&Line) -> bool) -> Line {
        self.expect_within(WAIT, pred).await.unwrap_or_else(|| {
            panic!(
                "{}: expected line not received ({}); got {:#?}",
                self.nick,
                if self.closed {
                    "the connection ended"
                } else {
                    "none came in time"
                },
                self.log.iter().rev().take(15).collect::<Vec<_>>()
            )
        })
    }

    pub async fn expect_within(
        &mut self,
        d: Duration,
        pred: impl Fn(&Line) -> bool,
    ) -> Option<Line> {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(l)) => {
                    self.log.push(l.clone());
                    if pred(&l) {
                        return Some(l);
                    }
                }
                Ok(None) => {
                    self.closed = true;
                    return None;
                }
                Err(_) => return None,
            }
        }
    }

    /// Everything that arrives within `d`.
    pub async fn collect_for(&mut self, d: Duration) -> Vec<Line> {
        let deadline = tokio::time::Instant::now() + d;
        let mut got = Vec::new();
        while let Ok(Some(l)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            self.log.push(l.clone());
            got.push(l);
        }
        got
    }

    /// PRIVMSG texts to `channel` from `from`, waiting until `n` have arrived.
    pub async fn privmsgs(&mut self, channel: &str, from: &str, n: usize) -> Vec<Line> {
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + WAIT;
        while got.len() < n {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(l)) => {
                    self.log.push(l.clone());
                    if l.is("PRIVMSG")
                        && l.param(0).is_some_and(|c| c.eq_ignore_ascii_case(channel))
                        && l.sender_nick()
                            .is_some_and(|f| f.eq_ignore_ascii_case(from))
                    {
                        got.push(l);
                    }
                }
                _ => panic!(
                    "{}: only {} of {n} messages from {from} in {channel}: {got:#?}",
                    self.nick,
                    got.len()
                ),
            }
        }
        got
    }
}
