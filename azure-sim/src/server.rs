//! Start-up (state, files, TLS, listener) and the HTTPS server loop.
//!
//! Each TLS connection is served by hyper's HTTP/1 connection with a service that reads the
//! whole request, applies latency and faults, dispatches by service, adds the service's headers
//! and logs the exchange. A fault that drops the connection makes the service fail, which
//! closes the connection without an answer.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::clock::{Clock, wall};
use crate::cloud::Presented;
use crate::core::Core;
use crate::crypto::JwtKey;
use crate::dates::fmt_ticks;
use crate::http::{
    Caller, DropConnection, Req, Service, add_service_headers, default_code, service_error,
    set_header,
};
use crate::model::State;
use crate::sync::lock;
use crate::{Leniency, SimConfig};
use crate::{arm, control, entra, faults, graph, keyvault, registry, scenario};

const BODY_LIMIT: usize = 4 * 1024 * 1024;
/// How much of a too-large body is read and dropped before the connection is closed on it.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;
const LOG_LIMIT: usize = 100_000;

/// Build the core: state, keys, files. Binds nothing.
fn build_core(cfg: &SimConfig, port: u16, ip: IpAddr) -> anyhow::Result<(Core, String)> {
    if !crate::clock::valid_scale(cfg.time_scale) {
        let (lo, hi) = crate::clock::TIME_SCALE_RANGE;
        anyhow::bail!("the time scale {} is outside {lo}..={hi}", cfg.time_scale);
    }
    std::fs::create_dir_all(&cfg.dir).with_context(|| format!("creating {}", cfg.dir.display()))?;
    let dir = std::fs::canonicalize(&cfg.dir)
        .with_context(|| format!("resolving {}", cfg.dir.display()))?;
    let url = format!("https://{ip}:{port}");
    let mut state: State = if let Some(v) = &cfg.scenario {
        serde_json::from_value(v.clone()).context("the scenario is not in the state format")?
    } else {
        let mut s = scenario::default_state();
        scenario::mint_cluster_secret(&mut s);
        s
    };
    if state.base.as_deref() == Some("default") {
        let mut base = scenario::default_state();
        scenario::mint_cluster_secret(&mut base);
        base.behaviour = state.behaviour.clone();
        base.cloud = state.cloud;
        state = base;
    } else if let Some(b) = &state.base {
        anyhow::bail!("the scenario's base '{b}' is unknown; the only base is 'default'");
    }
    if let Some(over) = &cfg.behaviour {
        let mut merged = serde_json::to_value(&state.behaviour)?;
        if let (Some(m), Some(o)) = (merged.as_object_mut(), over.as_object()) {
            m.extend(o.clone());
        } else {
            anyhow::bail!("the behaviour switches must be a JSON object");
        }
        state.behaviour = serde_json::from_value(merged).context("the behaviour switches")?;
    }
    state.behaviour.lenient(&cfg.lenient);
    state.normalize().context("the scenario is inconsistent")?;
    let secrets = scenario::mint_env_secrets(&mut state);
    let cloud = Presented::new(state.cloud, &url, port);
    let ca_file = dir.join("ca.pem");
    let cloud_file = dir.join("cloud.json");
    let env_file = dir.join("sim.env");
    let env = scenario::env_pairs(
        &state,
        &secrets,
        &cloud,
        ip,
        &dir.to_string_lossy(),
        &cloud_file.to_string_lossy(),
        &ca_file.to_string_lossy(),
    );
    let core = Core {
        url: url.clone(),
        port,
        cloud,
        dir,
        ca_file,
        cloud_file,
        env_file,
        replication_delay: azure_time(cfg, cfg.replication_delay),
        role_propagation: azure_time(cfg, cfg.role_propagation),
        node_reimage_time: cfg.node_reimage_time,
        lro_duration: cfg.lro_duration,
        cluster_update_time: cfg.cluster_update_time,
        lenient_cluster_updates: cfg.lenient.contains(&Leniency::ClusterUpdates),
        clock: Clock::new(cfg.time_scale, state.azure_time),
        latency: cfg.latency,
        write_limit: cfg.arm_write_limit,
        read_limit: cfg.arm_read_limit,
        state: Mutex::new(state),
        log: Mutex::new(Vec::new()),
        seq: Mutex::new(0),
        faults: Mutex::new(Vec::new()),
        buckets: Mutex::new(HashMap::new()),
        key: JwtKey::random(),
        env,
    };
    Ok((core, url))
}

