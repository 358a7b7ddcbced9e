//! Runs a real ngircd or inspircd on a free loopback port, in a temp dir, for one test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ngircd,
    Inspircd,
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Server password (ngircd `Password =`).
    pub password: Option<String>,
    /// Listen with TLS only (inspircd `ssl_gnutls`), with a certificate for `localhost` and
    /// 127.0.0.1 signed by a throwaway CA (see [`TestServer::ca_file`]).
    pub tls: bool,
}

pub struct TestServer {
    pub kind: Kind,
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

fn is_root() -> bool {
    // The effective uid from /proc, so the tests need no libc bindings.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn binary(name: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} is not installed (apt-get install -y ngircd inspircd)");
}

/// A port no other server of this test process was given, below the kernel's ephemeral
/// range: a port the kernel hands out (`:0`) can be handed out again while a restart test has
/// its server down, and two servers would then share it.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // 20000-31999: Linux hands out ephemeral ports from 32768 on. (The start used to go up to
    // 29950 with 10,000 ports above it, into that range, where a client connection's own port
    // could take a server's, or a readiness probe connect to itself.)
    let offset = (std::process::id() % 200) * 50;
    for _ in 0..2_000 {
        let n = u32::from(NEXT.fetch_add(1, Ordering::Relaxed));
        let port = 20_000 + ((offset + n) % 12_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port");
}

impl TestServer {
    pub fn start(kind: Kind) -> TestServer {
        TestServer::start_with(kind, Options::default())
    }

    pub fn start_with(kind: Kind, opts: Options) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        // The servers drop to (or run as) user irc and write their pid and log files here.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
                .expect("chmod temp dir");
        }
        let port = free_port();
        let mut s = TestServer {
            kind,
            port,
            dir,
            child: None,
        };
        if opts.tls {
            assert_eq!(kind, Kind::Inspircd, "TLS tests use inspircd");
            s.make_certificates();
        }
        s.write_config(&opts);
        s.spawn();
        s
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The CA certificate that signed the server's TLS certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir().join("ca.pem")
    }

