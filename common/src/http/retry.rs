//! The retry policy: which answers are transient (408, 429, 500, 502, 503, 504,
//! connection errors), when resending is safe (idempotent requests; 429 and 503 mean "not
//! done"), `Retry-After` honoured as given, otherwise jittered exponential backoff, and
//! never a retry that the object's deadline would cut.

use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;

use super::client::host_path;
use super::errors::error_from_response;
use super::{Auth, Http, Request, Response, Service};
use crate::error::{ErrorKind, Result, codes};
use crate::ui;
use crate::wait::Deadline;

/// How many times a request is tried at most (a throttled try, paced by the server's
/// `Retry-After`, does not count: throttling honoured within the deadline is not failure).
const MAX_ATTEMPTS: u32 = 6;
/// First backoff delay; doubled per attempt, jittered.
const BACKOFF_BASE: Duration = Duration::from_millis(400);
/// Longest backoff delay (a longer `Retry-After` is still honoured).
const BACKOFF_CAP: Duration = Duration::from_secs(10);

impl Http {
    /// Sends `req` with retry, until `deadline`; no dry-run check ([`Http::read`] and
    /// [`Http::write`] are the entry points).
    pub(super) async fn send(&self, req: Request, deadline: Deadline) -> Result<Response> {
        let mut attempt = 0;
        let mut throttled = 0u32;
        loop {
            attempt += 1;
            let gate = self.wait_at_gate(&req, deadline).await?;
            let started = Instant::now();
            let outcome = self.send_once(&req, deadline).await;
            if let Some(k) = &gate {
                let answer = outcome.as_ref().ok();
                self.pacer
                    .answered(k, answer.map(|r| r.status), answer.map(|r| &r.headers));
            }
            let took = started.elapsed().as_millis();
            let (retry_in, err) = match outcome {
                Ok(resp) => {
                    ui::debug(&format!(
                        "{} {} -> {} ({took} ms)",
                        req.method, req.url, resp.status
                    ));
                    if (200..300).contains(&resp.status) || req.accept.contains(&resp.status) {
                        return Ok(resp);
                    }
                    let transient = matches!(resp.status, 408 | 429 | 500 | 502 | 503 | 504);
                    // An unknown outcome is only resent when resending is safe; 429 and 503 mean "not done".
                    let safe = req.idempotent || matches!(resp.status, 429 | 503);
                    let err = error_from_response(req.service, &resp);
                    if !(transient && safe && req.resend) {
                        return Err(err);
                    }
                    let ra = resp.retry_after();
                    if resp.status == 429 && ra.is_some_and(|d| !d.is_zero()) {
                        // Throttled, and told when to come back: not an attempt used up.
                        attempt -= 1;
                        throttled += 1;
                    }
                    (Some(ra), err)
                }
                Err(e) => {
                    ui::debug(&format!(
                        "{} {} -> {} ({took} ms)",
                        req.method,
                        req.url,
                        e.message()
                    ));
                    // A certificate that is not trusted stays so: no retry.
                    let retry = matches!(e.kind(), ErrorKind::Transport)
                        && !e.is(codes::UNTRUSTED_CERTIFICATE)
                        && (req.idempotent || e.is(codes::CONNECT_FAILED))
                        && req.resend;
                    if !retry {
                        return Err(e);
                    }
                    (Some(None), e)
                }
            };
            let Some(hint) = retry_in else {
                return Err(err);
            };
            if attempt >= MAX_ATTEMPTS {
                return Err(err.context(format!("gave up after {attempt} attempts")));
            }
            // A Retry-After is honoured as given: against a token bucket, coming back later than
            // asked (e.g. with jitter) only leaves refilled tokens unused.
            let wait = hint.unwrap_or_else(|| backoff(attempt));
            if deadline.remaining() <= wait {
                let tries = attempt + throttled;
                return Err(err
                    .context(format!(
                        "gave up: --timeout would pass before retry {tries}"
                    ))
                    .cut_by_deadline());
            }
            ui::debug(&format!(
                "retrying in {:.1}s: {}",
                wait.as_secs_f64(),
                err.message()
            ));
            deadline
                .interrupt()
                .sleep(
                    wait,
                    &format!("the retry of {} {}", req.method, host_path(&req.url)),
                )
                .await
                .map_err(|i| i.context(err.message()))?;
        }
    }
}

