//! `guichet-bench federation`: two real instances on loopback, a commune and its EPCI,
//! paired through their command line. The commune forwards a request to the EPCI; while
//! the EPCI is stopped, agents of the commune add `--messages` public replies to it (each
//! one a signed `request.comment` queued in the same write as the reply). The EPCI is
//! started again and the commune's admin asks to "retry now": the figure is the time from
//! then until the commune's queue is empty, every message delivered, verified and durably
//! applied at the EPCI (which is then checked to hold all of them).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

#[derive(clap::Args)]
pub struct FederationArgs {
    /// Messages in the backlog.
    #[arg(long, default_value_t = 10_000)]
    messages: usize,
    /// Concurrent agents writing the replies.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// The `guichet` binary.
    #[arg(long, default_value = "target/release/guichet")]
    guichet: PathBuf,
    /// Where the two data directories go (emptied first).
    #[arg(long)]
    work_dir: PathBuf,
}

struct Instance {
    data: PathBuf,
    url: String,
    child: Option<Child>,
    args: Vec<String>,
    guichet: PathBuf,
}

impl Instance {
    fn new(guichet: &Path, dir: &Path, name: &str, kind: &str) -> anyhow::Result<Instance> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let code = if kind == "epci" { "instance.siren=200067007" } else { "instance.insee_code=67482" };
        let args = [
            format!("http.bind=127.0.0.1:{port}"),
            format!("instance.name={name}"),
            format!("instance.kind={kind}"),
            code.to_owned(),
            "http.intake_rate_per_minute=0".to_owned(),
            "federation.allow_private_addresses=true".to_owned(),
            "federation.retry_base_seconds=1".to_owned(),
        ]
        .into_iter()
        .flat_map(|a| ["--set".to_owned(), a])
        .collect();
        Ok(Instance {
            data: dir.join(kind),
            url: format!("http://127.0.0.1:{port}"),
            child: None,
            args,
            guichet: guichet.to_owned(),
        })
    }

    async fn start(&mut self, http: &reqwest::Client) -> anyhow::Result<()> {
        let _ = std::fs::remove_file(self.data.join("admin.sock"));
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.data.with_extension("log"))?;
        self.child = Some(
            Command::new(&self.guichet)
                .arg("serve")
                .arg("--data-dir")
                .arg(&self.data)
                .args(&self.args)
                .env("GUICHET_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .with_context(|| format!("starting {}", self.guichet.display()))?,
        );
        let started = Instant::now();
        loop {
            let ready = http.get(format!("{}/readyz", self.url)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) && self.data.join("admin.sock").exists() {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("{} did not start", self.url);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            Command::new("kill").args(["-TERM", &child.id().to_string()]).status()?;
            child.wait()?;
        }
        Ok(())
    }

    fn cli(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new(&self.guichet).args(args).arg("--data-dir").arg(&self.data).output()?;
        if !out.status.success() {
            bail!("guichet {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    fn json(&self, args: &[&str]) -> anyhow::Result<Value> {
        Ok(serde_json::from_str(&self.cli(args)?)?)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn queued(commune: &Instance, epci: &str) -> anyhow::Result<u64> {
    let deliveries = commune.json(&["federation", "deliveries"])?;
    let found = deliveries.as_array().and_then(|all| all.iter().find(|d| d["base_url"] == epci));
    Ok(found.and_then(|d| d["queued"].as_u64()).unwrap_or(0))
}

pub async fn run(args: FederationArgs) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(&args.work_dir);
    std::fs::create_dir_all(&args.work_dir)?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(args.clients * 2).build()?;
    let mut epci = Instance::new(&args.guichet, &args.work_dir, "Communauté de communes", "epci")?;
    let mut commune = Instance::new(&args.guichet, &args.work_dir, "Commune", "commune")?;
    epci.start(&http).await?;
    commune.start(&http).await?;

    // Pairing, as the admins do it, and the competence.
    let link = epci.json(&["federation", "invite"])?["link"].as_str().unwrap_or_default().to_owned();
    let code = commune.json(&["federation", "join", &link])?["short_code"].as_str().unwrap_or_default().to_owned();
    epci.json(&["federation", "approve", &commune.url, "--code", &code])?;
    commune.json(&["federation", "competence", "dechets", "--peer", &epci.url])?;

    // One request, forwarded at intake.
    let request = json!({
        "category": "dechets", "description": "Bac non collecté",
        "contact": {"name": "Marie Dupont", "postal_address": "1 place de la Mairie"}
    });
    let created: Value =
        http.post(format!("{}/api/v1/requests", commune.url)).json(&request).send().await?.json().await?;
    let id = created["id"].as_u64().context("no request id")?;
    let started = Instant::now();
    while queued(&commune, &epci.url)? > 0 {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the request was not forwarded");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The EPCI stops; the backlog builds up at the commune.
    epci.stop()?;
    let token = commune.cli(&["admin", "token", "--role", "agent"])?;
    let url = format!("{}/api/v1/requests/{id}/comments", commune.url);
    let per_client = args.messages.div_ceil(args.clients);
    let written = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        let count = per_client.min(args.messages.saturating_sub(c * per_client));
        tasks.push(tokio::spawn(async move {
            for n in 0..count {
                let body = json!({"visibility": "public", "body": format!("Réponse {c}-{n}")});
                let answer = http.post(&url).bearer_auth(&token).json(&body).send().await?;
                if !answer.status().is_success() {
                    bail!("reply refused: {}", answer.status());
                }
            }
            Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let writing = written.elapsed().as_secs_f64();
    let backlog = queued(&commune, &epci.url)?;

    // The EPCI comes back; "retry now"; the backlog drains.
    epci.start(&http).await?;
    let drain = Instant::now();
    commune.cli(&["federation", "retry", &epci.url])?;
    loop {
        if queued(&commune, &epci.url)? == 0 {
            break;
        }
        if drain.elapsed() > Duration::from_secs(600) {
            bail!("the backlog did not drain in 10 minutes");
        }
        // Each look starts a process: not too often, not to take the instances' CPU.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drained = drain.elapsed().as_secs_f64();

    // Every message arrived, once.
    let epci_token = epci.cli(&["admin", "token", "--role", "agent"])?;
    let listed: Value = http
        .get(format!("{}/api/v1/requests?channel=federation", epci.url))
        .bearer_auth(&epci_token)
        .send()
        .await?
        .json()
        .await?;
    let here = listed["items"][0]["id"].as_u64().context("no forwarded request at the EPCI")?;
    let detail: Value =
        http.get(format!("{}/api/v1/requests/{here}", epci.url)).bearer_auth(&epci_token).send().await?.json().await?;
    let replies =
        detail["events"].as_array().map_or(0, |e| e.iter().filter(|e| e["change"]["type"] == "comment").count());
    let same = epci.json(&["federation", "state", &commune.url])?["hash"]
        == commune.json(&["federation", "state", &epci.url])?["hash"];
    commune.stop()?;
    epci.stop()?;

    let rate = backlog as f64 / drained;
    println!("| Federation | Figure | Target |");
    println!("|---|---|---|");
    println!("| backlog written at the commune | {backlog} messages in {writing:.2} s ({} agents) | — |", args.clients);
    println!(
        "| backlog drained | {drained:.2} s from \"retry now\" to an empty queue | ≤ 5 s for 10,000 {} |",
        if drained <= 5.0 { "✓" } else { "✗" }
    );
    println!(
        "| delivered, verified, durably applied | {rate:.0} messages/s | ≥ 5,000/s {} |",
        if rate >= 5000.0 { "✓" } else { "✗" }
    );
    println!("| received at the EPCI | {replies} replies, converged: {same} | all, once |");
    if replies != args.messages || !same {
        bail!("{replies} replies arrived of {}, converged: {same}", args.messages);
    }
    Ok(())
}
