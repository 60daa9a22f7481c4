//! The words and operators of a run command's script (see [`super::shell`]).

use super::shell::{Part, Word, is_name};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
    Word(Word),
    Sep,
    And,
    Or,
}

struct Lexer<'s> {
    chars: std::iter::Peekable<std::str::Chars<'s>>,
    toks: Vec<Tok>,
    word: Vec<Part>,
    started: bool,
}

impl Lexer<'_> {
    fn lit(&mut self, c: char, quoted: bool) {
        self.started = true;
        if let Some(Part::Lit { text, quoted: q }) = self.word.last_mut()
            && *q == quoted
        {
            text.push(c);
            return;
        }
        self.word.push(Part::Lit {
            text: c.to_string(),
            quoted,
        });
    }

    fn end_word(&mut self) {
        if self.started {
            self.toks
                .push(Tok::Word(Word(std::mem::take(&mut self.word))));
            self.started = false;
        }
    }

    /// After a `$`: a name, `{name}`, `?`, or `( script )`.
    fn dollar(&mut self, quoted: bool) -> Result<(), String> {
        self.started = true;
        match self.chars.peek().copied() {
            Some('(') => {
                self.chars.next();
                let script = self.subst()?;
                self.word.push(Part::Subst { script, quoted });
            }
            Some('{') => {
                self.chars.next();
                let mut name = String::new();
                loop {
                    match self.chars.next() {
                        Some('}') => break,
                        Some(c) => name.push(c),
                        None => return Err("syntax error: missing '}'".into()),
                    }
                }
                if !is_name(&name) {
                    return Err(format!("${{{name}}}: bad substitution"));
                }
                self.word.push(Part::Var { name, quoted });
            }
            Some('?') => {
                self.chars.next();
                self.word.push(Part::Var {
                    name: "?".into(),
                    quoted,
                });
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let mut name = String::new();
                while let Some(&c) = self.chars.peek() {
                    if c.is_ascii_alphanumeric() || c == '_' {
                        name.push(c);
                        self.chars.next();
                    } else {
                        break;
                    }
                }
                self.word.push(Part::Var { name, quoted });
            }
            _ => self.lit('$', quoted),
        }
        Ok(())
    }

    /// The text of `$( … )` up to its closing parenthesis (quotes and nesting respected).
    fn subst(&mut self) -> Result<String, String> {
        let mut depth = 1;
        let mut out = String::new();
        let mut quote: Option<char> = None;
        while let Some(c) = self.chars.next() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some('"') | None, '\\') => {
                    out.push(c);
                    if let Some(n) = self.chars.next() {
                        out.push(n);
                    }
                    continue;
                }
                (None, '\'' | '"') => quote = Some(c),
                (None, '(') => depth += 1,
                (None, ')') => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(out);
                    }
                }
                _ => {}
            }
            out.push(c);
        }
        Err("syntax error: missing ')' of $(".into())
    }

    fn double_quoted(&mut self) -> Result<(), String> {
        self.started = true;
        loop {
            match self.chars.next() {
                Some('"') => return Ok(()),
                Some('\\') => match self.chars.next() {
                    Some(c @ ('$' | '`' | '"' | '\\')) => self.lit(c, true),
                    Some('\n') => {}
                    Some(c) => {
                        self.lit('\\', true);
                        self.lit(c, true);
                    }
                    None => return Err("syntax error: unterminated quoted string".into()),
                },
                Some('$') => self.dollar(true)?,
                Some('`') => return Err("backquotes are not supported: use $( … )".into()),
                Some(c) => self.lit(c, true),
                None => return Err("syntax error: unterminated quoted string".into()),
            }
        }
    }
}

pub(super) fn tokenize(script: &str) -> Result<Vec<Tok>, String> {
    let mut lx = Lexer {
        chars: script.chars().peekable(),
        toks: Vec::new(),
        word: Vec::new(),
        started: false,
    };
    while let Some(c) = lx.chars.next() {
        match c {
            ' ' | '\t' | '\r' => lx.end_word(),
            '\n' | ';' => {
                lx.end_word();
                if c == ';' && lx.chars.peek() == Some(&';') {
                    return Err("syntax error: unexpected \";;\" (case is not supported)".into());
                }
                lx.toks.push(Tok::Sep);
            }
            '&' | '|' => {
                lx.end_word();
                if lx.chars.peek() == Some(&c) {
                    lx.chars.next();
                    lx.toks.push(if c == '&' { Tok::And } else { Tok::Or });
                } else if c == '|' {
                    return Err("pipes (|) are not supported".into());
                } else {
                    return Err("background jobs (&) are not supported".into());
                }
            }
            '<' | '>' => return Err("redirections (< >) are not supported".into()),
            '(' | ')' => return Err("subshells ( … ) are not supported".into()),
            '`' => return Err("backquotes are not supported: use $( … )".into()),
            '#' if !lx.started => {
                while lx.chars.peek().is_some_and(|&n| n != '\n') {
                    lx.chars.next();
                }
            }
            '\'' => {
                lx.started = true;
                loop {
                    match lx.chars.next() {
                        Some('\'') => break,
                        Some(c) => lx.lit(c, true),
                        None => return Err("syntax error: unterminated quoted string".into()),
                    }
                }
            }
            '"' => lx.double_quoted()?,
            '\\' => match lx.chars.next() {
                Some('\n') => {}
                Some(c) => lx.lit(c, true),
                None => lx.lit('\\', false),
            },
            '$' => lx.dollar(false)?,
            c => lx.lit(c, false),
        }
    }
    lx.end_word();
    Ok(lx.toks)
}
