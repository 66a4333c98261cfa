//! `guichet-bench`: deterministic data generator and load measurements.
//!
//! `guichet-bench run --requests 1000000` generates a dump, imports it with `guichet import`,
//! starts `guichet serve`, and measures cold start, inbox, tracking and dashboard latencies
//! (server-side, from the `Server-Timing` header), idle memory, size on disk, and durable
//! intake with concurrent clients. It prints a Markdown report.

mod generate;
mod measure;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "guichet-bench", about = "Benchmarks for Guichet")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a dump of generated requests (French addresses, categories, channels, statuses, three years).
    Generate {
        #[arg(long, default_value_t = 1_000_000)]
        requests: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long)]
        output: PathBuf,
    },
    /// Generate, import, serve, and measure.
    Run(measure::RunArgs),
    /// Durable intake against a running server (started with `http.intake_rate_per_minute=0`).
    Intake {
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 32)]
        clients: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Generate { requests, seed, output } => {
            let file = std::io::BufWriter::new(std::fs::File::create(&output)?);
            let generated = generate::generate(requests, seed, generate::default_now(), file)?;
            eprintln!("{} requests written to {}", generated.requests, output.display());
            Ok(())
        }
        Command::Run(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(measure::run(args))
        }
        Command::Intake { url, clients, seconds } => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let http = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
            let (rate, stats) =
                runtime.block_on(measure::intake(&http, &format!("{url}/api/v1/requests"), clients, seconds))?;
            println!(
                "durable intake: {rate:.0} requests/s with {clients} clients (p50 {:.2} ms, p99 {:.2} ms)",
                stats.at(0.5),
                stats.at(0.99)
            );
            Ok(())
        }
    }
}