    fn make_certificates(&self) {
        let d = self.dir();
        let run = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(d)
                .output()
                .expect("openssl (to make test certificates)");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut a = vec!["req", "-x509"];
        a.extend(ec);
        a.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Flare Test CA",
        ]);
        run(&a);
        let mut a = vec!["req"];
        a.extend(ec);
        a.extend([
            "-keyout",
            "key.pem",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=localhost",
        ]);
        run(&a);
        std::fs::write(
            d.join("ext.cnf"),
            "basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write ext.cnf");
        run(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ]);
        use std::os::unix::fs::PermissionsExt;
        for f in ["key.pem", "cert.pem", "ca.pem"] {
            std::fs::set_permissions(d.join(f), std::fs::Permissions::from_mode(0o644))
                .expect("chmod certificate");
        }
    }

    fn config_path(&self) -> PathBuf {
        match self.kind {
            Kind::Ngircd => self.dir().join("ngircd.conf"),
            Kind::Inspircd => self.dir().join("inspircd.conf"),
        }
    }

    fn write_config(&self, opts: &Options) {
        let run = self.dir().display().to_string();
        let port = self.port;
        let text = match self.kind {
            Kind::Ngircd => {
                let password = opts
                    .password
                    .as_ref()
                    .map(|p| format!("\tPassword = {p}\n"))
                    .unwrap_or_default();
                format!(
                    "[Global]\n\tName = ngircd.test.local\n\tInfo = test harness\n\
                     \tListen = 127.0.0.1\n\tPorts = {port}\n\tMotdPhrase = \"test harness\"\n\
                     \tPidFile = {run}/ngircd.pid\n\tServerUID = irc\n\tServerGID = irc\n{password}\
                     [Limits]\n\tMaxConnectionsIP = 0\n\tMaxNickLength = 30\n\tPingTimeout = 120\n\
                     \tPongTimeout = 20\n\tMaxPenaltyTime = 0\n\
                     [Options]\n\tDNS = no\n\tIdent = no\n\tPAM = no\n"
                )
            }
            Kind::Inspircd => {
                let password = opts
                    .password
                    .as_ref()
                    .map(|p| format!(" password=\"{p}\""))
                    .unwrap_or_default();
                let tls = if opts.tls {
                    format!(
                        "<module name=\"ssl_gnutls\">\n<sslprofile name=\"Clients\" provider=\"gnutls\" \
                         certfile=\"{run}/cert.pem\" keyfile=\"{run}/key.pem\" hash=\"sha256\" requestclientcert=\"no\">\n"
                    )
                } else {
                    String::new()
                };
                let profile = if opts.tls {
                    " sslprofile=\"Clients\""
                } else {
                    ""
                };
                format!(
                    "<server name=\"insp.test.local\" description=\"test harness\" network=\"TestNet\">\n\
                     <admin name=\"harness\" nick=\"harness\" email=\"harness@example.invalid\">\n{tls}\
                     <bind address=\"127.0.0.1\" port=\"{port}\" type=\"clients\"{profile}>\n\
                     <connect name=\"local\" allow=\"127.0.0.1\" timeout=\"20\" pingfreq=\"60\" localmax=\"500\" globalmax=\"500\"\n\
                     limit=\"500\" maxchans=\"50\" threshold=\"1000000\" commandrate=\"1000000000\" fakelag=\"off\"\n\
                     recvq=\"65536\" softsendq=\"33554432\" hardsendq=\"67108864\" useident=\"no\" resolvehostnames=\"no\"{password}>\n\
                     <pid file=\"{run}/inspircd.pid\">\n\
                     <log method=\"file\" type=\"* -USERINPUT -USEROUTPUT\" level=\"default\" target=\"{run}/inspircd.log\">\n\
                     <dns timeout=\"1\">\n\
                     <limits maxnick=\"30\" maxchan=\"64\" maxtopic=\"307\" maxline=\"512\">\n\
                     <module name=\"cap\">\n<module name=\"ircv3\">\n<module name=\"ircv3_capnotify\">\n\
                     <module name=\"ircv3_ctctags\">\n<module name=\"ircv3_msgid\">\n\
                     <module name=\"ircv3_servertime\">\n<module name=\"ircv3_echomessage\">\n\
                     <module name=\"ircv3_batch\">\n<module name=\"ircv3_labeledresponse\">\n"
                )
            }
        };
        std::fs::write(self.config_path(), text).expect("write server config");
    }

    fn spawn(&mut self) {
        let conf = self.config_path();
        let log = std::fs::File::create(self.dir().join("stdout.log")).expect("log file");
        let log2 = log.try_clone().expect("log file");
        let mut cmd = match self.kind {
            Kind::Ngircd => {
                let mut c = Command::new(binary("ngircd"));
                c.arg("-n").arg("-f").arg(&conf);
                c
            }
            Kind::Inspircd => {
                // InspIRCd refuses to run as root; setpriv execs it as irc (same pid, so
                // killing the child kills the server).
                let mut c = if is_root() {
                    let mut c = Command::new("setpriv");
                    c.args(["--reuid=irc", "--regid=irc", "--init-groups"])
                        .arg(binary("inspircd"));
                    c
                } else {
                    Command::new(binary("inspircd"))
                };
                c.arg("--config").arg(&conf).arg("--nofork");
                c
            }
        };
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2));
        let child = cmd.spawn().expect("start IRC server");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                let out =
                    std::fs::read_to_string(self.dir().join("stdout.log")).unwrap_or_default();
                panic!("{:?} exited early ({status}): {out}", self.kind);
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{:?} did not start listening on {}", self.kind, self.port);
    }

    /// Kills the server hard (as a crash would).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port with the same config.
    pub fn restart(&mut self) {
        self.kill();
        let start = Instant::now();
        // The old listener may linger for a moment.
        while start.elapsed() < Duration::from_secs(5) {
            if std::net::TcpListener::bind(("127.0.0.1", self.port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.spawn();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}