/// Written whole or not at all (a new file, readable by its owner only from the start,
/// renamed over it), so a reader such as `azure-sim --print-env` never sees half of it.
/// One of Azure's delays as the handlers compare it with Azure's clock: none when
/// `--lenient replication` says new objects and role assignments are seen everywhere at once.
fn azure_time(cfg: &SimConfig, delay: Duration) -> time::Duration {
    if cfg.lenient.contains(&Leniency::Replication) {
        return time::Duration::ZERO;
    }
    time::Duration::try_from(delay).unwrap_or(time::Duration::ZERO)
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        open.mode(0o600);
    }
    open.open(&tmp)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

fn write_files(core: &Core, ca_pem: &str) -> anyhow::Result<()> {
    std::fs::write(&core.ca_file, ca_pem)
        .with_context(|| format!("writing {}", core.ca_file.display()))?;
    let cloud = scenario::cloud_json(&core.url, &core.ca_file.to_string_lossy(), &core.cloud);
    std::fs::write(&core.cloud_file, format!("{cloud:#}\n"))
        .with_context(|| format!("writing {}", core.cloud_file.display()))?;
    let env: String = core
        .env
        .iter()
        .map(|(k, v)| scenario::env_line(k, v))
        .collect();
    write_private(&core.env_file, &env)
}

/// A started server: its core, and what stops it.
pub(crate) struct Started {
    pub core: Arc<Core>,
    pub stop: watch::Sender<bool>,
    pub task: tokio::task::JoinHandle<()>,
}

/// Bind, write the files, and spawn the server loop on the current runtime.
pub(crate) async fn start(cfg: SimConfig) -> anyhow::Result<Started> {
    let listener = TcpListener::bind(cfg.addr)
        .await
        .with_context(|| format!("binding {}", cfg.addr))?;
    let local: SocketAddr = listener.local_addr()?;
    let ip = if local.ip().is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        local.ip()
    };
    let (core, _) = build_core(&cfg, local.port(), ip)?;
    let tls = crate::tls::make(&core.cloud.certificate_names(), ip)?;
    write_files(&core, &tls.ca_pem)?;
    let core = Arc::new(core);
    let (stop, stopped) = watch::channel(false);
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config);
    let task = tokio::spawn(accept_loop(listener, acceptor, Arc::clone(&core), stopped));
    Ok(Started { core, stop, task })
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    core: Arc<Core>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => {
                let Ok((tcp, peer)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                conns.spawn(connection(tcp, peer.ip(), acceptor.clone(), Arc::clone(&core), stopped.clone()));
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    conns.abort_all();
}

async fn connection(
    tcp: tokio::net::TcpStream,
    peer: IpAddr,
    acceptor: tokio_rustls::TlsAcceptor,
    core: Arc<Core>,
    mut stopped: watch::Receiver<bool>,
) {
    let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
    else {
        return;
    };
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let core = Arc::clone(&core);
        async move { serve_request(core, req, peer).await }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(tls), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stopped.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(1), conn.as_mut()).await;
        }
    }
}

/// The error that makes hyper close a connection without answering.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for Dropped {}

async fn serve_request(
    core: Arc<Core>,
    req: Request<Incoming>,
    peer: IpAddr,
) -> Result<Response, Dropped> {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let Some(bytes) = read_body(body).await else {
        let mut req = Req::new(&parts, axum::body::Bytes::new());
        req.at = core.now();
        let service = req.service(&core.cloud);
        let mut r = service_error(
            &service,
            &req,
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            "The request body is too large or could not be read.",
        );
        add_service_headers(&mut r, &service, &req);
        if service != Service::Control {
            log(&core, &req, &r, started, None);
        }
        return Ok(r);
    };
    let mut req = Req::new(&parts, bytes);
    req.client_ip = Some(peer);
    req.at = core.now();
    let service = req.service(&core.cloud);
    if service == Service::Control {
        return Ok(control::handle(&core, &req));
    }
    let fault = faults::take(&core.faults, &req);
    let delay = core.latency + Duration::from_millis(fault.as_ref().map_or(0, |f| f.delay_ms));
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut resp = match &fault {
        Some(f) if f.drop => {
            let mut r = Response::new(Body::empty());
            r.extensions_mut().insert(DropConnection);
            r
        }
        Some(f) if f.status.is_some() => {
            let status = StatusCode::from_u16(f.status.unwrap_or(500))
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let err_code = f
                .code
                .clone()
                .unwrap_or_else(|| default_code(status.as_u16()).to_string());
            let message = f
                .message
                .clone()
                .unwrap_or_else(|| format!("Injected fault: status {}.", status.as_u16()));
            let mut r = service_error(&service, &req, status, &err_code, &message);
            for (k, v) in &f.headers {
                set_header(&mut r, k, v);
            }
            r
        }
        _ => dispatch(&core, &req, &service),
    };
    if let Some(patch) = fault.as_ref().and_then(|f| f.body_patch.as_ref()) {
        resp = patch_body(resp, patch).await;
    }
    add_service_headers(&mut resp, &service, &req);
    let dropped = resp.extensions().get::<DropConnection>().is_some();
    log(&core, &req, &resp, started, fault.as_ref());
    if let Some(after) = fault.as_ref().map(|f| f.delay_after_ms).filter(|d| *d > 0) {
        // The effect is made and logged; the answer is late (lost if the caller goes away).
        tokio::time::sleep(Duration::from_millis(after)).await;
    }
    if dropped { Err(Dropped) } else { Ok(resp) }
}

