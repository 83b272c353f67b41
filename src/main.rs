use clap::Parser;
use std::process::ExitCode;

/// mimalloc: the pipeline allocates a few small strings per HTTP transaction and per episode,
/// and polars allocates heavily when exporting; glibc's malloc and free were 9% of a run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = proxy407::cli::Cli::parse();
    match proxy407::app::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("proxy407: {e:#}");
            ExitCode::from(proxy407::app::exit_code_for(&e))
        }
    }
}
