//! The shell language a run command's script is read in: a small, strict subset of POSIX sh.
//!
//! Words with single quotes, double quotes (with `$NAME`, `${NAME}`, `$?` and `$( … )`
//! inside), backslash escapes, and unquoted expansions; simple commands with leading
//! `NAME=value` assignments; `&&` and `||` lists; `if … then … [else …] fi`; `for NAME in
//! WORDS; do … done`; `#` comments. Pipes, redirections, background jobs, subshells, `case`,
//! `while`, functions and backquotes are refused when the script is read (the command then
//! fails with the shell's exit status 2 and says what it could not read), so nothing in a
//! script is skipped or half understood.

use super::lex::{Tok, tokenize};

/// A piece of a word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    /// Text, taken as it is (`quoted`: it came from quotes or an escape).
    Lit { text: String, quoted: bool },
    /// `$NAME` / `${NAME}` / `$?`.
    Var { name: String, quoted: bool },
    /// `$( … )`: the script inside.
    Subst { script: String, quoted: bool },
}

/// A word: its pieces in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Word(pub Vec<Part>);

impl Word {
    /// The word as plain unquoted text, if it is nothing else (keywords, names).
    pub(crate) fn plain(&self) -> Option<&str> {
        match self.0.as_slice() {
            [
                Part::Lit {
                    text,
                    quoted: false,
                },
            ] => Some(text),
            _ => None,
        }
    }
}

/// One command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cmd {
    /// `NAME=value … program args …` (either part may be empty, not both).
    Simple {
        assigns: Vec<(String, Word)>,
        args: Vec<Word>,
    },
    /// `if cond; then body; [else body;] fi`.
    If {
        cond: Body,
        then: Body,
        otherwise: Body,
    },
    /// `for var in items; do body; done`.
    For {
        var: String,
        items: Vec<Word>,
        body: Body,
    },
}

/// `a && b || c …`: the first command, then each next one with the operator before it
/// (`true`: `&&`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AndOr {
    pub first: Cmd,
    pub rest: Vec<(bool, Cmd)>,
}

/// A list of and-or lists, run in order.
pub(crate) type Body = Vec<AndOr>;

/// Reads a script.
pub(crate) fn parse(script: &str) -> Result<Body, String> {
    let toks = tokenize(script)?;
    let mut p = Parser { toks, at: 0 };
    let (body, end) = p.body(&[])?;
    match end {
        None => Ok(body),
        Some(k) => Err(format!("syntax error: unexpected \"{k}\"")),
    }
}

const KEYWORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "for", "in", "do", "done", "case", "esac", "while",
    "until", "function", "{", "}", "!",
];

