//! Flare's own part of an IRC relay, timed on the wire: `tcpdump` captures the loopback
//! traffic to the IRC server, and the time from the person's line reaching Flare's socket to
//! Flare's copy leaving it is read off the kernel's capture timestamps. Nothing in Flare is
//! instrumented, so this is the same binary as deployed.
//!
//! On loopback a segment is captured once, when its sender hands it to the kernel; the line
//! is in Flare's receive queue from then on. So the figure is Flare's wake-up, parsing, engine,
//! commit and write, up to its `sendto`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Capture {
    child: Child,
    file: PathBuf,
}

/// One TCP segment with a payload.
pub struct Segment {
    pub at: Duration,
    pub from_port: u16,
    pub to_port: u16,
    pub payload: Vec<u8>,
}

impl Capture {
    /// Starts capturing TCP to and from `port` on loopback; `None` (with why on stderr) when
    /// tcpdump is missing or may not capture here.
    pub fn start(dir: &Path, port: u16) -> Option<Capture> {
        let file = dir.join("relay.pcap");
        let child = Command::new("tcpdump")
            .args(["-i", "lo", "-n", "-s", "0", "-w"])
            .arg(&file)
            .arg(format!("tcp port {port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn();
        let mut capture = match child {
            Ok(child) => Capture { child, file },
            Err(e) => {
                eprintln!("(no wire timing: tcpdump: {e})");
                return None;
            }
        };
        // tcpdump says "listening on lo" once the capture runs. On any failure below, dropping
        // `capture` kills it.
        let stderr = capture.child.stderr.take()?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut said = Vec::new();
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if line.contains("listening on") {
                    let _ = tx.send(Ok(()));
                    return;
                }
                said.push(line);
            }
            let _ = tx.send(Err(said.join("; ")));
        });
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => return Some(capture),
            Ok(Err(said)) => eprintln!("(no wire timing: tcpdump: {said})"),
            Err(_) => eprintln!("(no wire timing: tcpdump did not start)"),
        }
        None
    }

    /// Stops the capture (SIGINT, so tcpdump writes out what it buffered) and reads it.
    pub fn stop(mut self) -> Vec<Segment> {
        // libpcap hands packets over a block of its ring at a time, a block once full or
        // after its 1 s timeout (no immediate mode: tcpdump would wake for every packet,
        // beside what is being measured); what sits in an unfinished block at SIGINT is lost.
        std::thread::sleep(Duration::from_millis(1500));
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        match std::fs::read(&self.file) {
            Ok(bytes) => segments(&bytes).unwrap_or_else(|e| {
                eprintln!("(no wire timing: {e})");
                Vec::new()
            }),
            Err(e) => {
                eprintln!("(no wire timing: {}: {e})", self.file.display());
                Vec::new()
            }
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn u16_be(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// The TCP payloads of a pcap file (IPv4 over Ethernet or Linux cooked framing).
pub fn segments(pcap: &[u8]) -> Result<Vec<Segment>, String> {
    let word = |at: usize, le: bool| -> Option<u32> {
        let b: [u8; 4] = pcap.get(at..at + 4)?.try_into().ok()?;
        Some(if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let (le, nanos) = match pcap.get(0..4) {
        Some([0xd4, 0xc3, 0xb2, 0xa1]) => (true, false),
        Some([0x4d, 0x3c, 0xb2, 0xa1]) => (true, true),
        Some([0xa1, 0xb2, 0xc3, 0xd4]) => (false, false),
        Some([0xa1, 0xb2, 0x3c, 0x4d]) => (false, true),
        _ => return Err("not a pcap file".into()),
    };
    let link_header = match word(20, le) {
        Some(1) => 14,   // Ethernet (Linux's lo)
        Some(113) => 16, // Linux cooked v1
        Some(276) => 20, // Linux cooked v2
        other => return Err(format!("link type {other:?} not read")),
    };
    let mut out = Vec::new();
    let mut at = 24;
    while let (Some(sec), Some(frac), Some(len)) =
        (word(at, le), word(at + 4, le), word(at + 8, le))
    {
        let start = at + 16;
        let Some(frame) = pcap.get(start..start + len as usize) else {
            break;
        };
        at = start + len as usize;
        let ts = Duration::from_secs(sec.into())
            + if nanos {
                Duration::from_nanos(frac.into())
            } else {
                Duration::from_micros(frac.into())
            };
        let Some(ip) = frame.get(link_header..) else {
            continue;
        };
        if ip.first().map(|b| b >> 4) != Some(4) || ip.get(9) != Some(&6) {
            continue;
        }
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let Some(total) = u16_be(ip, 2).map(usize::from) else {
            continue;
        };
        let Some(tcp) = ip.get(ihl..total.min(ip.len())) else {
            continue;
        };
        let (Some(from_port), Some(to_port), Some(off)) =
            (u16_be(tcp, 0), u16_be(tcp, 2), tcp.get(12))
        else {
            continue;
        };
        let payload = tcp.get(usize::from(off >> 4) * 4..).unwrap_or_default();
        if !payload.is_empty() {
            out.push(Segment {
                at: ts,
                from_port,
                to_port,
                payload: payload.to_vec(),
            });
        }
    }
    Ok(out)
}

/// The keys (`{tag}-` and five digits) in the lines of a payload that hold `line_part`.
fn keys_in<'a>(payload: &'a [u8], line_part: &str, tag: &str) -> Vec<&'a [u8]> {
    let prefix = format!("{tag}-");
    let mut keys = Vec::new();
    for line in payload.split(|b| *b == b'\n') {
        let Ok(line) = std::str::from_utf8(line) else {
            continue;
        };
        if !line.contains(line_part) {
            continue;
        }
        if let Some(key) = line
            .find(&prefix)
            .and_then(|at| line.as_bytes().get(at..at + prefix.len() + 5))
        {
            keys.push(key);
        }
    }
    keys
}

/// For each key `{tag}-nnnnn` written to `source` by a person: the time from the first segment
/// that brought it to the relay's socket to the first one the relay wrote with its copy to
/// `copy`. The relay's socket is the one those copies come from. Keys not seen both ways are
/// left out.
pub fn relay_hops(
    segs: &[Segment],
    server_port: u16,
    source: &str,
    copy: &str,
    tag: &str,
) -> Vec<Duration> {
    let copy_line = format!("PRIVMSG {copy} :");
    let source_line = format!("PRIVMSG {source} :");
    let mut relay_port = None;
    let mut written: HashMap<&[u8], Duration> = HashMap::new();
    for s in segs.iter().filter(|s| s.to_port == server_port) {
        for k in keys_in(&s.payload, &copy_line, tag) {
            relay_port.get_or_insert(s.from_port);
            written.entry(k).or_insert(s.at);
        }
    }
    let Some(relay_port) = relay_port else {
        return Vec::new();
    };
    let mut reached: HashMap<&[u8], Duration> = HashMap::new();
    for s in segs
        .iter()
        .filter(|s| s.from_port == server_port && s.to_port == relay_port)
    {
        for k in keys_in(&s.payload, &source_line, tag) {
            reached.entry(k).or_insert(s.at);
        }
    }
    reached
        .iter()
        .filter_map(|(k, r)| written.get(k)?.checked_sub(*r))
        .collect()
}