/// The answer with a fault's merge patch applied to its JSON body (an empty or non-JSON
/// body counts as `{}`); status, headers and extensions kept, the length recomputed.
async fn patch_body(resp: Response, patch: &Value) -> Response {
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .unwrap_or_default();
    let mut v: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({}));
    faults::merge_patch(&mut v, patch);
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts.headers.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    Response::from_parts(parts, Body::from(v.to_string()))
}

/// Reads a request body of at most `BODY_LIMIT` bytes. A longer one is still read to its end
/// (up to `DRAIN_LIMIT`) and dropped, so that a client still sending it gets the 413 rather
/// than a connection reset, as a real front end's lingering close does.
async fn read_body(mut body: Incoming) -> Option<axum::body::Bytes> {
    use hyper::body::Body as _;
    let mut buf = Vec::new();
    let mut total = 0usize;
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        let Ok(data) = frame.ok()?.into_data() else {
            continue;
        };
        total += data.len();
        if total <= BODY_LIMIT {
            buf.extend_from_slice(&data);
        } else if total > DRAIN_LIMIT {
            return None;
        }
    }
    (total <= BODY_LIMIT).then(|| axum::body::Bytes::from(buf))
}

fn dispatch(core: &Core, req: &Req, service: &Service) -> Response {
    match service {
        Service::Control => control::handle(core, req),
        Service::Entra => entra::handle(core, req),
        Service::Graph => graph::handle(core, req),
        Service::Arm => arm::handle(core, req),
        Service::Registry(name) => registry::handle(core, req, name),
        Service::KeyVault(name) => keyvault::handle(core, req, name),
    }
}

fn log(
    core: &Core,
    req: &Req,
    resp: &Response,
    started: Instant,
    fault: Option<&faults::FaultRule>,
) {
    let caller = resp.extensions().get::<Caller>();
    let dropped = resp.extensions().get::<DropConnection>().is_some();
    let mut headers = serde_json::Map::new();
    for (k, v) in &req.headers {
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        match headers.get_mut(k.as_str()) {
            Some(Value::String(prev)) => {
                prev.push_str(", ");
                prev.push_str(&v);
            }
            _ => {
                headers.insert(k.as_str().to_string(), Value::String(v));
            }
        }
    }
    let seq = {
        let mut s = lock(&core.seq);
        *s += 1;
        *s
    };
    let entry = json!({
        "seq": seq,
        // When it was answered, on the real clock (with `duration_ms`, a span a test can
        // compare with another's); `azure_time` is the same moment on Azure's clock.
        "time": fmt_ticks(wall()),
        "azure_time": fmt_ticks(core.now()),
        "method": req.method.as_str(),
        "host": req.host,
        "path": req.path,
        "query": req.raw_query,
        "status": if dropped { 0 } else { resp.status().as_u16() },
        "caller_app_id": caller.map(|c| c.app_id.clone()),
        "caller_tenant_id": caller.map(|c| c.tenant_id.clone()),
        "duration_ms": (started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
        "request_headers": headers,
        "fault": fault.map(|f| json!({
            "status": f.status,
            "code": f.code,
            "delay_ms": f.delay_ms,
            "delay_after_ms": f.delay_after_ms,
            "drop": f.drop,
            "path": f.path,
            "method": f.method,
        })),
    });
    let mut log = lock(&core.log);
    if log.len() >= LOG_LIMIT {
        log.remove(0);
    }
    log.push(entry);
}
