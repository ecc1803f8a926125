//! What every tool answers alike: `--version` with the git commit of the build, and
//! `--completions <SHELL>` printing a shell completion script (clap_complete).

use clap::{Arg, ArgMatches, Command, CommandFactory};
use clap_complete::Shell;

/// `<version> (<git commit>)`.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("INFINITO_GIT_COMMIT"),
    ")"
);

/// The flag that prints completions.
const COMPLETIONS: &str = "completions";

/// `T`'s command, named `name` (the binary's name), with the version and the `--completions`
/// flag added.
pub fn command<T: CommandFactory>(name: &'static str) -> Command {
    T::command().name(name).bin_name(name).version(VERSION).arg(
        Arg::new(COMPLETIONS)
            .long(COMPLETIONS)
            .value_name("SHELL")
            .value_parser(clap::value_parser!(Shell))
            .exclusive(true)
            .help("Print a completion script for SHELL (bash, elvish, fish, powershell, zsh) and exit"),
    )
}

/// When `matches` asks for completions, writes them for `cmd` to stdout and returns true.
pub fn print_completions(matches: &ArgMatches, cmd: &mut Command) -> bool {
    let Some(shell) = matches.get_one::<Shell>(COMPLETIONS).copied() else {
        return false;
    };
    let name = cmd.get_name().to_string();
    clap_complete::generate(shell, cmd, name, &mut std::io::stdout());
    true
}
