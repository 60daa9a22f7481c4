//! The process exit code: one table for all tools (README "Exit codes"), one type.
//!
//! Every place that chooses how a process ends names an [`ExitCode`]; the numbers live in
//! [`ExitCode::code`] alone. Two outcomes of one run combine with [`ExitCode::merge`].

/// The signal that stopped a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C): exit 130.
    Int,
    /// SIGTERM (a cancelled job): exit 143.
    Term,
    /// Not a signal the process received: stdout was closed (the next command ended), so no
    /// object can be delivered; the run stops as for a signal, exit 141 (as SIGPIPE's).
    Pipe,
}

impl Signal {
    /// `SIGINT`, `SIGTERM` or `SIGPIPE`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Int => "SIGINT",
            Self::Term => "SIGTERM",
            Self::Pipe => "SIGPIPE",
        }
    }
}

/// How a run ends (README "Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// 0: every object succeeded.
    Success,
    /// 1: one or more objects written carry an `error` (this step's, or an earlier step's
    /// passed through), or a report found something broken.
    Failure,
    /// 2: usage error, input that is not JSON objects, or a pipe that delivered no object.
    Usage,
    /// 3: no usable credential.
    Credential,
    /// 4: nothing failed, but something needs attention soon (a report's `Verdict::Soon`).
    Soon,
    /// 128 + the signal's number: 130 (SIGINT), 143 (SIGTERM) after every object was
    /// written, 141 when stdout closed before every object was delivered.
    Stopped(Signal),
}

impl ExitCode {
    /// Every exit code, in the README's order.
    pub const ALL: [Self; 8] = [
        Self::Success,
        Self::Failure,
        Self::Usage,
        Self::Credential,
        Self::Soon,
        Self::Stopped(Signal::Int),
        Self::Stopped(Signal::Term),
        Self::Stopped(Signal::Pipe),
    ];

    /// The number the process exits with.
    pub const fn code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::Failure => 1,
            Self::Usage => 2,
            Self::Credential => 3,
            Self::Soon => 4,
            Self::Stopped(Signal::Int) => 130,
            Self::Stopped(Signal::Pipe) => 141,
            Self::Stopped(Signal::Term) => 143,
        }
    }

    /// Which of two outcomes wins: a signal over everything, then a credential failure,
    /// a usage error, a failure, something needing attention soon ("1 wins over 4"),
    /// success last.
    const fn rank(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::Soon => 1,
            Self::Failure => 2,
            Self::Usage => 3,
            Self::Credential => 4,
            Self::Stopped(Signal::Int) => 5,
            Self::Stopped(Signal::Pipe) => 6,
            Self::Stopped(Signal::Term) => 7,
        }
    }

    /// The exit code of a run that had both outcomes: the one that wins.
    #[must_use]
    pub const fn merge(self, other: Self) -> Self {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }

    /// Whether the run succeeded (exit 0).
    pub const fn is_success(self) -> bool {
        matches!(self, Self::Success)
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        Self::from(code.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_table() {
        let numbers: Vec<u8> = ExitCode::ALL.iter().map(|c| c.code()).collect();
        assert_eq!(numbers, [0, 1, 2, 3, 4, 130, 143, 141]);
    }

    #[test]
    fn merge_keeps_the_winner_whatever_the_order() {
        use ExitCode::{Credential, Failure, Soon, Stopped, Success, Usage};
        let cases = [
            (Success, Soon, Soon),
            (Soon, Failure, Failure),
            (Failure, Usage, Usage),
            (Usage, Credential, Credential),
            (Failure, Credential, Credential),
            (Credential, Stopped(Signal::Int), Stopped(Signal::Int)),
            (Soon, Stopped(Signal::Pipe), Stopped(Signal::Pipe)),
        ];
        for (a, b, want) in cases {
            assert_eq!(a.merge(b), want, "{a:?} + {b:?}");
            assert_eq!(b.merge(a), want, "{b:?} + {a:?}");
        }
        for c in ExitCode::ALL {
            assert_eq!(c.merge(c), c);
            assert_eq!(c.merge(Success), c);
        }
    }
}
