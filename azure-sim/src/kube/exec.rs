//! Runs a run command's script ([`super::shell`]) the way `sh` in AKS's command pod would, with
//! only these programs: `kubectl` ([`super::kubectl`]), `echo`, `sleep`, `seq`, `[`/`test`,
//! `true`, `false`, `:`, `set`, `exit` and `break`. Another program is "not found" (127).
//!
//! stdout and stderr both go to the command's logs (as AKS returns them), capped at 512 KiB;
//! `$( … )` captures stdout. `sleep` advances the command's clock, in which the kubelet pulls.

use std::collections::HashMap;

mod builtins;

use super::kubectl::{Kubectl, Out};
use super::shell::{AndOr, Body, Cmd, Part, Word, parse};
use crate::core::Core;
use builtins::test;

/// Who a command's `kubectl` acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Identity {
    /// The cluster's local admin account (a cluster with local accounts).
    Admin,
    /// The Entra principal of the command's `clusterToken` (Kubernetes RBAC is not modelled:
    /// a valid token of the cluster's tenant may do what the admin may).
    User,
    /// A `clusterToken` the API server refuses.
    Unauthorized,
}

/// What a command came to.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub exit_code: i32,
    pub logs: String,
    /// The command's own clock at its end (milliseconds).
    pub took_ms: u64,
}

/// AKS caps a command's output ("The output for command invoke is limited to 512kB in size").
const LOG_LIMIT: usize = 512 * 1024;
/// Commands (and loop turns) a script may run before it is stopped.
const STEP_LIMIT: u64 = 100_000;
/// How long a command may run, in its own clock, before AKS stops it.
const TIME_LIMIT_MS: u64 = 30 * 60 * 1000;
/// The most numbers `seq` prints.
const SEQ_LIMIT: i64 = 10_000;

enum Flow {
    Go,
    Break,
    Exit(i32),
}

struct Run<'a> {
    k: Kubectl<'a>,
    vars: HashMap<String, String>,
    nounset: bool,
    errexit: bool,
    status: i32,
    steps: u64,
    clock: u64,
    /// Output sinks: `[0]` is the logs; a `$( … )` pushes its own for stdout.
    sinks: Vec<String>,
}

/// Runs `script` in the cluster `cluster_id` as `identity`.
pub(crate) fn run_script(
    core: &Core,
    cluster_id: &str,
    identity: Identity,
    script: &str,
) -> Outcome {
    let mut run = Run {
        k: Kubectl {
            core,
            cluster_id: cluster_id.to_owned(),
            identity,
            made: HashMap::new(),
        },
        vars: HashMap::new(),
        nounset: false,
        errexit: false,
        status: 0,
        steps: 0,
        clock: 0,
        sinks: vec![String::new()],
    };
    let exit_code = match parse(script) {
        Err(e) => {
            run.stderr(&format!("sh: 1: {e}\n"));
            2
        }
        Ok(body) => match run.body(&body, false) {
            Flow::Exit(c) => c,
            Flow::Go | Flow::Break => run.status,
        },
    };
    let mut logs = run.sinks.swap_remove(0);
    if logs.len() > LOG_LIMIT {
        let mut cut = LOG_LIMIT;
        while !logs.is_char_boundary(cut) {
            cut -= 1;
        }
        logs.truncate(cut);
    }
    Outcome {
        exit_code,
        logs,
        took_ms: run.clock,
    }
}

