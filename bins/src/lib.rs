//! Shared plumbing of the command-line tools: device selection and error reporting.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use candle_core::Device;
use infinito_hub::{FileSet, Hub, HubId};

pub mod builtin_base;
pub mod meta;
pub mod original_run;
pub mod scheduler_cli;

/// An error in what the user asked for (flag values, paths): one line, exit status 2.
#[derive(Debug)]
pub struct InputError(pub String);

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

/// Returns an [`InputError`] with a formatted message.
#[macro_export]
macro_rules! input_error {
    ($($arg:tt)*) => { anyhow::Error::new($crate::InputError(format!($($arg)*))) };
}

/// The compute device named by `--device` (`cpu` or `cuda`, optionally `cuda:N`).
pub fn device(name: &str) -> anyhow::Result<Device> {
    match name {
        "cpu" => Ok(Device::Cpu),
        cuda if cuda == "cuda" || cuda.starts_with("cuda:") => {
            let ordinal = match cuda.strip_prefix("cuda:") {
                Some(n) => n.parse().map_err(|_| {
                    input_error!("--device {cuda}: expected cuda:N with N a GPU index")
                })?,
                None => 0,
            };
            if !candle_core::utils::cuda_is_available() {
                return Err(input_error!(
                    "--device {cuda}: this build has no CUDA support (rebuild with `--features cuda`)"
                ));
            }
            Device::new_cuda(ordinal).map_err(|e| input_error!("--device {cuda}: {e}"))
        }
        other => Err(input_error!(
            "--device {other}: expected cpu, cuda or cuda:N"
        )),
    }
}

/// Parses the command line of the binary `name` into `T`, with `--version` (version and git
/// commit) and `--completions <SHELL>` added (see [`meta`]). Negative numbers are values
/// (`--temperature -1` reaches the tool's own range check); any other argument error prints one
/// line and exits with status 2; `--help`, `--version` and `--completions` print in full and
/// exit 0.
pub fn parse_args<T: clap::Parser>(name: &'static str) -> T {
    parse_command_line::<T>(name).0
}

/// [`parse_args`], also returning the matches, which say which flags were given (see
/// `infinito_train::settings::given_on_command_line`).
pub fn parse_command_line<T: clap::Parser>(name: &'static str) -> (T, clap::ArgMatches) {
    let mut command = meta::command::<T>(name).allow_negative_numbers(true);
    let parsed = command.try_get_matches_from_mut(std::env::args_os());
    if let Ok(matches) = &parsed {
        if meta::print_completions(matches, &mut command) {
            std::process::exit(0);
        }
    }
    let parsed = parsed.and_then(|matches| {
        let mut taken = matches.clone();
        T::from_arg_matches_mut(&mut taken).map(|args| (args, matches))
    });
    match parsed {
        Ok(parsed) => parsed,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            eprintln!("{}", clap_error_line(&e.format(&mut command)));
            std::process::exit(2)
        }
    }
}

/// A clap error as one line: its message and tips, without the usage block.
fn clap_error_line(e: &clap::Error) -> String {
    let text = e.to_string();
    let mut line = String::new();
    for part in text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more"))
        .filter(|l| !l.is_empty())
    {
        if !line.is_empty() {
            line.push_str(if part.starts_with("tip:") { "; " } else { " " });
        }
        line.push_str(part);
    }
    line.push_str(" (see --help)");
    line
}

/// A model or adapter argument of `flag`: an existing path as given, else a hub id
/// (`org/name[@revision]`) resolved through the hub cache to its snapshot directory (`files`
/// says which files it needs; missing ones are downloaded unless `HF_HUB_OFFLINE` is set).
pub fn local_or_hub(flag: &str, arg: &Path, files: &FileSet) -> anyhow::Result<PathBuf> {
    if arg.exists() {
        return Ok(arg.to_path_buf());
    }
    let id = arg.to_str().and_then(HubId::parse).ok_or_else(|| {
        input_error!(
            "{flag} {}: no such file or directory, and not a hub id (org/name[@revision])",
            arg.display()
        )
    })?;
    let snapshot = Hub::from_env()
        .model(&id, files)
        .context(flag.to_string())?;
    Ok(snapshot.dir)
}

/// Prints an error on one line (`error: context: cause`) and maps it to the exit status:
/// 2 for bad input, 1 for anything else.
pub fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            let usage = |c: &(dyn std::error::Error + 'static)| {
                c.is::<InputError>()
                    || c.downcast_ref::<infinito_train::TrainError>()
                        .is_some_and(|t| t.is_usage())
                    || c.downcast_ref::<infinito_rl::RlError>()
                        .is_some_and(|r| r.is_usage())
                    || c.downcast_ref::<infinito_model::ModelError>()
                        .is_some_and(|m| m.is_input())
                    || c.downcast_ref::<infinito_phi::PhiError>()
                        .is_some_and(|p| p.is_input())
                    || c.downcast_ref::<infinito_checkpoint::CheckpointError>()
                        .is_some_and(|k| k.is_input())
                    || c.downcast_ref::<infinito_hub::HubError>()
                        .is_some_and(|h| h.is_usage())
            };
            if e.chain().any(usage) {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
