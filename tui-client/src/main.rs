//! `chat-tui`: the terminal client. With a subcommand it runs that one action for
//! scripts (plain text on stdout, `--json` for machines, errors on stderr, and an
//! exit code that says what went wrong).

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::from(cli::EXIT_CONNECTION);
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            // The message may quote the server's own words: escaped, on one line.
            eprintln!("error: {}", chat_tui::display::escape_line(&failure.message));
            ExitCode::from(failure.exit)
        }
    }
}
