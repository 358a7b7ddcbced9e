//! Relay benchmark with every platform connected to one Flare: a real inspircd (flood limits
//! lifted, Flare's own IRC pacing raised), the fake Slack and the fake Rocket.Chat.
//!
//! - IRC -> IRC end to end: person A writes `INC-1: ...` in `#ops`, person B reads the copy in
//!   `#ops2` (both incident channels of the same network), against the bare server hop
//!   (A -> B in the same channel);
//! - fake Slack -> fake Rocket.Chat: a person posts in the Slack thread, the copy is seen in
//!   the Rocket.Chat thread;
//! - each paced (200 at 10/s) and as a burst of 1,000 back to back (throughput, p99, lost);
//! - idle RSS and CPU per relayed message of a real `flare run` process;
//! - at DEFAULT IRC flood limits (1 line/s, burst 4): a relayed IRC -> IRC burst of 1,000,
//!   how long until `#ops2` has caught up (last line out) and how many lines that took, with
//!   packing only (`relay_backlog_limit = 0`) and with the default backlog summary
//!   (`FLARE_BENCH_ONLY=irc-default` runs only this).
//!
//! Run: `cargo bench --bench relay` (needs inspircd). Without `--bench` (as under
//! `cargo test --all-targets`) it runs a smoke version in a few seconds.

mod capture;
mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::full;
use support::irc::client::TestClient;
use support::mirror::{Extras, INC, World, from_flare, text_of};
use support::stats::{ms, percentile, status_kib};

struct Sizes {
    paced: usize,
    burst: usize,
}

/// `name n=… p50 … p95 … p99 … max …` for sorted latencies.
fn figures(name: &str, sorted: &[Duration]) -> String {
    format!(
        "{name:<34} n={:<5} p50 {:>10} p95 {:>10} p99 {:>10} max {:>10}",
        sorted.len(),
        ms(percentile(sorted, 0.50)),
        ms(percentile(sorted, 0.95)),
        ms(percentile(sorted, 0.99)),
        ms(sorted.last().copied().unwrap_or_default()),
    )
}

fn report(name: &str, mut lat: Vec<Duration>, sent: usize, elapsed: Option<Duration>) {
    lat.sort();
    let lost = sent - lat.len();
    let rate = elapsed
        .map(|e| format!(", {:.0} msg/s", lat.len() as f64 / e.as_secs_f64()))
        .unwrap_or_default();
    println!("{}{rate}, lost {lost}", figures(name, &lat));
}

/// Like `report`, for times read off a capture: a line cut across two segments is not
/// matched, which is not a loss.
fn report_wire(name: &str, mut lat: Vec<Duration>, sent: usize) {
    lat.sort();
    println!(
        "{} ({} of {sent} matched in the capture)",
        figures(name, &lat),
        lat.len()
    );
}

/// Sends `n` lines from `a` to `channel` (paced at `every`, or back to back) and times their
/// arrival at `b` in `watch`, matched by a unique tag.
#[allow(clippy::too_many_arguments)]
async fn irc_run(
    a: &TestClient,
    b: &mut TestClient,
    channel: &str,
    watch: &str,
    prefix: &str,
    tag: &str,
    n: usize,
    every: Option<Duration>,
) -> (Vec<Duration>, Duration) {
    let mut sent_at = HashMap::new();
    let mut lat = Vec::with_capacity(n);
    let start = Instant::now();
    let key = |i: usize| format!("{tag}-{i:05}");
    let recv = |l: &support::irc::client::Line| -> Option<String> {
        if !(l.is("PRIVMSG") && l.param(0).is_some_and(|c| c.eq_ignore_ascii_case(watch))) {
            return None;
        }
        let t = text_of(l);
        let at = t.find(&format!("{tag}-"))?;
        Some(t[at..].chars().take(tag.len() + 6).collect())
    };
    match every {
        Some(every) => {
            for i in 0..n {
                let k = key(i);
                let t0 = Instant::now();
                a.say(channel, &format!("{prefix}{k}"));
                if let Some(_l) = b
                    .expect_within(Duration::from_secs(5), |l| recv(l).as_deref() == Some(&k))
                    .await
                {
                    lat.push(t0.elapsed());
                }
                let next = start + every * (i as u32 + 1);
                tokio::time::sleep_until(next.into()).await;
            }
        }
        None => {
            for i in 0..n {
                sent_at.insert(key(i), Instant::now());
                a.say(channel, &format!("{prefix}{}", key(i)));
            }
            let deadline = Instant::now() + Duration::from_secs(120);
            while lat.len() < n && Instant::now() < deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                let Some(l) = b
                    .expect_within(left.min(Duration::from_secs(10)), |l| recv(l).is_some())
                    .await
                else {
                    break;
                };
                if let Some(t0) = recv(&l).and_then(|k| sent_at.remove(&k)) {
                    lat.push(t0.elapsed());
                }
            }
            b.log.clear();
        }
    }
    b.log.clear();
    (lat, start.elapsed())
}

