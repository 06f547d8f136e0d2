//! The one error type of the command line, and the one place it becomes an exit code.
//!
//! Every command ends in a `Result<Outcome, CliError>`: an [`Outcome`] when it did its
//! job (its verdict, and the errors it met on the way without stopping), a [`CliError`]
//! when it could not. [`exit_code`] turns either into the exit code; [`finish`] prints the
//! errors and exits with it.
//!
//! Exit codes, for every command: 0 passed, 1 failed (an expectation, threshold or case
//! failed), 2 usage or input error (flags, scenario, an unreadable input file, an artifact
//! that cannot be written), 3 the target is unreachable, unresponsive, or refuses logins,
//! 130 interrupted. When several apply, the highest wins (an interrupted run whose report
//! could not be written exits 130; a failed one, 2).

use std::process::ExitCode;

/// Every expectation and threshold held.
pub const EXIT_PASSED: u8 = 0;
/// Something failed.
pub const EXIT_FAILED: u8 = 1;
/// Usage or input error; an artifact that could not be written.
pub const EXIT_USAGE: u8 = 2;
/// The target is unreachable, unresponsive, or refuses logins.
pub const EXIT_UNREACHABLE: u8 = 3;
/// Interrupted (Ctrl-C or SIGTERM).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Why a command could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad flags or input files (the message says which and where).
    #[error("{0}")]
    Usage(String),
    /// Scenario errors, one per line, each located.
    #[error("{}", .0.join("\n"))]
    Scenarios(Vec<String>),
    /// The target could not be reached, answered nothing, or refused every login.
    #[error("{0}")]
    Target(String),
    /// An output file could not be written.
    #[error("cannot write the {what} {path}: {why}")]
    Artifact {
        what: &'static str,
        path: String,
        why: String,
    },
    /// Stopped by a signal before anything was measured.
    #[error("{0}")]
    Interrupted(String),
    /// The command line does not parse (or asks for `--help` / `--version`, which clap
    /// reports the same way).
    #[error("{0}")]
    Clap(#[from] clap::Error),
    /// Anything else (the harness itself failed).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl CliError {
    /// The exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) | CliError::Scenarios(_) | CliError::Artifact { .. } => EXIT_USAGE,
            CliError::Target(_) => EXIT_UNREACHABLE,
            CliError::Interrupted(_) => EXIT_INTERRUPTED,
            CliError::Clap(e) if !e.use_stderr() => EXIT_PASSED,
            CliError::Clap(_) => EXIT_USAGE,
            CliError::Other(_) => EXIT_FAILED,
        }
    }
}

/// What a command that did its job says: the exit code of its verdict (anything it
/// printed on the way is already counted in it), and the errors it met without stopping
/// (an artifact that could not be written does not stop the others from being written).
#[derive(Debug)]
pub struct Outcome {
    /// The verdict: [`EXIT_PASSED`], [`EXIT_FAILED`], [`EXIT_INTERRUPTED`], …
    pub verdict: u8,
    /// Errors not yet printed; [`finish`] prints them.
    pub errors: Vec<CliError>,
}

impl Outcome {
    /// A verdict without errors.
    pub fn verdict(code: u8) -> Outcome {
        Outcome {
            verdict: code,
            errors: Vec::new(),
        }
    }

    /// The verdict, or an error's code when that is higher.
    pub fn exit_code(&self) -> u8 {
        self.errors
            .iter()
            .map(CliError::exit_code)
            .fold(self.verdict, u8::max)
    }
}

/// The exit code of a command's result: the one place it is decided.
pub fn exit_code(result: &Result<Outcome, CliError>) -> u8 {
    match result {
        Ok(outcome) => outcome.exit_code(),
        Err(e) => e.exit_code(),
    }
}

/// How a command ended: prints its errors, then exits with [`exit_code`].
pub fn finish(result: Result<Outcome, CliError>) -> ExitCode {
    let code = exit_code(&result);
    match &result {
        Ok(outcome) => outcome.errors.iter().for_each(report),
        Err(e) => report(e),
    }
    ExitCode::from(code)
}

/// Prints an error with its causes, the way every command does.
pub fn report(e: &CliError) {
    match e {
        CliError::Scenarios(lines) => {
            for line in lines {
                eprintln!("{line}");
            }
        }
        CliError::Clap(e) => {
            // Usage errors to stderr, --help and --version to stdout, as clap does.
            let _ = e.print();
        }
        CliError::Other(e) => eprintln!("error: {e:#}"),
        e => eprintln!("error: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_documented_exit_code() {
        assert_eq!(CliError::Usage("x".into()).exit_code(), 2);
        assert_eq!(CliError::Scenarios(vec![]).exit_code(), 2);
        let artifact = CliError::Artifact {
            what: "JSON report",
            path: "r.json".into(),
            why: "No space left on device".into(),
        };
        assert_eq!(artifact.exit_code(), 2);
        assert_eq!(
            artifact.to_string(),
            "cannot write the JSON report r.json: No space left on device"
        );
        assert_eq!(CliError::Target("t".into()).exit_code(), 3);
        assert_eq!(CliError::Interrupted("i".into()).exit_code(), 130);
        assert_eq!(CliError::Other(anyhow::anyhow!("bug")).exit_code(), 1);
    }

    #[test]
    fn the_highest_code_wins() {
        let unwritten = || CliError::Artifact {
            what: "HTML report",
            path: "r.html".into(),
            why: "Permission denied".into(),
        };
        assert_eq!(Outcome::verdict(EXIT_PASSED).exit_code(), 0);
        let failed = Outcome {
            verdict: EXIT_FAILED,
            errors: vec![unwritten()],
        };
        assert_eq!(
            failed.exit_code(),
            2,
            "an unwritten artifact beats a failure"
        );
        let interrupted = Outcome {
            verdict: EXIT_INTERRUPTED,
            errors: vec![unwritten()],
        };
        assert_eq!(interrupted.exit_code(), 130);
        assert_eq!(exit_code(&Err(CliError::Target("t".into()))), 3);
        assert_eq!(exit_code(&Ok(Outcome::verdict(EXIT_FAILED))), 1);
    }
}
