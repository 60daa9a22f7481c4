//! common's HTTP client, retry, long-running-operation poller and driver against a local
//! HTTPS server (rcgen certificate, rustls, axum) on 127.0.0.1 — no simulator, no network.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use common::arm::OperationKind::{Location, Status};
use common::arm::follow_operation;
use common::auth::Credentials;
use common::cloud::Cloud;
use common::http::{Auth, Http, Request, Sent, Service, build_client};
use common::wait::Deadline;
use common::{ErrorKind, Secret};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde_json::json;

#[derive(Default)]
struct Counters {
    hits: Mutex<HashMap<String, usize>>,
    tokens: AtomicUsize,
    /// TCP connections accepted: zero proves no request (and no token) reached the server.
    connections: AtomicUsize,
}

impl Counters {
    fn hit(&self, key: &str) -> usize {
        let mut m = self.hits.lock().unwrap();
        let n = m.entry(key.to_owned()).or_default();
        *n += 1;
        *n
    }
}

type S = Arc<Counters>;

/// A token; for tenant `down`, a refusal after 300 ms (counted as `token-down`).
async fn token(State(c): State<S>, Path(tenant): Path<String>) -> Response {
    if tenant == "down" {
        c.hit("token-down");
        tokio::time::sleep(Duration::from_millis(300)).await;
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(
                json!({"error":"invalid_request","error_description":"AADSTS90002: Tenant 'down' not found."}),
            ),
        )
            .into_response();
    }
    c.tokens.fetch_add(1, Ordering::Relaxed);
    axum::Json(
        json!({"token_type":"Bearer","expires_in":3599,"access_token":"eyJ0eXAi.test-token-value.sig"}),
    )
    .into_response()
}

/// 429 with Retry-After for the first `n` calls, then 200.
async fn throttled(State(c): State<S>, Path(n): Path<usize>) -> Response {
    if c.hit("throttled") <= n {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            axum::Json(json!({"error":{"code":"TooManyRequests","message":"slow down"}})),
        )
            .into_response();
    }
    axum::Json(json!({"ok": true})).into_response()
}

async fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [("retry-after", "1")],
        axum::Json(json!({"error":{"code":"ServiceUnavailable","message":"down"}})),
    )
        .into_response()
}

async fn failing_post(State(c): State<S>) -> Response {
    c.hit("failing_post");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(json!({"error":{"code":"InternalServerError","message":"boom"}})),
    )
        .into_response()
}

async fn forbidden(headers: HeaderMap) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (StatusCode::FORBIDDEN, [("x-ms-request-id", "req-123")], axum::Json(json!({"error":{"code":"AuthorizationFailed","message":format!("no rights; saw auth {}", auth.len())}}))).into_response()
}

/// `/ops/{outcome}/{id}`: InProgress twice, then the outcome.
async fn op_status(State(c): State<S>, Path((outcome, id)): Path<(String, String)>) -> Response {
    let n = c.hit(&format!("op-{outcome}-{id}"));
    let body = match (n, outcome.as_str()) {
        (1 | 2, _) | (_, "hang") => {
            json!({"name": id, "status": "InProgress", "percentComplete": n * 30})
        }
        (_, "ok") => json!({"name": id, "status": "Succeeded"}),
        (_, "canceled") => json!({"name": id, "status": "Canceled"}),
        (_, "cancelled") => json!({"name": id, "status": "Cancelled"}),
        _ => {
            json!({"name": id, "status": "Failed", "error": {"code": "ReconcileVMSSAgentPoolFailed", "message": "nodes did not come back"}})
        }
    };
    ([("retry-after", "0")], axum::Json(body)).into_response()
}

/// A Location-style operation: 202 twice, then 204.
async fn location_op(State(c): State<S>) -> Response {
    if c.hit("loc") <= 2 {
        return (StatusCode::ACCEPTED, [("retry-after", "0")]).into_response();
    }
    StatusCode::NO_CONTENT.into_response()
}

struct Server {
    addr: SocketAddr,
    counters: S,
    _dir: tempfile::TempDir,
    cloud_file: std::path::PathBuf,
}

