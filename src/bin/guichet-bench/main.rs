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
    }
}