impl Http {
    /// An ARM request waits at its principal's and subscription's gate (see `pace`): its key,
    /// once admitted. The wait (ARM's Retry-After, up to the deadline) ends at a signal, as
    /// every other wait does.
    async fn wait_at_gate(
        &self,
        req: &Request,
        deadline: Deadline,
    ) -> Result<Option<super::pace::Key>> {
        let gate = match (&req.service, &req.auth) {
            (Service::Arm, Auth::Tenant(tenant)) => {
                let kind = if req.is_write() {
                    super::pace::Kind::Write
                } else {
                    super::pace::Kind::Read
                };
                super::pace::key(kind, tenant, req.url.path())
            }
            _ => None,
        };
        if let Some(k) = &gate {
            let what = format!("{} {}", req.method, host_path(&req.url));
            deadline
                .interrupt()
                .abandon(&what, async {
                    self.pacer.admit(k, deadline.remaining()).await;
                    Ok(())
                })
                .await?;
        }
        Ok(gate)
    }
}

/// How long to wait before a request [`Request::never_resent`] that failed with `e` is made
/// again from a fresh read (its `n`-th time, 1-based): the backoff a resend would have had, or
/// `None` when `e` is no failure a resend would have followed (a refusal, an untrusted
/// certificate, an interrupt, the deadline).
pub fn resend_wait(e: &crate::Error, n: u32) -> Option<Duration> {
    let transient = match e.status() {
        Some(s) => matches!(s, 408 | 429 | 500 | 502 | 503 | 504),
        None => matches!(e.kind(), ErrorKind::Transport) && !e.is(codes::UNTRUSTED_CERTIFICATE),
    };
    (transient && n < MAX_ATTEMPTS).then(|| backoff(n))
}

/// Jittered exponential backoff for attempt `n` (1-based).
fn backoff(n: u32) -> Duration {
    let exp = BACKOFF_BASE
        .saturating_mul(1 << n.saturating_sub(1).min(8))
        .min(BACKOFF_CAP);
    // Equal jitter: half fixed, half random, so retries of parallel jobs spread out.
    // (fastrand, seeded per thread; the clock's sub-second digits are 0 on a microsecond clock.)
    exp / 2 + exp.mul_f64(fastrand::f64() / 2.0)
}

/// The wait a server asked for: `x-ms-retry-after-ms` or `retry-after-ms` (milliseconds, read
/// first, as azure_core's retry policy reads them), else `Retry-After` (seconds, or an HTTP date).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    for name in ["x-ms-retry-after-ms", "retry-after-ms"] {
        let ms = headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|ms| ms.is_finite() && *ms >= 0.0);
        if let Some(ms) = ms {
            return Some(Duration::from_secs_f64(ms.min(3_600_000.0) / 1000.0));
        }
    }
    let v = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(3600.0)));
    }
    let when =
        time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()?;
    let d = when - time::OffsetDateTime::now_utc();
    Some(Duration::try_from(d).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_jitter_varies_within_equal_jitter_bounds() {
        for n in [1, 3, 9] {
            let exp = BACKOFF_BASE
                .saturating_mul(1 << (n - 1).min(8))
                .min(BACKOFF_CAP);
            let waits: std::collections::BTreeSet<Duration> = (0..64).map(|_| backoff(n)).collect();
            assert!(
                waits.len() > 32,
                "attempt {n}: 64 backoffs gave only {} distinct waits",
                waits.len()
            );
            for w in &waits {
                assert!(
                    *w >= exp / 2 && *w <= exp,
                    "attempt {n}: {w:?} outside [{:?}, {exp:?}]",
                    exp / 2
                );
            }
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert("retry-after", v.parse().unwrap());
            m
        };
        assert_eq!(retry_after(&h("3")), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(&h("0.5")), Some(Duration::from_millis(500)));
        assert_eq!(
            retry_after(&h("Wed, 21 Oct 2015 07:28:00 GMT")),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&h("soon")), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
        // Milliseconds win over whole seconds (a compressed simulator says both).
        let mut m = h("0");
        m.insert("retry-after-ms", "90".parse().unwrap());
        assert_eq!(retry_after(&m), Some(Duration::from_millis(90)));
        m.insert("x-ms-retry-after-ms", "40".parse().unwrap());
        assert_eq!(retry_after(&m), Some(Duration::from_millis(40)));
        m.insert("x-ms-retry-after-ms", "-1".parse().unwrap());
        assert_eq!(retry_after(&m), Some(Duration::from_millis(90)));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) >= BACKOFF_BASE / 2 && backoff(1) <= BACKOFF_BASE);
        assert!(backoff(3) >= BACKOFF_BASE * 2);
        assert!(backoff(30) <= BACKOFF_CAP);
    }
}
