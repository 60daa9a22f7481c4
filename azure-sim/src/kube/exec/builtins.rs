//! The builtins besides `echo`, `sleep`, `true`, `false`, `:`, `exit` and `break`: `seq`,
//! `set` (`-e`, `-u`, `-o pipefail`) and `[`/`test`, as `sh` (dash) answers them.

use std::fmt::Write as _;

use super::{Flow, Run, SEQ_LIMIT};

impl Run<'_> {
    pub(super) fn seq(&mut self, args: &[String]) -> (i32, Flow) {
        let nums: Vec<i64> = args.iter().filter_map(|a| a.parse().ok()).collect();
        let (first, last) = match nums.as_slice() {
            [l] if args.len() == 1 => (1, *l),
            [f, l] if args.len() == 2 => (*f, *l),
            _ => {
                self.stderr("seq: invalid arguments\n");
                return (1, Flow::Go);
            }
        };
        if last - first >= SEQ_LIMIT {
            self.stderr("azure-sim: seq: too many numbers\n");
            return (1, Flow::Go);
        }
        let out = (first..=last).fold(String::new(), |mut s, n| {
            let _ = writeln!(s, "{n}");
            s
        });
        self.stdout(&out);
        (0, Flow::Go)
    }

    pub(super) fn set(&mut self, args: &[String]) -> (i32, Flow) {
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if a == "-o" || a == "+o" {
                if it.next().map(String::as_str) != Some("pipefail") {
                    self.stderr("sh: 1: set: Illegal option -o\n");
                    return (2, Flow::Go);
                }
                continue;
            }
            let on = a.starts_with('-');
            let Some(letters) = a.strip_prefix(['-', '+']) else {
                self.stderr("azure-sim: set: positional parameters are not supported\n");
                return (2, Flow::Go);
            };
            for l in letters.chars() {
                match l {
                    'e' => self.errexit = on,
                    'u' => self.nounset = on,
                    other => {
                        self.stderr(&format!("sh: 1: set: Illegal option -{other}\n"));
                        return (2, Flow::Go);
                    }
                }
            }
        }
        (0, Flow::Go)
    }
}

/// `test` on its arguments: `None` when they are not a test it reads.
pub(super) fn test(args: &[&str]) -> Option<bool> {
    match args {
        [] => Some(false),
        ["!", rest @ ..] => test(rest).map(|b| !b),
        [word] | ["-n", word] => Some(!word.is_empty()),
        ["-z", word] => Some(word.is_empty()),
        [lhs, "=", rhs] => Some(lhs == rhs),
        [lhs, "!=", rhs] => Some(lhs != rhs),
        [lhs, op, rhs] => {
            let (left, right) = (lhs.parse::<i64>().ok()?, rhs.parse::<i64>().ok()?);
            match *op {
                "-eq" => Some(left == right),
                "-ne" => Some(left != right),
                "-lt" => Some(left < right),
                "-le" => Some(left <= right),
                "-gt" => Some(left > right),
                "-ge" => Some(left >= right),
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::test;

    #[test]
    fn tests_read_as_sh_reads_them() {
        assert_eq!(test(&["-n", "x"]), Some(true));
        assert_eq!(test(&["-z", "x"]), Some(false));
        assert_eq!(test(&["a", "=", "a"]), Some(true));
        assert_eq!(test(&["!", "a", "=", "b"]), Some(true));
        assert_eq!(test(&["3", "-lt", "10"]), Some(true));
        assert_eq!(test(&["a", "-lt", "b"]), None);
        assert_eq!(test(&["a", "b", "c", "d"]), None);
    }
}
