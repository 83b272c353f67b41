//! The commands: open the source, run the engine, hand the result to a view. Errors are
//! mapped to exit codes here (documented in the README).

use crate::cli::{AnalyzeArgs, Cli, Command, InputArgs};
use crate::engine::{Engine, EngineOutput};
use crate::source::{self, PacketSource};
use anyhow::bail;
use std::io::Write;
use std::process::ExitCode;

/// An input that could not be opened or read at all.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

/// Exit code: 0 done; 1 internal or output error; 2 usage; 3 no usable input; 4 live capture
/// failed (interface or permission).
pub fn exit_code_for(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<InputError>().is_some() {
        3
    } else if e.downcast_ref::<source::LiveError>().is_some() {
        4
    } else {
        1
    }
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Analyze(a) => analyze(&a),
        Command::Transactions(i) => transactions(&i),
        Command::Interfaces => {
            #[cfg(feature = "live")]
            {
                let mut stdout = std::io::stdout().lock();
                for i in source::live::list_interfaces()? {
                    writeln!(stdout, "{i}")?;
                }
                Ok(ExitCode::SUCCESS)
            }
            #[cfg(not(feature = "live"))]
            bail!("listing interfaces needs the `live` feature: cargo install --path . --features live")
        }
    }
}

fn open(input: &InputArgs) -> anyhow::Result<Box<dyn PacketSource>> {
    if let Some(iface) = &input.interface {
        if !input.files.is_empty() {
            bail!("give either capture files or --interface, not both");
        }
        #[cfg(feature = "live")]
        {
            let src = source::live::LiveSource::open(
                iface,
                input.bpf.as_deref(),
                &input.proxy_ports,
                input.duration,
            )?;
            // Ctrl-C ends the capture (the report is still printed); a second one quits.
            let stop = src.stop_flag();
            std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async {
                    if tokio::signal::ctrl_c().await.is_ok() {
                        stop.store(true, std::sync::atomic::Ordering::Relaxed);
                        eprintln!("proxy407: stopping the capture (Ctrl-C again to quit)");
                        if tokio::signal::ctrl_c().await.is_ok() {
                            std::process::exit(130);
                        }
                    }
                });
            });
            return Ok(Box::new(src));
        }
        #[cfg(not(feature = "live"))]
        {
            let _ = iface;
            bail!("live capture needs the `live` feature: cargo install --path . --features live");
        }
    }
    if input.files.is_empty() {
        return Err(InputError("no capture file given (use - for standard input)".into()).into());
    }
    source::file::open_files(&input.files)
}

/// Runs the engine over the whole input.
pub fn run_engine(input: &InputArgs) -> anyhow::Result<EngineOutput> {
    let cfg = input.engine_config()?;
    let mut src = open(input)?;
    let mut engine = Engine::new(cfg);
    while let Some(frame) = src.next_frame() {
        engine.ingest(&frame);
    }
    let notices = src.take_notices();
    for n in &notices {
        eprintln!("proxy407: {n}");
    }
    engine.add_notices(notices);
    Ok(engine.finish(&src.stats()))
}

fn analyze(a: &AnalyzeArgs) -> anyhow::Result<ExitCode> {
    let out = run_engine(&a.input)?;
    let json = serde_json::json!({ "capture": out.capture, "http": out.http });
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, &json)?;
    writeln!(stdout)?;
    Ok(ExitCode::SUCCESS)
}

fn transactions(i: &InputArgs) -> anyhow::Result<ExitCode> {
    let out = run_engine(i)?;
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    for t in &out.analysis.transactions {
        serde_json::to_writer(&mut stdout, t)?;
        writeln!(stdout)?;
    }
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}
