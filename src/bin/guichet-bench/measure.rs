//! The measurement run: import, cold start, query latencies, memory, disk, intake.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;

use super::generate::{self, Rng};

#[derive(clap::Args)]
pub struct RunArgs {
    /// Requests in the generated store.
    #[arg(long, default_value_t = 1_000_000)]
    requests: u64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Timed queries of each kind (after 200 of warm-up).
    #[arg(long, default_value_t = 2000)]
    iterations: usize,
    /// Concurrent clients for the intake measurement.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    #[arg(long, default_value_t = 10)]
    intake_seconds: u64,
    /// The `guichet` binary (default: next to this one).
    #[arg(long)]
    guichet: Option<PathBuf>,
    /// Where the dump and the data directory go (emptied first).
    #[arg(long)]
    work_dir: PathBuf,
}

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Percentiles of durations in milliseconds.
pub struct Stats(Vec<f64>);

impl Stats {
    pub fn at(&self, q: f64) -> f64 {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        v.get(((v.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0.0)
    }
}

fn server_timing(resp: &reqwest::Response) -> Option<f64> {
    let header = resp.headers().get("server-timing")?.to_str().ok()?;
    header.split("dur=").nth(1)?.split([',', ';']).next()?.trim().parse().ok()
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

async fn timed_gets(
    http: &reqwest::Client,
    token: &str,
    urls: &[String],
    iterations: usize,
) -> anyhow::Result<(Stats, Stats)> {
    let (mut server, mut client) = (Vec::new(), Vec::new());
    for (i, url) in urls.iter().cycle().take(iterations + 200).enumerate() {
        let started = Instant::now();
        let resp = http.get(url).bearer_auth(token).send().await?;
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        if !resp.status().is_success() {
            bail!("{url}: {}", resp.status());
        }
        let on_server = server_timing(&resp).context("no Server-Timing header")?;
        resp.bytes().await?;
        if i >= 200 {
            server.push(on_server);
            client.push(elapsed);
        }
    }
    Ok((Stats(server), Stats(client)))
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let guichet = match args.guichet {
        Some(path) => path,
        None => std::env::current_exe()?.with_file_name("guichet"),
    };
    let _ = std::fs::remove_dir_all(&args.work_dir);
    std::fs::create_dir_all(&args.work_dir)?;
    let dump = args.work_dir.join("bench.jsonl");
    let data = args.work_dir.join("data");
    let mut report = vec![format!("Requests stored: {}", args.requests)];

    let started = Instant::now();
    let file = std::io::BufWriter::new(std::fs::File::create(&dump)?);
    let generated = generate::generate(args.requests, args.seed, generate::default_now(), file)?;
    report.push(format!("generation: {:.1} s", started.elapsed().as_secs_f64()));

    let started = Instant::now();
    let out = Command::new(&guichet)
        .args(["import", dump.to_str().unwrap_or_default(), "--data-dir"])
        .arg(&data)
        .env("GUICHET_LOG", "warn")
        .output()?;
    if !out.status.success() {
        bail!("import failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    report.push(format!("import: {:.1} s", started.elapsed().as_secs_f64()));
    let _ = std::fs::remove_file(&dump);

    // Cold start: from spawn to the first successful readiness check.
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    let started = Instant::now();
    let child = Command::new(&guichet)
        .args(["serve", "--bind", "127.0.0.1:0", "--set", "http.intake_rate_per_minute=0", "--data-dir"])
        .arg(&data)
        .env("GUICHET_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()?;
    let pid = child.id();
    let mut server = Server { child, url: String::new() };
    loop {
        if let Ok(addr) = std::fs::read_to_string(data.join("http.addr")) {
            server.url = format!("http://{}", addr.trim());
            if http.get(format!("{}/readyz", server.url)).send().await.is_ok_and(|r| r.status().is_success()) {
                break;
            }
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("the server did not become ready");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let cold_start = started.elapsed().as_secs_f64();
    let out = Command::new(&guichet).args(["admin", "token", "--role", "admin", "--data-dir"]).arg(&data).output()?;
    let token = String::from_utf8(out.stdout)?.trim().to_owned();
    if token.is_empty() {
        bail!("no token: {}", String::from_utf8_lossy(&out.stderr));
    }

    let departments = ["technique", "environnement", "urbanisme", "police", "accueil", "etat-civil"];
    let statuses = ["received", "in_progress", "waiting"];
    let inbox: Vec<String> = departments
        .iter()
        .flat_map(|d| statuses.iter().map(move |s| (d, s)))
        .map(|(d, s)| format!("{}/api/v1/requests?department={d}&status={s}&sort=due&limit=50", server.url))
        .collect();
    let mut rng = Rng::new(7);
    let mut track: Vec<String> =
        generated.sample_codes.iter().map(|c| format!("{}/api/v1/track/{c}", server.url)).collect();
    for i in (1..track.len()).rev() {
        track.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let dashboard = vec![format!("{}/api/v1/dashboard", server.url)];
    let mut rows = Vec::new();
    for (name, urls, target) in [
        ("inbox page (department + status, by due date, 50 rows)", &inbox, "p99 ≤ 10 ms"),
        ("tracking lookup", &track, "p99 ≤ 2 ms"),
        ("dashboard counters", &dashboard, "≤ 20 ms"),
    ] {
        let (on_server, client) = timed_gets(&http, &token, urls, args.iterations).await?;
        rows.push(format!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} | {target} |",
            on_server.at(0.5),
            on_server.at(0.99),
            on_server.at(1.0),
            client.at(0.99)
        ));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = rss_mib(pid);
    let disk = dir_size(&data);

    // Durable intake: each 201 comes after the group flush and fsync.
    let url = format!("{}/api/v1/requests", server.url);
    let (rate, intake) = intake(&http, &url, args.clients, args.intake_seconds).await?;
    Command::new("kill").args(["-TERM", &pid.to_string()]).status()?;
    let _ = server.child.wait();

    println!("# guichet-bench run\n");
    for line in &report {
        println!("- {line}");
    }
    println!("- cold start: {cold_start:.2} s (target ≤ 2 s)");
    println!("- idle memory: {idle:.1} MiB (target ≤ 100 MB)");
    println!(
        "- size on disk: {:.1} MiB ({:.0} bytes per request)",
        disk as f64 / 1048576.0,
        disk as f64 / args.requests.max(1) as f64
    );
    println!(
        "- durable intake: {rate:.0} requests/s with {} clients (p50 {:.2} ms, p99 {:.2} ms; target ≥ 5,000/s)",
        args.clients,
        intake.at(0.5),
        intake.at(0.99)
    );
    println!("\n| query | server p50 (ms) | server p99 (ms) | server max (ms) | client p99 (ms) | target |");
    println!("|---|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
    Ok(())
}

/// Concurrent clients posting requests for `seconds`; returns requests/s and latencies.
pub async fn intake(http: &reqwest::Client, url: &str, clients: usize, seconds: u64) -> anyhow::Result<(f64, Stats)> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    let started = Instant::now();
    for c in 0..clients {
        let (http, url, stop) = (http.clone(), url.to_owned(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0u64;
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let body = json!({"category": "voirie", "description": format!("Nid-de-poule n°{i} signalé par le client {c}"),
                                  "location": {"address": "12 rue Victor Hugo, 67000 Strasbourg"}});
                let t = Instant::now();
                match http.post(&url).json(&body).send().await {
                    Ok(r) if r.status().as_u16() == 201 => {
                        let _ = r.bytes().await;
                        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    _ => failures += 1,
                }
                i += 1;
            }
            (latencies, failures)
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut latencies, mut failures) = (Vec::new(), 0);
    for t in tasks {
        let (l, f) = t.await?;
        latencies.extend(l);
        failures += f;
    }
    let rate = latencies.len() as f64 / started.elapsed().as_secs_f64();
    if failures > 0 {
        bail!("{failures} intake requests failed");
    }
    Ok((rate, Stats(latencies)))
}
