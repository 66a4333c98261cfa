//! `guichet-bench`: deterministic data generator and load measurements.
//!
//! `guichet-bench run --requests 1000000 --work-dir /tmp/bench` generates a dump, imports it
//! with `guichet import`, starts `guichet serve`, and measures cold start, inbox, tracking and
//! dashboard latencies (server-side, from the `Server-Timing` header, and client-side), idle
//! memory, size on disk, and durable intake with concurrent clients. It prints a Markdown
//! report and exits non-zero if a step failed (a missed target is reported, not a failure).

mod bare;
mod federation;
mod generate;
mod measure;
mod report;
mod signatures;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "guichet-bench", about = "Benchmarks for Guichet")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a dump of generated requests (French addresses, categories, channels, statuses,
    /// over three years); the same seed gives the same bytes.
    Generate {
        #[command(flatten)]
        data: generate::DataArgs,
        #[arg(long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Generate, import, serve, and measure; prints a Markdown report.
    Run(measure::RunArgs),
    /// The cost of signing and of checking a federation message, on one core.
    Signatures {
        #[arg(long, default_value_t = 20_000)]
        count: u64,
    },
    /// Two instances on loopback: a backlog of signed messages drained from one to the
    /// other after an outage; prints a Markdown table.
    Federation(federation::FederationArgs),
    /// sled alone: writers inserting and waiting for shared flushes, the floor under intake.
    BareSled(bare::BareArgs),
    /// sled alone: the resident memory of a process that opens a store of N records × K
    /// keys, the floor under idle memory.
    BareSledMemory(bare::MemoryArgs),
    /// Durable intake against a running server (started with `http.intake_rate_per_minute=0`).
    Intake {
        /// Base URL of the server, e.g. `http://127.0.0.1:8080`.
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 32)]
        clients: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Generate { data: generate::DataArgs { requests, seed, now }, output } => {
            let file = std::fs::File::create(&output).with_context(|| format!("creating {}", output.display()))?;
            let now = now.unwrap_or_else(generate::default_now);
            let started = std::time::Instant::now();
            let generated = generate::generate(requests, seed, now, std::io::BufWriter::with_capacity(1 << 20, file))?;
            eprintln!(
                "{} requests ({} events) written to {} in {:.1} s: {:?}",
                generated.requests,
                generated.events,
                output.display(),
                started.elapsed().as_secs_f64(),
                generated.by_status
            );
            Ok(())
        }
        Command::Run(args) => runtime()?.block_on(measure::run(args)),
        Command::Federation(args) => runtime()?.block_on(federation::run(args)),
        Command::Signatures { count } => {
            let costs = signatures::measure(count.max(1));
            println!(
                "federation messages ({} bytes, {} of each): signing {:.1} µs, checking {:.1} µs (canonical JSON read, \
                 envelope checks, ed25519 verify_strict) = {:.0} checks/s on one core",
                costs.bytes,
                costs.count,
                costs.sign_us,
                costs.check_us,
                1e6 / costs.check_us
            );
            Ok(())
        }
        Command::BareSled(args) => {
            let run = bare::run(&args)?;
            println!(
                "bare sled: {:.0} durable writes/s ({} writers, {} per write, {} value bytes, {} shared flushes)",
                run.writes_per_second,
                args.writers,
                if args.plain {
                    "one plain insert".to_owned()
                } else {
                    format!("an atomic batch of {} key(s)", args.keys)
                },
                args.value_bytes,
                run.flushes
            );
            Ok(())
        }
        Command::BareSledMemory(args) => {
            let run = bare::memory(&args)?;
            if !args.open_only {
                println!(
                    "bare sled: {} records × {} keys = {} keys; a process that opens the store: {:.1} MiB resident \
                     2 s later (cache {} MiB); {:.0} MiB on disk",
                    args.records,
                    args.keys,
                    run.keys,
                    run.resident_mib,
                    bare::cache_mib(),
                    run.disk_mib
                );
            }
            Ok(())
        }
        Command::Intake { url, clients, seconds } => {
            let http = reqwest::Client::builder().pool_max_idle_per_host(clients.max(1) * 2).build()?;
            let url = format!("{}/api/v1/requests", url.trim_end_matches('/'));
            let run = runtime()?.block_on(measure::intake(&http, &url, clients, seconds))?;
            println!(
                "durable intake: {:.0} requests/s with {clients} clients (p50 {:.2} ms, p99 {:.2} ms)",
                run.rate,
                run.latencies.at(0.5),
                run.latencies.at(0.99)
            );
            if let Some(first) = run.first_failure {
                anyhow::bail!("{} answers other than 201, first: {first}", run.failures);
            }
            Ok(())
        }
    }
}
