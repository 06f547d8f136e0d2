//! The one error type of the command line, and the one place it becomes an exit code.
//!
//! Exit codes, for every command: 0 passed, 1 failed (an expectation, threshold or case
//! failed), 2 usage or input error (flags, scenario, an artifact that cannot be written),
//! 3 the target is unreachable, unresponsive, or refuses logins, 130 interrupted.

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
            CliError::Other(_) => EXIT_FAILED,
        }
    }
}

/// How a command ended: its exit code, after the errors it printed on the way (an
/// artifact that could not be written does not stop the others from being written).
pub fn finish(result: Result<u8, CliError>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            report(&e);
            ExitCode::from(e.exit_code())
        }
    }
}

/// Prints an error with its causes, the way every command does.
pub fn report(e: &CliError) {
    match e {
        CliError::Scenarios(lines) => {
            for line in lines {
                eprintln!("{line}");
            }
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
    }
}