/// `/page?n=…&next=…&key=…`: one item `n`, and `next` (if given) under `key` (default `nextLink`).
async fn page(axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>) -> Response {
    let mut body = json!({"value": [{"n": q.get("n").cloned().unwrap_or_default()}]});
    if let Some(next) = q.get("next") {
        let key = q.get("key").map_or("nextLink", String::as_str);
        body[key] = json!(next);
    }
    axum::Json(body).into_response()
}

/// `POST /start-at?op=…`: 202 with `op` as the `Azure-AsyncOperation` URL.
async fn start_at(
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let op = q.get("op").cloned().unwrap_or_default();
    (
        StatusCode::ACCEPTED,
        [
            ("azure-asyncoperation", op),
            ("retry-after", "0".to_owned()),
        ],
    )
        .into_response()
}

async fn serve() -> Server {
    let ck =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    serve_with(&ck).await
}

/// A server with the certificate `ck`: two servers sharing one are both trusted by a
/// client of either's cloud (the attacker that a victim trusts, at another port).
async fn serve_with(ck: &rcgen::CertifiedKey<rcgen::KeyPair>) -> Server {
    let cfg = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![ck.cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counters: S = Arc::default();
    let app = Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/throttled/{n}", get(throttled))
        .route(
            "/subscriptions/{sub}/long-throttle",
            get(|State(c): State<S>| async move {
                c.hit("long-throttle");
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "600")],
                    axum::Json(json!({"error":{"code":"TooManyRequests","message":"slow down"}})),
                )
                    .into_response()
            }),
        )
        .route("/unavailable", get(unavailable))
        .route("/failing", post(failing_post))
        .route("/forbidden", get(forbidden))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        .route("/ops/{outcome}/{id}", get(op_status))
        .route(
            "/start/{outcome}",
            post(|Path(outcome): Path<String>| async move {
                (
                    StatusCode::ACCEPTED,
                    [
                        ("azure-asyncoperation", format!("/ops/{outcome}/1")),
                        ("retry-after", "0".to_owned()),
                    ],
                )
                    .into_response()
            }),
        )
        .route("/loc", get(location_op))
        .route("/page", get(page))
        .route("/start-at", post(start_at))
        .with_state(counters.clone());
    let accepted = counters.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                break;
            };
            accepted.connections.fetch_add(1, Ordering::Relaxed);
            let acceptor = acceptor.clone();
            let app = app.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                        .await;
                }
            });
        }
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), ck.cert.pem()).unwrap();
    let base = format!("https://{addr}");
    let cloud_file = dir.path().join("cloud.json");
    let mut f = std::fs::File::create(&cloud_file).unwrap();
    write!(f, "{}", json!({"name":"Local","login_endpoint":base,"graph_endpoint":base,"arm_endpoint":base,"arm_audience":"https://management.azure.com/","registry_suffix":"azurecr.local","ca_file":"ca.pem"})).unwrap();
    Server {
        addr,
        counters,
        _dir: dir,
        cloud_file,
    }
}

/// A client for `cloud`, acting with a fixed client secret.
fn http_in(cloud: Cloud, dry_run: bool) -> Http {
    let cloud = Arc::new(cloud);
    let client = build_client(&cloud).unwrap();
    let creds = Arc::new(Credentials::client_secret(
        "11111111-1111-1111-1111-111111111111",
        Secret::new("client-secret-value-xyz"),
        cloud.clone(),
        client.clone(),
    ));
    Http::new(client, cloud, creds, dry_run)
}

/// A client for the test server's cloud (its CA trusted).
fn http_for(s: &Server) -> Http {
    http_in(Cloud::from_file(&s.cloud_file).unwrap(), false)
}

/// Sends an unauthenticated request for `path` to the test server, with a deadline `within`.
async fn send(
    http: &Http,
    s: &Server,
    method: reqwest::Method,
    path: &str,
    within: Duration,
) -> common::Result<common::http::Response> {
    let req = Request::new(method, url(s, path), Service::Arm, Auth::None);
    let deadline = Deadline::after(within);
    if req.is_write() {
        let sent = http.write(req, deadline).await?;
        Ok(sent.response().expect("a write outside --dry-run is sent"))
    } else {
        http.read(req, deadline).await
    }
}

fn url(s: &Server, path: &str) -> url::Url {
    url::Url::parse(&format!("https://{}{path}", s.addr)).unwrap()
}