/// Posts `n` messages in the Slack thread and times the copies' arrival in Rocket.Chat.
async fn slack_to_rc(
    world: &World,
    slack_root: &str,
    rc_root: &str,
    tag: &str,
    n: usize,
    every: Option<Duration>,
) -> (Vec<Duration>, Duration) {
    let key = |i: usize| format!("{tag}-{i:05}");
    let seen = |k: &str| !world.rc_copies(rc_root, k).is_empty();
    let mut lat = Vec::with_capacity(n);
    let start = Instant::now();
    match every {
        Some(every) => {
            for i in 0..n {
                let k = key(i);
                let t0 = Instant::now();
                world.slack.user_posts(INC, "U0ALICE", &k, Some(slack_root));
                let deadline = t0 + Duration::from_secs(5);
                while !seen(&k) && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
                if seen(&k) {
                    lat.push(t0.elapsed());
                }
                tokio::time::sleep_until((start + every * (i as u32 + 1)).into()).await;
            }
        }
        None => {
            let mut sent_at = HashMap::new();
            for i in 0..n {
                sent_at.insert(key(i), Instant::now());
                world
                    .slack
                    .user_posts(INC, "U0ALICE", &key(i), Some(slack_root));
            }
            let deadline = Instant::now() + Duration::from_secs(120);
            while !sent_at.is_empty() && Instant::now() < deadline {
                let now = Instant::now();
                for m in world.rc_copies(rc_root, &format!("{tag}-")) {
                    if let Some(t0) = sent_at.remove(&m.msg) {
                        lat.push(now - t0);
                    }
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
    (lat, start.elapsed())
}

/// Set to a directory, the `flare` process runs under `valgrind --tool=callgrind` and the bench
/// prints the instructions it executed per relayed message (IRC-only run), leaving callgrind's
/// counts in that directory for `callgrind_annotate`: a CPU figure the other guests on this
/// VM's host cannot move, unlike CPU time. Every time the bench prints then is valgrind's, not
/// Flare's.
const CALLGRIND_ENV: &str = "FLARE_BENCH_CALLGRIND";

/// Callgrind counting in the `flare` process from `start` to `report`.
struct Instructions {
    pid: u32,
    dir: std::path::PathBuf,
}

impl Instructions {
    fn control(pid: u32, args: &[&str]) {
        let done = std::process::Command::new("callgrind_control")
            .args(args)
            .arg(pid.to_string())
            .stdout(std::process::Stdio::null())
            .status();
        assert!(
            done.is_ok_and(|s| s.success()),
            "callgrind_control {args:?} failed"
        );
    }

    /// `flare` under callgrind, counting nothing until `start`; clears `dir` of an earlier
    /// run's counts, which would be taken for this one's.
    fn command(dir: &std::path::Path, flare: &str) -> std::process::Command {
        std::fs::create_dir_all(dir).expect("the callgrind directory");
        for old in std::fs::read_dir(dir)
            .expect("the callgrind directory")
            .flatten()
        {
            if old
                .file_name()
                .to_string_lossy()
                .starts_with("callgrind.out")
            {
                let _ = std::fs::remove_file(old.path());
            }
        }
        let mut c = std::process::Command::new("valgrind");
        c.arg("--tool=callgrind")
            .arg("--instr-atstart=no")
            .arg(format!(
                "--callgrind-out-file={}",
                dir.join("callgrind.out").display()
            ))
            .arg(flare);
        c
    }

    fn start(pid: u32, dir: &std::path::Path) -> Instructions {
        Instructions::control(pid, &["-i", "on"]);
        Instructions {
            pid,
            dir: dir.to_path_buf(),
        }
    }

    /// Dumps the counts since `start` (callgrind writes `callgrind.out.N`, N = 1, 2, ...) and
    /// prints them per message.
    fn report(self, phase: &str, messages: usize) {
        Instructions::control(self.pid, &["-d"]);
        Instructions::control(self.pid, &["-i", "off"]);
        let latest = std::fs::read_dir(&self.dir)
            .expect("the bench's directory")
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let n: u32 = name.strip_prefix("callgrind.out.")?.parse().ok()?;
                Some((n, e.path()))
            })
            .max();
        let totals = latest
            .and_then(|(_, p)| std::fs::read_to_string(p).ok())
            .and_then(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix("totals: ")?.trim().parse::<u64>().ok())
            })
            .expect("callgrind's totals");
        println!(
            "flare process (IRC only), {phase}: {totals} instructions for {messages} messages, {:.0} per message",
            totals as f64 / messages.max(1) as f64
        );
    }
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The sum over a process's threads of what `count` reads off each thread's `file` in
/// `/proc/<pid>/task/<tid>/`.
fn per_thread(pid: u32, file: &str, count: impl Fn(&str) -> u64) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join(file)).ok())
        .map(|s| count(&s))
        .sum()
}

