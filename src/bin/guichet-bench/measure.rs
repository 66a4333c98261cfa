//! The measurement run: generate, import, cold start, query latencies, memory, disk, intake.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use guichet::domain::status::Status;
use guichet::service::catalogue::default_departments;
use jiff::Timestamp;

use super::generate::{self, Generated, Rng};
use super::report::{self, QueryRow, Row, Stats, mib};

#[derive(clap::Args)]
pub struct RunArgs {
    /// What to generate (ignored with `--dump`).
    #[command(flatten)]
    data: generate::DataArgs,
    /// Import this dump instead of generating one.
    #[arg(long, value_name = "FILE")]
    dump: Option<PathBuf>,
    /// Timed queries of each kind.
    #[arg(long, default_value_t = 2000)]
    iterations: usize,
    /// Untimed queries of each kind before the timed ones.
    #[arg(long, default_value_t = 200)]
    warmup: usize,
    /// Concurrent clients for the intake measurement.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    #[arg(long, default_value_t = 10)]
    intake_seconds: u64,
    /// Intake measurements in a row; the median is reported.
    #[arg(long, default_value_t = 3)]
    intake_runs: usize,
    /// The `guichet` binary (default: next to this one).
    #[arg(long, value_name = "PATH")]
    guichet: Option<PathBuf>,
    /// Where the generated dump, the data directory and the server log go. The data
    /// directory (`WORK_DIR/data`) is emptied first.
    #[arg(long, value_name = "DIR")]
    work_dir: PathBuf,
}

/// The server process; killed if the run stops early.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn server_timing(resp: &reqwest::Response) -> Option<f64> {
    let header = resp.headers().get("server-timing")?.to_str().ok()?;
    header.split("dur=").nth(1)?.split([',', ';']).next()?.trim().parse().ok()
}