impl Run<'_> {
    fn stdout(&mut self, s: &str) {
        if let Some(top) = self.sinks.last_mut() {
            top.push_str(s);
        }
    }

    fn stderr(&mut self, s: &str) {
        self.sinks[0].push_str(s);
    }

    fn body(&mut self, body: &Body, cond: bool) -> Flow {
        for ao in body {
            match self.and_or(ao, cond) {
                Flow::Go => {}
                other => return other,
            }
            if self.errexit && !cond && self.status != 0 {
                return Flow::Exit(self.status);
            }
        }
        Flow::Go
    }

    fn and_or(&mut self, ao: &AndOr, cond: bool) -> Flow {
        // Every command of an && / || list but the last is a condition for `set -e`.
        match self.cmd(&ao.first, cond || !ao.rest.is_empty()) {
            Flow::Go => {}
            other => return other,
        }
        for (i, (and, c)) in ao.rest.iter().enumerate() {
            if *and != (self.status == 0) {
                continue;
            }
            match self.cmd(c, cond || i + 1 < ao.rest.len()) {
                Flow::Go => {}
                other => return other,
            }
        }
        Flow::Go
    }

    fn cmd(&mut self, c: &Cmd, cond: bool) -> Flow {
        self.steps += 1;
        if self.steps > STEP_LIMIT || self.clock > TIME_LIMIT_MS {
            self.stderr("azure-sim: the command ran too long and was stopped\n");
            return Flow::Exit(124);
        }
        match c {
            Cmd::Simple { assigns, args } => self.simple(assigns, args),
            Cmd::If {
                cond: test,
                then,
                otherwise,
            } => {
                match self.body(test, true) {
                    Flow::Go => {}
                    other => return other,
                }
                let branch = if self.status == 0 { then } else { otherwise };
                self.status = 0;
                self.body(branch, cond)
            }
            Cmd::For { var, items, body } => {
                let mut words = Vec::new();
                for w in items {
                    match self.expand(w, true) {
                        Ok(f) => words.extend(f),
                        Err(flow) => return flow,
                    }
                }
                self.status = 0;
                for w in words {
                    self.vars.insert(var.clone(), w);
                    match self.body(body, cond) {
                        Flow::Go => {}
                        Flow::Break => break,
                        exit @ Flow::Exit(_) => return exit,
                    }
                }
                Flow::Go
            }
        }
    }

    /// A word's fields: unquoted expansions split on blanks when `split`.
    fn expand(&mut self, w: &Word, split: bool) -> Result<Vec<String>, Flow> {
        let mut fields: Vec<String> = Vec::new();
        let mut cur = String::new();
        let mut has = false;
        for part in &w.0 {
            let (text, quoted) = match part {
                Part::Lit { text, quoted } => (text.clone(), *quoted || !split),
                Part::Var { name, quoted } => (self.var(name)?, *quoted || !split),
                Part::Subst { script, quoted } => (self.subst(script), *quoted || !split),
            };
            if quoted || matches!(part, Part::Lit { .. }) {
                cur.push_str(&text);
                has = true;
                continue;
            }
            let mut pieces = text.split([' ', '\t', '\n']).peekable();
            let starts_blank = text.starts_with([' ', '\t', '\n']);
            if starts_blank && has {
                fields.push(std::mem::take(&mut cur));
                has = false;
            }
            while let Some(p) = pieces.next() {
                if !p.is_empty() {
                    cur.push_str(p);
                    has = true;
                }
                if pieces.peek().is_some() && has {
                    fields.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
        }
        if has {
            fields.push(cur);
        }
        Ok(fields)
    }

    fn var(&mut self, name: &str) -> Result<String, Flow> {
        if name == "?" {
            return Ok(self.status.to_string());
        }
        match self.vars.get(name) {
            Some(v) => Ok(v.clone()),
            None if self.nounset => {
                self.stderr(&format!("sh: 1: {name}: parameter not set\n"));
                Err(Flow::Exit(2))
            }
            None => Ok(String::new()),
        }
    }

    /// `$( … )`: its stdout without trailing newlines; its status becomes `$?`.
    fn subst(&mut self, script: &str) -> String {
        let saved = self.vars.clone();
        self.sinks.push(String::new());
        let status = match parse(script) {
            Err(e) => {
                self.stderr(&format!("sh: 1: {e}\n"));
                2
            }
            Ok(body) => match self.body(&body, false) {
                Flow::Exit(c) => c,
                Flow::Go | Flow::Break => self.status,
            },
        };
        let out = self.sinks.pop().unwrap_or_default();
        self.vars = saved;
        self.status = status;
        out.trim_end_matches('\n').to_owned()
    }

    fn simple(&mut self, assigns: &[(String, Word)], args: &[Word]) -> Flow {
        self.status = 0;
        for (name, w) in assigns {
            match self.expand(w, false) {
                Ok(f) => {
                    self.vars.insert(name.clone(), f.concat());
                }
                Err(flow) => return flow,
            }
        }
        let mut fields = Vec::new();
        for w in args {
            match self.expand(w, true) {
                Ok(f) => fields.extend(f),
                Err(flow) => return flow,
            }
        }
        let Some((prog, rest)) = fields.split_first() else {
            return Flow::Go;
        };
        let (status, flow) = match prog.as_str() {
            "kubectl" => {
                let Out {
                    stdout,
                    stderr,
                    status,
                } = self.k.run(rest, self.clock);
                self.stdout(&stdout);
                self.stderr(&stderr);
                // Each call to the API server takes a moment.
                self.clock += 100;
                (status, Flow::Go)
            }
            "echo" => {
                let (newline, words) = match rest.split_first() {
                    Some((n, w)) if n == "-n" => (false, w),
                    _ => (true, rest),
                };
                let mut line = words.join(" ");
                if newline {
                    line.push('\n');
                }
                self.stdout(&line);
                (0, Flow::Go)
            }
            "true" | ":" => (0, Flow::Go),
            "false" => (1, Flow::Go),
            "sleep" => match rest.first().and_then(|s| s.parse::<f64>().ok()) {
                Some(s) if rest.len() == 1 && (0.0..=3600.0).contains(&s) => {
                    self.clock += (s * 1000.0) as u64;
                    (0, Flow::Go)
                }
                _ => {
                    self.stderr("sleep: invalid time interval\n");
                    (1, Flow::Go)
                }
            },
            "seq" => self.seq(rest),
            "[" | "test" => {
                let mut t: Vec<&str> = rest.iter().map(String::as_str).collect();
                if prog == "[" && t.pop() != Some("]") {
                    self.stderr("sh: 1: [: missing ]\n");
                    (2, Flow::Go)
                } else {
                    match test(&t) {
                        Some(true) => (0, Flow::Go),
                        Some(false) => (1, Flow::Go),
                        None => {
                            self.stderr(&format!("sh: 1: {prog}: unexpected operator\n"));
                            (2, Flow::Go)
                        }
                    }
                }
            }
            "set" => self.set(rest),
            "exit" => match rest.first().map(|s| s.parse::<i32>()) {
                None => (self.status, Flow::Exit(self.status)),
                Some(Ok(n)) => (n & 255, Flow::Exit(n & 255)),
                Some(Err(_)) => {
                    self.stderr(&format!("sh: 1: exit: Illegal number: {}\n", rest[0]));
                    (2, Flow::Exit(2))
                }
            },
            "break" => (0, Flow::Break),
            other => {
                self.stderr(&format!("sh: 1: {other}: not found\n"));
                (127, Flow::Go)
            }
        };
        self.status = status;
        flow
    }
}