#[tokio::test]
async fn retry_honours_retry_after_then_succeeds() {
    let s = serve().await;
    let http = http_for(&s);
    let started = Instant::now();
    let r = send(
        &http,
        &s,
        reqwest::Method::GET,
        "/throttled/1",
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert_eq!(r.body["ok"], true);
    let took = started.elapsed();
    // One whole second, the least a Retry-After in seconds asks for.
    assert!(
        took >= Duration::from_secs(1),
        "Retry-After: 1 must wait ~1s, took {took:?}"
    );
    assert!(took < Duration::from_secs(4), "{took:?}");
    assert_eq!(s.counters.hit("throttled"), 3, "2 requests were made");
}

#[tokio::test]
async fn callers_waiting_on_a_failed_sign_in_share_its_failure() {
    let s = serve().await;
    let http = http_for(&s);
    let creds = http.credentials();
    let scope = "https://management.azure.com/.default";
    // The second caller waits while the first one's attempt runs (300 ms): it gets that
    // attempt's failure instead of making one of its own.
    let (a, b) = tokio::join!(creds.token("down", scope), creds.token("down", scope));
    let (a, b) = (a.unwrap_err(), b.unwrap_err());
    assert_eq!(a.code(), b.code());
    assert_eq!(a.message(), b.message());
    let tries = |s: &Server| s.counters.hits.lock().unwrap().get("token-down").copied();
    assert_eq!(tries(&s), Some(1), "one attempt for both callers");
    // A caller after the failure asks again.
    assert!(creds.token("down", scope).await.is_err());
    assert_eq!(tries(&s), Some(2));
}

#[tokio::test]
async fn retry_gives_up_at_the_deadline() {
    let s = serve().await;
    let http = http_for(&s);
    let started = Instant::now();
    let e = send(
        &http,
        &s,
        reqwest::Method::GET,
        "/unavailable",
        Duration::from_millis(1500),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), Some(503));
    assert_eq!(e.code(), "ServiceUnavailable");
    assert!(e.message().contains("--timeout"), "{e}");
    // Azure's code, marked as cut by this caller's deadline: a caller with more time (an
    // object taking an early read's failure) tries again.
    assert!(e.is_cut_by_deadline(), "{e}");
    // Tried, waited the Retry-After once, tried again, and gave up with 0.5 s left.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // A slow answer is cut at the deadline.
    let started = Instant::now();
    let e = send(
        &http,
        &s,
        reqwest::Method::GET,
        "/slow",
        Duration::from_millis(500),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Timeout);
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// An ARM request waiting at its subscription's gate, behind a 429 that asked for ten
/// minutes, ends at the run's signal, not at its deadline.
#[tokio::test]
async fn a_wait_behind_arms_retry_after_ends_at_the_signal() {
    let s = serve().await;
    let http = http_for(&s);
    let arm = |deadline: Deadline| {
        let req = Request::new(
            reqwest::Method::GET,
            url(&s, "/subscriptions/s1/long-throttle"),
            Service::Arm,
            Auth::Tenant("t1".into()),
        );
        http.read(req, deadline)
    };
    // Told to come back in 600 s with 30 s left: it gives up at once, and the gate holds
    // every request to the subscription until then.
    let e = arm(Deadline::after(Duration::from_secs(30)))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(429), "{e}");
    let interrupt = common::interrupt::Interrupt::for_run();
    let started = Instant::now();
    let (r, ()) = tokio::join!(
        arm(Deadline::watched(Duration::from_secs(60), interrupt)),
        async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            interrupt.raise(common::exit::Signal::Int);
        }
    );
    let e = r.unwrap_err();
    assert_eq!(e.code(), "Interrupted", "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let sent = s
        .counters
        .hits
        .lock()
        .unwrap()
        .get("long-throttle")
        .copied();
    assert_eq!(sent, Some(1), "the waiting request was never sent");
}

#[tokio::test]
async fn a_post_is_not_resent_after_an_unknown_outcome() {
    let s = serve().await;
    let http = http_for(&s);
    let e = send(
        &http,
        &s,
        reqwest::Method::POST,
        "/failing",
        Duration::from_secs(10),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), "InternalServerError");
    assert_eq!(
        s.counters.hit("failing_post"),
        2,
        "exactly one POST was sent"
    );
}