/// CPU time a process has used so far, in nanoseconds: the time on a CPU from each thread's
/// `schedstat` (utime + stime in `stat` count 10 ms ticks, too coarse for a burst that takes
/// tens of milliseconds of CPU).
fn cpu_ns(pid: u32) -> u64 {
    per_thread(pid, "schedstat", |s| {
        s.split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    })
}

/// Context switches (voluntary and not) of all of a process's threads so far: each is a
/// thread going to sleep or being put off a CPU, the hand-offs CPU time goes into.
fn switches(pid: u32) -> u64 {
    per_thread(pid, "status", |s| {
        s.lines()
            .filter(|l| l.contains("ctxt_switches:"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum()
    })
}

/// CPU time the hypervisor gave to other guests while this machine's CPUs wanted to run
/// (`steal` in /proc/stat), in milliseconds: a run that lost much of it measured a busy host.
fn steal_ms() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks = stat
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(8)?.parse::<u64>().ok())
        .unwrap_or(0);
    // USER_HZ is 100 on Linux.
    ticks * 10
}

async fn in_process(s: &Sizes) {
    let world = World::start().await;
    let mut a = world.person("alice", &["#ops"]).await;
    let mut b = world.person("bea", &["#ops", "#ops2"]).await;
    let extras = Extras {
        second_irc_channel: true,
        irc_lines_per_second: Some(1_000_000.0),
        ..Default::default()
    };
    let flare = support::start(
        &world.toml(&extras),
        Arc::new(flare::clock::SystemClock),
        false,
    )
    .await;
    world.wait_connected(&mut a).await;
    a.say("#ops", "!inc open relay benchmark");
    b.expect(|l| from_flare(l, "#ops2") && text_of(l).contains("relay benchmark"))
        .await;
    let slack_root = world.slack_root(INC, 1).await;
    let rc_root = world.rc_root(1).await;
    // Warm up (and take the first-reply acknowledgement out of the way).
    a.say("#ops", "INC-1: warm up");
    b.expect(|l| from_flare(l, "#ops2") && text_of(l).contains("warm up"))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    b.log.clear();

    let pace = Some(Duration::from_millis(100));
    let (lat, _) = irc_run(&a, &mut b, "#ops", "#ops", "", "hop", s.paced, pace).await;
    report("bare server hop, paced 10/s", lat, s.paced, None);
    let (lat, _) = irc_run(&a, &mut b, "#ops", "#ops2", "INC-1: ", "pr", s.paced, pace).await;
    report("IRC -> IRC via Flare, paced 10/s", lat, s.paced, None);
    assert!(flare.running.flush(Duration::from_secs(60)).await);
    let (lat, el) = irc_run(&a, &mut b, "#ops", "#ops", "", "hb", s.burst, None).await;
    report("bare server hop, burst", lat, s.burst, Some(el));
    let (lat, el) = irc_run(&a, &mut b, "#ops", "#ops2", "INC-1: ", "br", s.burst, None).await;
    report("IRC -> IRC via Flare, burst", lat, s.burst, Some(el));
    assert!(flare.running.flush(Duration::from_secs(120)).await);

    let (lat, _) = slack_to_rc(&world, &slack_root, &rc_root, "sp", s.paced, pace).await;
    report("Slack -> Rocket.Chat, paced 10/s", lat, s.paced, None);
    assert!(flare.running.flush(Duration::from_secs(60)).await);
    let (lat, el) = slack_to_rc(&world, &slack_root, &rc_root, "sb", s.burst, None).await;
    report("Slack -> Rocket.Chat, burst", lat, s.burst, Some(el));
    let st = &flare.running.stats;
    println!(
        "deliveries: {} sent, {} retried, {} failed",
        st.sent.load(std::sync::atomic::Ordering::Relaxed),
        st.retried.load(std::sync::atomic::Ordering::Relaxed),
        st.failed.load(std::sync::atomic::Ordering::Relaxed)
    );
    flare.running.shutdown(Duration::from_secs(5)).await;
}