pub(super) fn is_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn keyword(&self) -> Option<&str> {
        match self.peek() {
            Some(Tok::Word(w)) => w.plain().filter(|p| KEYWORDS.contains(p)),
            _ => None,
        }
    }

    fn skip_seps(&mut self) {
        while self.peek() == Some(&Tok::Sep) {
            self.at += 1;
        }
    }

    fn expect(&mut self, kw: &str) -> Result<(), String> {
        if self.keyword() == Some(kw) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("syntax error: expected \"{kw}\""))
        }
    }

    /// And-or lists up to one of `ends` (returned, not consumed) or the end of the script.
    fn body(&mut self, ends: &[&str]) -> Result<(Body, Option<String>), String> {
        let mut out = Vec::new();
        loop {
            self.skip_seps();
            let Some(tok) = self.peek() else {
                return Ok((out, None));
            };
            if let Some(k) = self.keyword()
                && ends.contains(&k)
            {
                return Ok((out, Some(k.to_owned())));
            }
            if matches!(tok, Tok::And | Tok::Or) {
                return Err("syntax error: unexpected \"&&\" or \"||\"".into());
            }
            out.push(self.and_or()?);
        }
    }

    fn and_or(&mut self) -> Result<AndOr, String> {
        let first = self.command()?;
        let mut rest = Vec::new();
        loop {
            let and = match self.peek() {
                Some(Tok::And) => true,
                Some(Tok::Or) => false,
                _ => return Ok(AndOr { first, rest }),
            };
            self.at += 1;
            self.skip_seps();
            rest.push((and, self.command()?));
        }
    }

    fn command(&mut self) -> Result<Cmd, String> {
        match self.keyword() {
            Some("if") => {
                self.at += 1;
                self.if_rest()
            }
            Some("for") => {
                self.at += 1;
                self.for_rest()
            }
            Some(k) => Err(format!("syntax error: \"{k}\" is not supported here")),
            None => self.simple(),
        }
    }

    fn if_rest(&mut self) -> Result<Cmd, String> {
        let (cond, _) = self.body(&["then"])?;
        self.expect("then")?;
        let (then, end) = self.body(&["else", "elif", "fi"])?;
        let otherwise = match end.as_deref() {
            Some("else") => {
                self.at += 1;
                let (b, _) = self.body(&["fi"])?;
                b
            }
            Some("elif") => return Err("elif is not supported".into()),
            _ => Vec::new(),
        };
        self.expect("fi")?;
        if cond.is_empty() {
            return Err("syntax error: if without a condition".into());
        }
        Ok(Cmd::If {
            cond,
            then,
            otherwise,
        })
    }

    fn for_rest(&mut self) -> Result<Cmd, String> {
        let var = match self.peek() {
            Some(Tok::Word(w)) => w.plain().filter(|n| is_name(n)).map(str::to_owned),
            _ => None,
        }
        .ok_or("syntax error: for needs a variable name")?;
        self.at += 1;
        self.expect("in")?;
        let mut items = Vec::new();
        while let Some(Tok::Word(w)) = self.peek() {
            items.push(w.clone());
            self.at += 1;
        }
        self.skip_seps();
        self.expect("do")?;
        let (body, _) = self.body(&["done"])?;
        self.expect("done")?;
        Ok(Cmd::For { var, items, body })
    }

    fn simple(&mut self) -> Result<Cmd, String> {
        let mut assigns = Vec::new();
        let mut args = Vec::new();
        while let Some(Tok::Word(w)) = self.peek() {
            let w = w.clone();
            self.at += 1;
            if args.is_empty()
                && let Some((name, value)) = assignment(&w)
            {
                assigns.push((name, value));
            } else {
                args.push(w);
            }
        }
        if assigns.is_empty() && args.is_empty() {
            return Err("syntax error: a command was expected".into());
        }
        Ok(Cmd::Simple { assigns, args })
    }
}

/// `NAME=value` as a name and the value's word.
fn assignment(w: &Word) -> Option<(String, Word)> {
    let Some(Part::Lit {
        text,
        quoted: false,
    }) = w.0.first()
    else {
        return None;
    };
    let (name, first) = text.split_once('=')?;
    if !is_name(name) {
        return None;
    }
    let mut parts = Vec::new();
    if !first.is_empty() {
        parts.push(Part::Lit {
            text: first.to_owned(),
            quoted: false,
        });
    }
    parts.extend(w.0[1..].iter().cloned());
    Some((name.to_owned(), Word(parts)))
}

#[cfg(test)]
mod tests {
    use super::{Cmd, Part, parse};

    #[test]
    fn reads_the_subset() {
        let b = parse(
            "set -u\nns='a b'\nx=$(kubectl get pod \"$ns\" -o 'jsonpath={.a}')\n\
             for i in $(seq 3); do\n  if [ -n \"$x\" ] || false; then break; fi\n  sleep 1\ndone\n\
             echo \"done $x\" # comment\n",
        )
        .unwrap();
        assert_eq!(b.len(), 5);
        let Cmd::Simple { assigns, .. } = &b[2].first else {
            panic!()
        };
        assert_eq!(assigns[0].0, "x");
        assert!(matches!(
            assigns[0].1.0[0],
            Part::Subst { quoted: false, .. }
        ));
        let Cmd::For { var, body, .. } = &b[3].first else {
            panic!()
        };
        assert_eq!(var, "i");
        assert_eq!(body.len(), 2);
        let Cmd::If { cond, .. } = &body[0].first else {
            panic!()
        };
        assert_eq!(cond[0].rest.len(), 1);
    }

    #[test]
    fn refuses_what_it_does_not_read() {
        for bad in [
            "kubectl get pods | grep x",
            "kubectl get pods > /tmp/x",
            "sleep 1 &",
            "(cd /)",
            "echo `id`",
            "case x in x) ;; esac",
            "while true; do break; done",
            "if true; then echo",
            "echo 'open",
            "for 1 in a; do :; done",
            "&& x",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