#[tokio::test]
async fn errors_carry_code_and_request_id_but_never_the_token() {
    let s = serve().await;
    let http = http_for(&s);
    let api = http.arm(
        "contoso.onmicrosoft.com",
        Deadline::after(Duration::from_secs(10)),
    );
    let e = api
        .read(api.request(reqwest::Method::GET, url(&s, "/forbidden")))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.status(), e.request_id()),
        ("AuthorizationFailed", Some(403), Some("req-123"))
    );
    let all = format!("{e} {e:?} {}", e.full_message());
    assert!(
        !all.contains("test-token-value") && !all.contains("client-secret-value"),
        "{all}"
    );
    // One token for two calls: cached per tenant and scope.
    let _ = api
        .read(api.request(reqwest::Method::GET, url(&s, "/forbidden")))
        .await;
    assert_eq!(s.counters.tokens.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn poller_follows_an_operation_to_its_end() {
    let s = serve().await;
    let http = http_for(&s);
    let api = http.arm(
        "t.onmicrosoft.com",
        Deadline::after(Duration::from_secs(20)),
    );
    // The operations are followed side by side (each its own id on the server): each wait
    // polls at the tools' pace, at least 250 ms apart.
    let ok = async {
        let Sent::Done(started) = api
            .write(api.request(reqwest::Method::POST, url(&s, "/start/ok")))
            .await
            .unwrap()
        else {
            panic!("a write outside --dry-run is sent")
        };
        let op = common::arm::operation_url(&started)
            .map(|(u, _)| url(&s, u.path()))
            .or_else(|| Some(url(&s, started.header("azure-asyncoperation").unwrap())))
            .unwrap();
        let done = follow_operation(&api, &op, Status, "resetting")
            .await
            .unwrap();
        assert_eq!(done.status, "Succeeded");
    };

    let failed = async {
        let e = follow_operation(&api, &url(&s, "/ops/fail/2"), Status, "resetting")
            .await
            .unwrap_err();
        assert_eq!(e.code(), "ReconcileVMSSAgentPoolFailed");
        assert!(
            e.message().contains("Failed") && e.message().contains("nodes did not come back"),
            "{e}"
        );
    };

    // Every terminal state of common::arm ends the wait; Azure spells cancelled both ways.
    let canceled = |outcome: &'static str| {
        let (api, s) = (&api, &s);
        async move {
            let e = follow_operation(
                api,
                &url(s, &format!("/ops/{outcome}/4")),
                Status,
                "resetting",
            )
            .await
            .unwrap_err();
            assert_eq!(
                (e.kind(), e.code()),
                (&ErrorKind::OperationFailed, "OperationFailed"),
                "{e}"
            );
            assert!(e.message().to_lowercase().contains(outcome), "{e}");
        }
    };

    let location = async {
        let done = follow_operation(&api, &url(&s, "/loc"), Location, "location")
            .await
            .unwrap();
        assert_eq!(done.status, "Succeeded");
    };

    // Any other ARM URL answers 200 with a body and no status: followed as an
    // Azure-AsyncOperation, that is no success (issue 23: a forged operation URL).
    let forged = async {
        let e = follow_operation(&api, &url(&s, "/page?n=1"), Status, "resetting")
            .await
            .unwrap_err();
        assert_eq!(
            (e.kind(), e.code()),
            (&ErrorKind::OperationFailed, "OperationStatusUnknown"),
            "{e}"
        );
    };

    let short = http.arm("t.onmicrosoft.com", Deadline::after(Duration::from_secs(1)));
    let hung = async {
        let e = follow_operation(&short, &url(&s, "/ops/hang/3"), Status, "resetting")
            .await
            .unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Timeout);
        assert!(e.message().contains("InProgress"), "{e}");
    };
    tokio::join!(
        ok,
        failed,
        canceled("canceled"),
        canceled("cancelled"),
        location,
        forged,
        hung
    );
}

#[tokio::test]
async fn untrusted_certificate_is_a_clear_error_naming_the_host() {
    let s = serve().await;
    // The public cloud's client does not trust the test server's CA.
    let http = http_in(Cloud::azure_public(), false);
    let e = send(
        &http,
        &s,
        reqwest::Method::GET,
        "/throttled/0",
        Duration::from_secs(10),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), "UntrustedCertificate", "{e}");
    // Exit 3 as the registry (and the README) say, as when the sign-in meets it.
    assert_eq!(e.exit_code(), common::exit::ExitCode::Credential, "{e}");
    assert!(e.message().contains("127.0.0.1"), "{e}");
    // Retrying cannot make a certificate trusted: one attempt, no backoff.
    assert_eq!(http.requests_sent(), 1, "{e}");
}