/// The last lines of the server log, for error messages.
fn log_tail(path: &Path) -> String {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Latencies of one kind of GET, and what went wrong.
struct Measured {
    server: Stats,
    client: Stats,
    /// Mean number of `items` in the answers (list queries only).
    mean_items: Option<f64>,
    failures: u64,
    first_failure: Option<String>,
}

/// Sequential GETs cycling over `urls`: `warmup` untimed, then `iterations` timed.
/// How the timed queries authenticate: an API token, or a browser session's cookie (pages).
enum Auth<'a> {
    Bearer(&'a str),
    Cookie(&'a str),
}

async fn timed_gets(
    http: &reqwest::Client,
    auth: Auth<'_>,
    urls: &[String],
    warmup: usize,
    iterations: usize,
) -> anyhow::Result<Measured> {
    let (mut server, mut client) = (Vec::with_capacity(iterations), Vec::with_capacity(iterations));
    let (mut failures, mut first_failure) = (0, None);
    let (mut items, mut lists) = (0usize, 0usize);
    for (i, url) in urls.iter().cycle().take(warmup + iterations).enumerate() {
        let started = Instant::now();
        let outcome = async {
            let request = match auth {
                Auth::Bearer(token) => http.get(url).bearer_auth(token),
                Auth::Cookie(cookie) => http.get(url).header(reqwest::header::COOKIE, cookie),
            };
            let resp = request.send().await?;
            let status = resp.status();
            let on_server = server_timing(&resp);
            let body = resp.bytes().await?;
            anyhow::Ok((status, on_server, body))
        }
        .await;
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        let failure = match outcome {
            Ok((status, Some(on_server), body)) if status.is_success() => {
                if i >= warmup {
                    server.push(on_server);
                    client.push(elapsed);
                }
                if let Ok(list) = serde_json::from_slice::<serde_json::Value>(&body)
                    && let Some(page) = list.get("items").and_then(|v| v.as_array())
                {
                    items += page.len();
                    lists += 1;
                }
                None
            }
            Ok((status, None, _)) if status.is_success() => Some(format!("{url}: no Server-Timing header")),
            Ok((status, _, body)) => Some(format!("{url}: {status} {}", String::from_utf8_lossy(&body))),
            Err(e) => Some(format!("{url}: {e:#}")),
        };
        if let Some(failure) = failure {
            failures += 1;
            first_failure.get_or_insert(failure);
        }
    }
    Ok(Measured {
        server: Stats::new(server),
        client: Stats::new(client),
        mean_items: (lists > 0).then(|| items as f64 / lists as f64),
        failures,
        first_failure,
    })
}

/// A browser session of a new admin: `guichet admin invite`, then its single-use link.
async fn session_cookie(guichet: &Path, data: &Path) -> anyhow::Result<String> {
    let link = guichet_command(
        guichet,
        &[
            "admin".as_ref(),
            "invite".as_ref(),
            "--email".as_ref(),
            "benchmark@mairie.example".as_ref(),
            "--role".as_ref(),
            "admin".as_ref(),
            "--data-dir".as_ref(),
            data.as_os_str(),
        ],
    )?;
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let resp = no_redirects.post(link.trim()).form(&[("confirm", "1")]).send().await?;
    let cookie = resp
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    cookie.ok_or_else(|| anyhow::anyhow!("the invitation link gave no session ({})", resp.status()))
}

/// Runs `guichet` with `args`, returning its standard output; fails on a non-zero exit.
fn guichet_command(guichet: &Path, args: &[&std::ffi::OsStr]) -> anyhow::Result<String> {
    let out = Command::new(guichet)
        .args(args)
        .env("GUICHET_LOG", "warn")
        .output()
        .with_context(|| format!("running {}", guichet.display()))?;
    if !out.status.success() {
        bail!("guichet {:?} failed ({}): {}", args, out.status, String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let guichet = match &args.guichet {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("guichet"),
    };
    std::fs::create_dir_all(&args.work_dir)?;
    let data = args.work_dir.join("data");
    if data.exists() {
        std::fs::remove_dir_all(&data).with_context(|| format!("emptying {}", data.display()))?;
    }
    let now = args.data.now.unwrap_or_else(generate::default_now);
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let mut failures: Vec<String> = Vec::new();

    // Data: generated, or an existing dump.
    let (dump, generated) = match &args.dump {
        Some(dump) => {
            let generated = generate::scan_dump(dump)?;
            notes.push(format!("dump {} reused (generation not measured)", dump.display()));
            (dump.clone(), generated)
        }
        None => {
            let dump = args.work_dir.join(format!("requests-{}-seed{}.jsonl", args.data.requests, args.data.seed));
            let started = Instant::now();
            let file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&dump)?);
            let generated = generate::generate(args.data.requests, args.data.seed, now, file)?;
            let secs = started.elapsed().as_secs_f64();
            let size = std::fs::metadata(&dump)?.len();
            rows.push(Row {
                metric: "generation",
                figure: format!(
                    "{secs:.1} s ({:.0} requests/s; dump {:.0} MiB)",
                    generated.requests as f64 / secs,
                    mib(size)
                ),
                target: "—",
                met: None,
            });
            (dump, generated)
        }
    };
    let Generated { requests, events, sample_codes, by_status } = &generated;
    if sample_codes.is_empty() {
        bail!("not enough requests for tracking lookups (at least 97 are needed)");
    }

    let started = Instant::now();
    let imported =
        guichet_command(&guichet, &["import".as_ref(), dump.as_os_str(), "--data-dir".as_ref(), data.as_os_str()])?;
    let secs = started.elapsed().as_secs_f64();
    rows.push(Row {
        metric: "import",
        figure: format!("{secs:.1} s ({:.0} requests/s)", *requests as f64 / secs),
        target: "—",
        met: None,
    });
    notes.push(format!("`guichet import` said: {imported}"));

    // Cold start: from spawn to the first 200 of /readyz.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients.max(1) * 2)
        .timeout(Duration::from_secs(60))
        .build()?;
    let log_path = args.work_dir.join("serve.log");
    let log = std::fs::File::create(&log_path)?;
    let started = Instant::now();
    let child = Command::new(&guichet)
        .args(["serve", "--bind", "127.0.0.1:0", "--set", "http.intake_rate_per_minute=0", "--data-dir"])
        .arg(&data)
        .env("GUICHET_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", guichet.display()))?;
    let pid = child.id();
    let mut server = Server { child, url: String::new() };
    loop {
        if let Ok(addr) = std::fs::read_to_string(data.join("http.addr")) {
            let url = format!("http://{}", addr.trim());
            let ready = http.get(format!("{url}/readyz")).timeout(Duration::from_secs(5)).send().await;
            if ready.is_ok_and(|r| r.status() == reqwest::StatusCode::OK) {
                server.url = url;
                break;
            }
        }
        if let Some(status) = server.child.try_wait()? {
            bail!("the server exited ({status}) before it was ready:\n{}", log_tail(&log_path));
        }
        if started.elapsed() > Duration::from_secs(300) {
            bail!("the server was not ready after 5 minutes:\n{}", log_tail(&log_path));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let cold_start = started.elapsed().as_secs_f64();
    rows.push(Row {
        metric: "cold start",
        figure: format!("{cold_start:.3} s (spawn to first 200 of /readyz, {requests} requests stored)"),
        target: "≤ 2 s",
        met: Some(cold_start <= 2.0),
    });
    let token = guichet_command(
        &guichet,
        &[
            "admin".as_ref(),
            "token".as_ref(),
            "--role".as_ref(),
            "admin".as_ref(),
            "--data-dir".as_ref(),
            data.as_os_str(),
        ],
    )?;
    if token.is_empty() {
        bail!("`guichet admin token` printed no token");
    }

    // Queries.
    let base = &server.url;
    let inbox: Vec<String> = default_departments()
        .iter()
        .flat_map(|d| Status::OPEN.map(|s| (d.id.clone(), s)))
        .map(|(d, s)| format!("{base}/api/v1/requests?department={d}&status={}&sort=due&limit=50", s.as_str()))
        .collect();
    let mut track: Vec<String> = sample_codes.iter().map(|c| format!("{base}/api/v1/track/{c}")).collect();
    Rng::new(args.data.seed ^ 0x0074_7261_636b).shuffle(&mut track);
    let dashboard = vec![format!("{base}/api/v1/dashboard")];
    let mut queries = Vec::new();
    for (name, urls, limit, target) in [
        ("inbox page", &inbox, 10.0, "server p99 ≤ 10 ms"),
        ("tracking lookup", &track, 2.0, "server p99 ≤ 2 ms"),
        ("dashboard", &dashboard, 20.0, "server p99 ≤ 20 ms"),
    ] {
        let m = timed_gets(&http, Auth::Bearer(&token), urls, args.warmup, args.iterations).await?;
        if let Some(first) = m.first_failure {
            failures.push(format!(
                "{name}: {} of {} failed, first: {first}",
                m.failures,
                args.warmup + args.iterations
            ));
        }
        let mut note = format!("{} distinct URLs", urls.len());
        if let Some(mean) = m.mean_items {
            note.push_str(&format!(", {mean:.1} rows per page on average"));
        }
        if m.failures > 0 {
            note.push_str(&format!(", {} failures", m.failures));
        }
        let met = m.server.len() > 0 && m.server.at(0.99) <= limit;
        queries.push(QueryRow { name, server: m.server, client: m.client, target, met, note });
    }

    // Pages, as an admin's browser session sees them (the request page journals the read).
    let cookie = session_cookie(&guichet, &data).await?;
    let agent_inbox: Vec<String> = default_departments()
        .iter()
        .flat_map(|d| Status::OPEN.map(|s| (d.id.clone(), s)))
        .map(|(d, s)| format!("{base}/agent?department={d}&status={}", s.as_str()))
        .collect();
    let mut request_pages: Vec<String> =
        (0..1000u64).map(|i| format!("{base}/agent/demandes/{}", 1 + i * (*requests / 1000).max(1))).collect();
    Rng::new(args.data.seed ^ 0x7061_6765).shuffle(&mut request_pages);
    let tracking_pages: Vec<String> = sample_codes.iter().take(1000).map(|c| format!("{base}/suivi/{c}")).collect();
    let acknowledgements: Vec<String> = sample_codes.iter().take(1000).map(|c| format!("{base}/accuse/{c}")).collect();
    let page_iterations = args.iterations.min(500);
    for (name, urls) in [
        ("page: portal home", vec![format!("{base}/")]),
        ("page: request form", vec![format!("{base}/demande/voirie")]),
        ("page: tracking", tracking_pages),
        ("page: acknowledgement", acknowledgements),
        ("page: accessibility statement", vec![format!("{base}/accessibilite")]),
        ("page: inbox", agent_inbox),
        ("page: request", request_pages),
        ("page: dashboard", vec![format!("{base}/agent/tableau-de-bord")]),
        ("page: board", vec![format!("{base}/agent/par-statut")]),
        ("page: map (500 requests)", vec![format!("{base}/agent/carte")]),
        ("page: record a request", vec![format!("{base}/agent/nouvelle")]),
        ("page: accounts", vec![format!("{base}/admin")]),
        ("page: departments", vec![format!("{base}/admin/services")]),
        ("page: categories", vec![format!("{base}/admin/categories")]),
        ("page: category", vec![format!("{base}/admin/categories/voirie")]),
        ("page: settings", vec![format!("{base}/admin/parametres")]),
        ("page: audit journal", vec![format!("{base}/admin/journal")]),
    ] {
        let m = timed_gets(&http, Auth::Cookie(&cookie), &urls, args.warmup.min(50), page_iterations).await?;
        if let Some(first) = m.first_failure {
            failures.push(format!(
                "{name}: {} of {} failed, first: {first}",
                m.failures,
                args.warmup.min(50) + page_iterations
            ));
        }
        let note = format!("{} distinct URLs, {page_iterations} timed", urls.len());
        let met = m.server.len() > 0 && m.server.at(0.99) <= 50.0;
        queries.push(QueryRow { name, server: m.server, client: m.client, target: "server p99 ≤ 50 ms", met, note });
    }

    // Idle memory, and the data directory before intake adds to it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (idle, peak) = report::memory(pid)?;
    rows.push(Row {
        metric: "idle memory",
        figure: format!(
            "{:.1} MiB ({:.1} MB; VmRSS after the queries; peak so far {:.1} MiB)",
            mib(idle),
            idle as f64 / 1e6,
            mib(peak)
        ),
        target: "≤ 100 MB",
        met: Some(idle <= 100_000_000),
    });
    let disk = report::dir_size(&data)?;
    rows.push(Row {
        metric: "size on disk",
        figure: format!(
            "{:.1} MiB ({:.0} bytes per request, data directory after import)",
            mib(disk),
            disk as f64 / (*requests).max(1) as f64
        ),
        target: "reported",
        met: None,
    });

    // Durable intake: a 201 comes only after the group flush and fsync.
    let url = format!("{base}/api/v1/requests");
    let mut runs = Vec::new();
    for _ in 0..args.intake_runs.max(1) {
        let run = intake(&http, &url, args.clients, args.intake_seconds).await?;
        if let Some(first) = &run.first_failure {
            failures.push(format!("durable intake: {} answers other than 201, first: {first}", run.failures));
        }
        runs.push(run);
    }
    runs.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    let median = &runs[runs.len() / 2];
    let all: Vec<String> = runs.iter().map(|r| format!("{:.0}", r.rate)).collect();
    rows.push(Row {
        metric: "durable intake",
        figure: format!(
            "{:.0} requests/s (median of {} runs of {} s: {}; {} clients)",
            median.rate,
            runs.len(),
            args.intake_seconds,
            all.join(", "),
            args.clients
        ),
        target: "≥ 5,000 requests/s",
        met: Some(median.rate >= 5000.0),
    });
    rows.push(Row {
        metric: "durable intake latency",
        figure: format!("{:.2} ms p50, {:.2} ms p99 (median run)", median.latencies.at(0.5), median.latencies.at(0.99)),
        target: "—",
        met: None,
    });
    let (after, peak) = report::memory(pid)?;
    notes.push(format!(
        "memory after intake: {:.1} MiB resident, peak {:.1} MiB; data directory {:.1} MiB",
        mib(after),
        mib(peak),
        mib(report::dir_size(&data)?)
    ));

    // Graceful stop.
    let started = Instant::now();
    let killed = Command::new("kill").args(["-TERM", &pid.to_string()]).status()?;
    if !killed.success() {
        bail!("kill -TERM {pid} failed");
    }
    let status = loop {
        if let Some(status) = server.child.try_wait()? {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the server did not stop within 60 s of SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    if !status.success() {
        failures.push(format!("the server exited with {status} after SIGTERM:\n{}", log_tail(&log_path)));
    }
    notes.push(format!("graceful stop after SIGTERM: {:.2} s ({status})", started.elapsed().as_secs_f64()));

    let statuses: Vec<String> = by_status.iter().map(|(s, n)| format!("{s} {n}")).collect();
    let mut header = vec![
        format!(
            "data: {requests} requests{}, received over the three years before {now}",
            if statuses.is_empty() { String::new() } else { format!(" ({events} events; {})", statuses.join(", ")) }
        ),
        format!("machine: {}; the server and the load generator share it", report::machine()),
        format!("run at {}; guichet: {}", Timestamp::now().round(jiff::Unit::Second)?, guichet.display()),
        format!(
            "queries: {} warm-up then {} timed of each kind; intake: {} clients, {} s per run",
            args.warmup, args.iterations, args.clients, args.intake_seconds
        ),
    ];
    if !failures.is_empty() {
        header.push(format!("**{} step(s) failed**, see the end of the report", failures.len()));
        notes.extend(failures.iter().map(|f| format!("FAILED: {f}")));
    }
    print!("{}", report::render(&header, &rows, &queries, &notes));
    if !failures.is_empty() {
        bail!("{} step(s) failed", failures.len());
    }
    Ok(())
}

/// What one intake measurement gave.
pub struct IntakeRun {
    /// 201 answers per second within the measured window.
    pub rate: f64,
    pub latencies: Stats,
    pub failures: u64,
    pub first_failure: Option<String>,
}

/// `clients` concurrent loops posting requests for `seconds`, on a shared connection pool.
/// Only 201 answers received within the window count.
pub async fn intake(http: &reqwest::Client, url: &str, clients: usize, seconds: u64) -> anyhow::Result<IntakeRun> {
    let bodies: Vec<String> = (0..64)
        .map(|i| {
            serde_json::json!({
                "category": "voirie",
                "description": format!("Nid-de-poule signalé devant le numéro {} (essai de charge)", i + 1),
                "location": {"address": format!("{} rue Victor Hugo, 67000 Strasbourg", i + 1)},
            })
            .to_string()
        })
        .collect();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for c in 0..clients.max(1) {
        let (http, url, bodies) = (http.clone(), url.to_owned(), bodies.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let (mut failures, mut first_failure) = (0u64, None);
            let mut i = c;
            while Instant::now() < deadline {
                let body = bodies[i % bodies.len()].clone();
                i += 1;
                let t = Instant::now();
                let sent = http.post(&url).header("content-type", "application/json").body(body).send().await;
                let outcome = match sent {
                    Ok(r) => {
                        let status = r.status();
                        let body = r.bytes().await;
                        match body {
                            Ok(_) if status == reqwest::StatusCode::CREATED => Ok(()),
                            Ok(b) => Err(format!("{status} {}", String::from_utf8_lossy(&b))),
                            Err(e) => Err(format!("{status}, body: {e}")),
                        }
                    }
                    Err(e) => Err(e.to_string()),
                };
                let done = Instant::now();
                match outcome {
                    Ok(()) if done <= deadline => latencies.push((done - t).as_secs_f64() * 1000.0),
                    Ok(()) => {}
                    Err(e) => {
                        failures += 1;
                        first_failure.get_or_insert(e);
                    }
                }
            }
            (latencies, failures, first_failure)
        }));
    }
    let (mut latencies, mut failures, mut first_failure) = (Vec::new(), 0, None);
    for task in tasks {
        let (l, f, first) = task.await?;
        latencies.extend(l);
        failures += f;
        if first_failure.is_none() {
            first_failure = first;
        }
    }
    let rate = latencies.len() as f64 / seconds.max(1) as f64;
    Ok(IntakeRun { rate, latencies: Stats::new(latencies), failures, first_failure })
}
