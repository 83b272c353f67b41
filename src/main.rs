use clap::Parser;
use std::process::ExitCode;

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