/// Issue 20, item 21: Flare's own IRC pacing at its defaults (1 line/s, burst 4), a burst of
/// `n` relayed from `#ops` to `#ops2`: time until the last line of it is out, and how many
/// lines it took; `limit` is `relay_backlog_limit` (None: the default).
async fn default_limits_run(n: usize, limit: Option<u32>) {
    let world = World::start().await;
    let mut a = world.person("alice", &["#ops"]).await;
    let mut b = world.person("bea", &["#ops", "#ops2"]).await;
    let extras = Extras {
        second_irc_channel: true,
        irc_lines_per_second: Some(1.0),
        irc_only: true,
        ..Default::default()
    };
    let limit_line = limit
        .map(|l| format!("relay_backlog_limit = {l}\n"))
        .unwrap_or_default();
    // The server's own flood limits stay lifted for the people; Flare paces itself.
    let toml = world
        .toml(&extras)
        .replace("burst = 1000\n", &format!("burst = 4\n{limit_line}"));
    let flare = support::start(&toml, Arc::new(flare::clock::SystemClock), false).await;
    a.expect(|l| l.is("JOIN") && l.sender_nick() == Some("flare"))
        .await;
    a.say("#ops", "!inc open relay benchmark at default limits");
    b.expect(|l| from_flare(l, "#ops2") && text_of(l).contains("relay benchmark"))
        .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    b.log.clear();
    let start = Instant::now();
    for i in 0..n {
        a.say("#ops", &format!("INC-1: dl-{i:05}"));
    }
    let (mut shown, mut summarised, mut lines, mut summaries) = (0usize, 0usize, 0usize, 0usize);
    let mut last = start;
    let deadline = start + Duration::from_secs(1500);
    while shown + summarised < n && Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(l) = b
            .expect_within(left.min(Duration::from_secs(60)), |l| {
                from_flare(l, "#ops2")
                    && (text_of(l).contains("dl-") || text_of(l).contains("more relayed"))
            })
            .await
        else {
            break;
        };
        last = Instant::now();
        lines += 1;
        let t = text_of(&l);
        match t.find(" more relayed message") {
            Some(at) => {
                let head = &t[..at];
                let count = head
                    .rsplit(' ')
                    .next()
                    .and_then(|c| c.parse::<usize>().ok());
                summarised += count.unwrap_or(0);
                summaries += 1;
            }
            None => shown += t.matches("dl-").count(),
        }
    }
    let what = match limit {
        Some(0) => "packing only (relay_backlog_limit = 0)".to_string(),
        Some(l) => format!("relay_backlog_limit = {l}"),
        None => "default relay_backlog_limit".to_string(),
    };
    println!(
        "IRC at default flood limits, {what}: burst of {n}, last line out after {:.1} s, \
         {lines} lines ({summaries} of them summaries); {shown} shown, {summarised} summarised, \
         lost {}",
        (last - start).as_secs_f64(),
        n - shown - summarised
    );
    flare.running.shutdown(Duration::from_secs(5)).await;
}

