//! Who the simulated accounts are: names generated per run (so runs never collide on a
//! shared server) or read from an accounts CSV, and their login tokens.

use std::path::Path;

use crate::protocol::params::is_valid_account;
use crate::protocol::token::token_for;

/// One account's credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub account: String,
    pub token: String,
    /// Device name from the CSV; generated accounts use `d1`, `d2`, …
    pub device: Option<String>,
}

/// A line of the accounts file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountsError {
    #[error("{file}: cannot read: {why}")]
    Read { file: String, why: String },
    #[error("{file}:{line}: {why}")]
    Line {
        file: String,
        line: usize,
        why: String,
    },
    #[error("{file}: no accounts")]
    Empty { file: String },
}

/// Where accounts come from.
#[derive(Clone, Debug)]
pub enum AccountSource {
    /// `{prefix}-{role}-{slot}`, tokens derived from the secret (or a dummy token for a
    /// server in open mode).
    Generated {
        prefix: String,
        secret: Option<String>,
        /// One password for every account (`--password`): the token as it is.
        password: Option<String>,
    },
    /// Accounts in file order.
    List(Vec<Credentials>),
}

/// How to get the token of an account a `login` step names itself.
#[derive(Clone, Debug)]
pub enum TokenRule {
    /// HMAC-SHA256 under this secret (§P-3.3).
    Secret(String),
    /// A server in open mode: any token.
    Open,
    /// Accounts from a file: other accounts' tokens are unknown.
    Unknown,
}

impl TokenRule {
    /// The token of `account`, when it can be derived.
    pub fn token(&self, account: &str) -> Option<String> {
        match self {
            TokenRule::Secret(secret) => Some(token_for(secret, account)),
            TokenRule::Open => Some("open".to_string()),
            TokenRule::Unknown => None,
        }
    }
}

impl AccountSource {
    /// How tokens of accounts outside the source are found.
    pub fn token_rule(&self) -> TokenRule {
        match self {
            AccountSource::Generated {
                secret: Some(secret),
                ..
            } => TokenRule::Secret(secret.clone()),
            AccountSource::Generated { secret: None, .. } => TokenRule::Open,
            AccountSource::List(_) => TokenRule::Unknown,
        }
    }

    /// A short prefix unique to this run (and shard), e.g. `sb7f3a-s2`.
    pub fn generated(run_id: &str, shard: Option<(u32, u32)>, secret: Option<String>) -> Self {
        let prefix = match shard {
            Some((index, count)) if count > 1 => format!("sb{run_id}-s{index}"),
            _ => format!("sb{run_id}"),
        };
        AccountSource::Generated {
            prefix,
            secret,
            password: None,
        }
    }

    /// How many accounts the source can supply; `None`: unbounded.
    pub fn capacity(&self) -> Option<usize> {
        match self {
            AccountSource::Generated { .. } => None,
            AccountSource::List(list) => Some(list.len()),
        }
    }

    /// The credentials for `role`'s account in `slot` (`index` counts slots over all
    /// roles, for file-backed sources).
    pub fn credentials(&self, role: &str, slot: usize, index: usize) -> Option<Credentials> {
        match self {
            AccountSource::Generated {
                prefix,
                secret,
                password,
            } => {
                let account = format!("{prefix}-{role}-{slot}");
                let account: String = account.chars().take(64).collect();
                let token = match (password, secret) {
                    (Some(password), _) => password.clone(),
                    (None, Some(secret)) => token_for(secret, &account),
                    (None, None) => "open".to_string(),
                };
                Some(Credentials {
                    account,
                    token,
                    device: None,
                })
            }
            AccountSource::List(list) => list.get(index).cloned(),
        }
    }
}

/// Reads `account,token[,device]` lines; blank lines, `#` comments and a header line
/// starting with `account,` are skipped.
pub fn read_csv(path: &Path) -> Result<Vec<Credentials>, AccountsError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| AccountsError::Read {
        file: file.clone(),
        why: e.to_string(),
    })?;
    parse_csv(&file, &text)
}

pub fn parse_csv(file: &str, text: &str) -> Result<Vec<Credentials>, AccountsError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || (i == 0 && line.starts_with("account,")) {
            continue;
        }
        let err = |why: String| AccountsError::Line {
            file: file.to_string(),
            line: i + 1,
            why,
        };
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let (account, token, device) = match fields.as_slice() {
            [a, t] => (*a, *t, None),
            [a, t, d] => (*a, *t, Some(*d)),
            _ => {
                return Err(err(format!(
                    "expected account,token[,device], found {} fields",
                    fields.len()
                )));
            }
        };
        if !is_valid_account(account) {
            return Err(err(format!(
                "account '{account}' must be 1-64 characters of [A-Za-z0-9_.@-]"
            )));
        }
        if token.is_empty() {
            return Err(err("token is empty".into()));
        }
        if let Some(d) = device
            && !is_valid_account(d)
        {
            return Err(err(format!(
                "device '{d}' must be 1-64 characters of [A-Za-z0-9_.@-]"
            )));
        }
        out.push(Credentials {
            account: account.to_string(),
            token: token.to_string(),
            device: device.filter(|d| !d.is_empty()).map(str::to_string),
        });
    }
    if out.is_empty() {
        return Err(AccountsError::Empty {
            file: file.to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_lines_are_checked_with_their_line_number() {
        let ok = parse_csv("a.csv", "account,token\nalice,t1\n\n# c\nbob,t2,phone\n").unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[1].device.as_deref(), Some("phone"));
        let e = parse_csv("a.csv", "alice,t1\nbad name,t\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "a.csv:2: account 'bad name' must be 1-64 characters of [A-Za-z0-9_.@-]"
        );
        let e = parse_csv("a.csv", "alice\n").unwrap_err();
        assert!(e.to_string().starts_with("a.csv:1: expected account,token"));
        assert!(parse_csv("a.csv", "# nothing\n").is_err());
    }

    #[test]
    fn generated_names_are_unique_per_run_shard_role_and_slot() {
        let a = AccountSource::generated("x1", Some((1, 3)), Some("s".into()));
        let c = a.credentials("callee", 7, 0).unwrap();
        assert_eq!(c.account, "sbx1-s1-callee-7");
        assert_eq!(c.token, token_for("s", "sbx1-s1-callee-7"));
        assert!(is_valid_account(&c.account));
    }
}
