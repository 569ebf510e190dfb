//! PostgreSQL's errors as [`StoreError`]s: retriable or not, and with the server's words on
//! one line.

use tokio_postgres::error::SqlState;

use crate::store::StoreError;

/// Connection failures and server shutdowns are retriable; everything else is the backend's.
pub(crate) fn pg_error(e: tokio_postgres::Error) -> StoreError {
    let retriable = e.is_closed()
        || e.code().is_none_or(|code| {
            code.code().starts_with("08")
                || *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
                || *code == SqlState::TOO_MANY_CONNECTIONS
                || *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
        });
    if retriable {
        StoreError::Unavailable(Box::new(PgFailure(e)))
    } else {
        backend_error(e)
    }
}

/// A failure that retrying will not mend.
pub(super) fn backend_error(e: tokio_postgres::Error) -> StoreError {
    StoreError::Backend(Box::new(PgFailure(e)))
}

/// The client error's message, with the server's words (see [`PgFailure`]).
pub(super) fn message(e: tokio_postgres::Error) -> String {
    PgFailure(e).to_string()
}

/// A client error whose message includes the server's (tokio-postgres says only "db error"
/// and keeps the server's words in its source), on one line: the server's DETAIL and HINT
/// (which tokio-postgres puts on lines of their own) and any line breaks within them are
/// joined with "; ".
#[derive(Debug)]
struct PgFailure(tokio_postgres::Error);

impl std::fmt::Display for PgFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Some(db) = self.0.as_db_error() else {
            // Other kinds also keep their cause in the source only.
            let text = match std::error::Error::source(&self.0) {
                Some(cause) => format!("{}: {cause}", self.0),
                None => self.0.to_string(),
            };
            return f.write_str(&one_line(&text));
        };
        write!(
            f,
            "{}: {}: {}",
            self.0,
            db.severity(),
            one_line(db.message())
        )?;
        if let Some(detail) = db.detail() {
            write!(f, "; DETAIL: {}", one_line(detail))?;
        }
        if let Some(hint) = db.hint() {
            write!(f, "; HINT: {}", one_line(hint))?;
        }
        Ok(())
    }
}

/// `text`'s lines, trimmed and joined with "; " (blank ones left out).
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

impl std::error::Error for PgFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lines_are_joined_with_semicolons() {
        assert_eq!(
            super::one_line("Process 1 waits.\n  Process 2 waits.\n\n"),
            "Process 1 waits.; Process 2 waits."
        );
        assert_eq!(super::one_line("one line"), "one line");
    }
}