#[tokio::test]
async fn dry_run_reports_writes_and_sends_none() {
    let s = serve().await;
    let http = http_in(Cloud::from_file(&s.cloud_file).unwrap(), true);
    let sent = http
        .write(
            Request::new(
                reqwest::Method::POST,
                url(&s, "/failing"),
                Service::Arm,
                Auth::None,
            )
            .json(json!({"secret":"s"})),
            Deadline::after(Duration::from_secs(5)),
        )
        .await
        .unwrap();
    assert!(matches!(sent, Sent::Skipped), "{sent:?}");
    assert_eq!(s.counters.hit("failing_post"), 1, "nothing was sent");
    assert_eq!(http.requests_sent(), 0);
    // Reads are still sent in a dry run.
    let r = send(
        &http,
        &s,
        reqwest::Method::GET,
        "/throttled/0",
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(r.body["ok"], true);
}

#[tokio::test]
async fn a_write_cannot_be_sent_as_a_read_nor_a_read_as_a_write() {
    let s = serve().await;
    for dry_run in [false, true] {
        let http = http_in(Cloud::from_file(&s.cloud_file).unwrap(), dry_run);
        let deadline = Deadline::after(Duration::from_secs(5));
        let post = Request::new(
            reqwest::Method::POST,
            url(&s, "/failing"),
            Service::Arm,
            Auth::None,
        );
        let e = http.read(post, deadline).await.unwrap_err();
        assert!(e.message().contains("Http::write"), "{e}");
        let get = Request::new(
            reqwest::Method::GET,
            url(&s, "/throttled/0"),
            Service::Arm,
            Auth::None,
        );
        let e = http.write(get, deadline).await.unwrap_err();
        assert!(e.message().contains("Http::read"), "{e}");
        assert_eq!(http.requests_sent(), 0, "dry_run={dry_run}");
    }
    assert_eq!(s.counters.hit("failing_post"), 1, "nothing was sent");
}

/// The victim's client trusts the attacker's certificate (the strongest case), so only the
/// origin check keeps the token away: the attacker must see no connection at all.
async fn victim_and_attacker() -> (Server, Server) {
    let ck =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    (serve_with(&ck).await, serve_with(&ck).await)
}

fn connections(s: &Server) -> usize {
    s.counters.connections.load(Ordering::Relaxed)
}

#[tokio::test]
async fn list_follows_next_links_on_the_same_origin() {
    let (s, _) = victim_and_attacker().await;
    let http = http_for(&s);
    let api = http.arm(
        "t.onmicrosoft.com",
        Deadline::after(Duration::from_secs(10)),
    );
    let last = format!("https://{}/page?n=3", s.addr);
    let second = url::Url::parse_with_params(
        &format!("https://{}/page", s.addr),
        [
            ("n", "2"),
            ("next", last.as_str()),
            ("key", "@odata.nextLink"),
        ],
    )
    .unwrap();
    let first =
        url::Url::parse_with_params("https://x/page", [("n", "1"), ("next", second.as_str())])
            .unwrap();
    let items = api
        .list(&format!("/page?{}", first.query().unwrap()))
        .await
        .unwrap();
    let ns: Vec<&str> = items.iter().filter_map(|i| i["n"].as_str()).collect();
    assert_eq!(ns, ["1", "2", "3"]);
}

#[tokio::test]
async fn list_refuses_a_next_link_to_another_origin() {
    let (s, attacker) = victim_and_attacker().await;
    let http = http_for(&s);
    let api = http.arm(
        "t.onmicrosoft.com",
        Deadline::after(Duration::from_secs(10)),
    );
    let other_port = format!("https://{}/page?n=2", attacker.addr);
    let other_host = format!("https://localhost:{}/page?n=2", s.addr.port());
    let other_scheme = format!("http://{}/page?n=2", s.addr);
    for (key, next) in [
        ("nextLink", other_port.as_str()),
        ("@odata.nextLink", other_port.as_str()),
        ("nextLink", other_host.as_str()),
        ("nextLink", other_scheme.as_str()),
    ] {
        let q = url::Url::parse_with_params(
            "https://x/page",
            [("n", "1"), ("next", next), ("key", key)],
        )
        .unwrap();
        let before = connections(&s);
        let e = api
            .list(&format!("/page?{}", q.query().unwrap()))
            .await
            .unwrap_err();
        assert_eq!(e.code(), "UntrustedOrigin", "{key} {next}: {e}");
        assert!(e.message().contains("next-page link"), "{e}");
        // Only the first page was fetched from the victim (at most one new connection).
        assert!(connections(&s) <= before + 1);
    }
    assert_eq!(connections(&attacker), 0, "the attacker saw a connection");
    assert_eq!(attacker.counters.tokens.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn an_operation_url_from_the_answer_is_followed_only_on_the_arm_origin() {
    let (s, attacker) = victim_and_attacker().await;
    let http = http_for(&s);
    let api = http.arm(
        "t.onmicrosoft.com",
        Deadline::after(Duration::from_secs(10)),
    );
    for op in [
        format!("https://{}/ops/ok/1", attacker.addr),
        format!("https://localhost:{}/ops/ok/2", s.addr.port()),
        format!("https://user@{}/ops/ok/3", attacker.addr),
    ] {
        let start = url::Url::parse_with_params(
            &format!("https://{}/start-at", s.addr),
            [("op", op.as_str())],
        )
        .unwrap();
        let Sent::Done(started) = api
            .write(api.request(reqwest::Method::POST, start))
            .await
            .unwrap()
        else {
            panic!("a write outside --dry-run is sent")
        };
        let (url, kind) = common::arm::operation_url(&started).unwrap();
        let e = follow_operation(&api, &url, kind, "resetting")
            .await
            .unwrap_err();
        assert_eq!(e.code(), "UntrustedOrigin", "{op}: {e}");
        assert!(e.message().contains("operation"), "{e}");
        // Sent directly, it is refused as well, before any request.
        let e = api
            .read(api.request(reqwest::Method::GET, url.clone()))
            .await
            .unwrap_err();
        assert_eq!(e.code(), "UntrustedOrigin", "{op}: {e}");
    }
    assert_eq!(connections(&attacker), 0, "the attacker saw a connection");

    // The same operation on the ARM endpoint's origin is followed.
    let op = format!("https://{}/ops/ok/9", s.addr);
    let done = follow_operation(&api, &url::Url::parse(&op).unwrap(), Status, "resetting")
        .await
        .unwrap();
    assert_eq!(done.status, "Succeeded");
}

#[tokio::test]
async fn the_registry_credential_goes_only_to_a_login_server_of_the_cloud() {
    let (s, attacker) = victim_and_attacker().await;
    let http = http_for(&s);
    let ap = attacker.addr.port();
    let secret = Secret::new("app-secret-value-123");
    for login_server in [
        format!("127.0.0.1:{ap}"),
        format!("localhost:{ap}/fabrikamacr.azurecr.local"),
        format!("2130706433:{ap}/fabrikamacr.azurecr.local"),
        format!("fabrikamacr.azurecr.local@127.0.0.1:{ap}"),
        format!("127\u{3002}0\u{3002}0\u{3002}1:{ap}/fabrikamacr.azurecr.local"),
        format!("127.0.0.1:{ap}?fabrikamacr.azurecr.local/x"),
        format!("127.0.0.1:{ap}#fabrikamacr.azurecr.local"),
        format!("fabrikamacr.azurecr.local:{ap}"),
        format!("fabrikamacr.azurecr.local.127.0.0.1.nip.io:{ap}"),
    ] {
        let e = common::registry::check_pull(
            &http,
            &login_server,
            "11111111-1111-1111-1111-111111111111",
            &secret,
            "samples/hello",
            None,
            Deadline::after(Duration::from_secs(5)),
        )
        .await
        .unwrap_err();
        assert_eq!(
            e.kind(),
            &ErrorKind::Input {
                field: "registry_login_server".into()
            },
            "{login_server}: {e}"
        );
        assert!(!e.full_message().contains("app-secret-value"), "{e}");
    }
    assert_eq!(http.requests_sent(), 0, "a request was sent");
    assert_eq!(connections(&attacker), 0, "the attacker saw a connection");
}