async fn default_limits(s: &Sizes) {
    default_limits_run(s.burst, None).await;
    default_limits_run(s.burst, Some(0)).await;
}

/// A real `flare run`: idle RSS and CPU per relayed message, with every platform connected
/// (each message makes 4 copies: IRC `#ops2`, two Slack threads, Rocket.Chat) and as a plain
/// IRC -> IRC relay (1 copy, the setup the matterbridge figures were measured on).
async fn process(s: &Sizes, irc_only: bool) {
    let world = World::start().await;
    let mut a = world.person("alice", &["#ops"]).await;
    let mut b = world.person("bea", &["#ops", "#ops2"]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let extras = Extras {
        second_irc_channel: true,
        irc_lines_per_second: Some(1_000_000.0),
        database: Some(format!("sqlite://{}/flare.db", dir.path().display())),
        irc_only,
        ..Default::default()
    };
    let copies = if irc_only { 1 } else { 4 };
    let what = if irc_only {
        "IRC only"
    } else {
        "all platforms"
    };
    let config = dir.path().join("flare.toml");
    std::fs::write(&config, world.toml(&extras)).expect("config");
    let bin =
        std::env::var("FLARE_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_flare").into());
    let callgrind_dir = std::env::var_os(CALLGRIND_ENV).map(std::path::PathBuf::from);
    let mut command = match &callgrind_dir {
        Some(cg) => Instructions::command(cg, &bin),
        None => std::process::Command::new(bin),
    };
    let child = command
        .arg("--config")
        .arg(&config)
        .arg("run")
        .env("FLARE_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("flare starts");
    // Killed when this run ends, also when it panics part-way.
    let child = KillOnDrop(child);
    let pid = child.0.id();
    if irc_only {
        a.expect(|l| l.is("JOIN") && l.sender_nick() == Some("flare"))
            .await;
    } else {
        world.wait_connected(&mut a).await;
    }
    a.say("#ops", "!inc open process benchmark");
    b.expect(|l| from_flare(l, "#ops2") && text_of(l).contains("process benchmark"))
        .await;
    a.say("#ops", "INC-1: warm up");
    b.expect(|l| from_flare(l, "#ops2") && text_of(l).contains("warm up"))
        .await;
    tokio::time::sleep(Duration::from_secs(if full() { 5 } else { 1 })).await;
    let idle = status_kib(pid, "VmRSS:");
    let (anon, file) = (status_kib(pid, "RssAnon:"), status_kib(pid, "RssFile:"));
    let threads = status_kib(pid, "Threads:");
    if irc_only {
        // Paced, against the bare server hop measured the same way in the same minute.
        let pace = Some(Duration::from_millis(100));
        let wire = capture::Capture::start(dir.path(), world.irc.port);
        let (lat, _) = irc_run(&a, &mut b, "#ops", "#ops", "", "php", s.paced, pace).await;
        report("bare server hop, paced 10/s", lat, s.paced, None);
        let counting = callgrind_dir
            .as_deref()
            .map(|cg| Instructions::start(pid, cg));
        let (lat, _) = irc_run(&a, &mut b, "#ops", "#ops2", "INC-1: ", "pp", s.paced, pace).await;
        report("flare process (IRC only): paced 10/s", lat, s.paced, None);
        if let Some(c) = counting {
            c.report("paced 10/s", s.paced);
        }
        if let Some(wire) = wire {
            let hops = capture::relay_hops(&wire.stop(), world.irc.port, "#ops", "#ops2", "pp");
            report_wire(WIRE_PACED, hops, s.paced);
        }
        floor(&world, &mut a, &mut b, s, dir.path()).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let before = cpu_ns(pid);
    let switched = switches(pid);
    let stolen = steal_ms();
    let counting = callgrind_dir
        .as_deref()
        .filter(|_| irc_only)
        .map(|cg| Instructions::start(pid, cg));
    let (lat, el) = irc_run(&a, &mut b, "#ops", "#ops2", "INC-1: ", "cpu", s.burst, None).await;
    let relayed = lat.len();
    if let Some(c) = counting {
        c.report("burst", relayed);
    }
    if !irc_only {
        // Every copy (IRC, two Slack threads, Rocket.Chat) out before CPU is read.
        let rc_root = world.rc_root(1).await;
        let deadline = Instant::now() + Duration::from_secs(60);
        while world.rc_copies(&rc_root, "cpu-").len() < s.burst && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cpu_ns_used = cpu_ns(pid).saturating_sub(before);
    let switched = switches(pid).saturating_sub(switched);
    let stolen = steal_ms().saturating_sub(stolen);
    // The checkpoint that copies the burst's WAL frames into the database comes in the first
    // pause after it (docs/architecture.md): part of what relaying costs, so measured too,
    // less what the same process uses idle over as long.
    let with_checkpoint = if full() {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let all = cpu_ns(pid).saturating_sub(before);
        let idle_from = cpu_ns(pid);
        tokio::time::sleep(Duration::from_millis(2000)).await;
        let idle = cpu_ns(pid).saturating_sub(idle_from);
        Some(all.saturating_sub(idle) as f64 / 1e6)
    } else {
        None
    };
    let peak = status_kib(pid, "VmHWM:");
    report(
        &format!("flare process ({what}): IRC -> IRC, burst"),
        lat,
        s.burst,
        Some(el),
    );
    let cpu_ms = cpu_ns_used as f64 / 1e6;
    println!(
        "flare process ({what}): idle RSS {:.1} MiB (anon {:.1}, file {:.1}, {threads} threads), \
         peak {:.1} MiB; CPU {:.1} ms for {relayed} inbound messages ({} deliveries): \
         {:.3} ms per message, {:.3} ms per delivery; {:.2} context switches per message; {stolen} ms stolen by the hypervisor meanwhile",
        idle as f64 / 1024.0,
        anon as f64 / 1024.0,
        file as f64 / 1024.0,
        peak as f64 / 1024.0,
        cpu_ms,
        relayed * copies,
        cpu_ms / relayed.max(1) as f64,
        cpu_ms / (relayed * copies).max(1) as f64,
        switched as f64 / relayed.max(1) as f64,
    );
    if let Some(all_ms) = with_checkpoint {
        println!(
            "flare process ({what}): CPU with the WAL checkpoint after the burst (less idle): \
             {all_ms:.1} ms, {:.3} ms per message",
            all_ms / relayed.max(1) as f64,
        );
    }
    if irc_only {
        // Flare's own part of a burst, timed on the wire; apart from the burst above, whose CPU
        // figure a capture running beside it would disturb.
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Some(wire) = capture::Capture::start(dir.path(), world.irc.port) {
            let (lat, el) =
                irc_run(&a, &mut b, "#ops", "#ops2", "INC-1: ", "wb", s.burst, None).await;
            let hops = capture::relay_hops(&wire.stop(), world.irc.port, "#ops", "#ops2", "wb");
            report(
                "flare process (IRC only): burst again, end to end",
                lat,
                s.burst,
                Some(el),
            );
            report_wire(WIRE_BURST, hops, s.burst);
        }
    }
    drop(child);
}

/// The floor under any relay: a process that does nothing but copy `#floor` lines to `#floor2`
/// on the same server (blocking sockets, one thread, no parsing beyond finding the text, no
/// storage). Person -> server -> this -> server -> person against person -> server -> person
/// shows what the extra server hop alone costs on this host, which no relay can avoid.
fn floor_relay(port: u16) -> ! {
    use std::io::{BufRead, BufReader, Write};
    let stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("floor relay connects");
    let _ = stream.set_nodelay(true);
    let mut out = stream.try_clone().expect("socket clone");
    let mut lines = BufReader::new(stream);
    out.write_all(b"NICK floor\r\nUSER floor 0 * :floor relay\r\n")
        .expect("register");
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).unwrap_or(0) == 0 {
            std::process::exit(0);
        }
        let l = line.trim_end();
        if let Some(token) = l.strip_prefix("PING ") {
            let _ = out.write_all(format!("PONG {token}\r\n").as_bytes());
        } else if l.split(' ').nth(1) == Some("001") {
            let _ = out.write_all(b"JOIN #floor,#floor2\r\n");
        } else if let Some(at) = l.find(" PRIVMSG #floor :") {
            let nick = l[1..].split('!').next().unwrap_or("?");
            let text = &l[at + " PRIVMSG #floor :".len()..];
            let _ = out.write_all(format!("PRIVMSG #floor2 :<{nick}> {text}\r\n").as_bytes());
        }
    }
}

const FLOOR_RELAY_ENV: &str = "FLARE_BENCH_FLOOR_RELAY_PORT";

/// The floor relay, paced like Flare, in the same minute.
async fn floor(
    world: &World,
    a: &mut TestClient,
    b: &mut TestClient,
    s: &Sizes,
    dir: &std::path::Path,
) {
    let exe = std::env::current_exe().expect("bench binary");
    let child = std::process::Command::new(exe)
        .env(FLOOR_RELAY_ENV, world.irc.port.to_string())
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("floor relay starts");
    let _child = KillOnDrop(child);
    a.join("#floor").await;
    // Bea reads the source channel too, as she does `#ops` in Flare's run: the server writes
    // each line to her as well, and her client wakes for it.
    b.join("#floor").await;
    b.join("#floor2").await;
    b.expect(|l| l.is("JOIN") && l.sender_nick() == Some("floor"))
        .await;
    a.say("#floor", "warm up");
    b.expect(|l| l.is("PRIVMSG") && text_of(l).contains("warm up"))
        .await;
    let pace = Some(Duration::from_millis(100));
    let wire = capture::Capture::start(dir, world.irc.port);
    let (lat, _) = irc_run(a, b, "#floor", "#floor2", "", "fl", s.paced, pace).await;
    report("floor relay (no work), paced 10/s", lat, s.paced, None);
    if let Some(wire) = wire {
        let hops = capture::relay_hops(&wire.stop(), world.irc.port, "#floor", "#floor2", "fl");
        report_wire("floor relay's own hop (wire), paced 10/s", hops, s.paced);
    }
}

/// Line received on Flare's socket -> its copy written by Flare, from the capture's times.
const WIRE_PACED: &str = "flare process (IRC only): Flare's own hop (wire), paced 10/s";
const WIRE_BURST: &str = "flare process (IRC only): Flare's own hop (wire), burst";

#[tokio::main]
async fn main() {
    if let Some(port) = std::env::var(FLOOR_RELAY_ENV)
        .ok()
        .and_then(|p| p.parse().ok())
    {
        floor_relay(port);
    }
    support::TEST_LOG.store(false, std::sync::atomic::Ordering::Relaxed);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let s = if full() {
        Sizes {
            paced: 200,
            burst: 1000,
        }
    } else {
        Sizes {
            paced: 5,
            burst: 30,
        }
    };
    // FLARE_BENCH_ONLY=process: only the real `flare run` (FLARE_BENCH_BIN picks its binary);
    // =irc-process: only its IRC-only run (for a profiler); =irc-default: only the relay at
    // default IRC flood limits.
    let only = std::env::var("FLARE_BENCH_ONLY").unwrap_or_default();
    if only == "irc-default" {
        default_limits(&s).await;
        return;
    }
    if only.is_empty() {
        in_process(&s).await;
        default_limits(&s).await;
    }
    if only != "irc-process" {
        process(&s, false).await;
    }
    process(&s, true).await;
}
