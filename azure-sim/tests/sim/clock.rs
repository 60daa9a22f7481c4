//! Azure's clock: realistic durations, one time scale compressing them, the control API moving
//! it on, `Retry-After` told in real time, tokens timed on the real clock, dumps that resume it.

use std::time::Duration;

use serde_json::json;

use crate::common::{ARM, GRAPH, start_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_api_shows_and_advances_the_clock() {
    let env = start_with(|c| c.time_scale = 1.0).await;
    let get = env.call("GET", "/_sim/clock", None, None).await;
    assert_eq!(get.status, 200);
    assert_eq!(get.body["time_scale"], 1.0);
    assert_eq!(get.body["advanced_ms"], 0);
    let before = time::OffsetDateTime::parse(
        get.body["now"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let r = env
        .call(
            "POST",
            "/_sim/clock/advance",
            None,
            Some(&json!({"by": "1h"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["advanced_ms"], 3_600_000);
    let after = time::OffsetDateTime::parse(
        r.body["now"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(after - before >= time::Duration::hours(1));
    assert!(env.sim.now() >= after);
    for bad in [json!({}), json!({"by": "soon"}), json!({"by": 5})] {
        let r = env
            .call("POST", "/_sim/clock/advance", None, Some(&bad))
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compressed_reset_runs_its_realistic_length_and_says_when_to_poll_in_real_time() {
    // A hundred times faster: the default cluster's 3 nodes × 5 minutes end in 9 real seconds.
    let env = start_with(|c| c.time_scale = 0.01).await;
    let r = env.reset_to_operator(&env.var("CLUSTER_ID")).await;
    assert_eq!(r.status, 202, "{}", r.text);
    // Azure says 10 s between polls; compressed, that is 100 ms (whole seconds: 1, never 0).
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
    assert_eq!(r.header("retry-after-ms").as_deref(), Some("100"));
    let url = r.header("azure-asyncoperation").unwrap();
    let ta = env.op("CLUSTER_TENANT_ID", ARM).await;
    let s = env.get(&url, &ta).await;
    assert_eq!(s.body["status"], "InProgress");
    assert_eq!(s.header("retry-after-ms").as_deref(), Some("100"));
    // Its record in the state is Azure's: 15 minutes.
    let state = env.sim.state();
    assert_eq!(state["operations"][0]["duration_ms"], 900_000);
    // Moving the clock on ends it without waiting.
    env.sim.advance(Duration::from_secs(15 * 60));
    let s = env.get(&url, &ta).await;
    assert_eq!(s.body["status"], "Succeeded", "{}", s.text);
    assert!(s.header("retry-after").is_none());
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reset_lasts_nodes_times_the_reimage_time_or_a_fixed_duration() {
    let env = start_with(|c| {
        c.time_scale = 1.0;
        c.node_reimage_time = Duration::from_secs(60);
    })
    .await;
    assert_eq!(
        env.reset_to_operator(&env.var("CLUSTER_ID")).await.status,
        202
    );
    assert_eq!(env.sim.state()["operations"][0]["duration_ms"], 180_000);
    env.stop().await;
    let env = start_with(|c| {
        c.time_scale = 1.0;
        c.lro_duration = Some(Duration::from_secs(7));
    })
    .await;
    assert_eq!(
        env.reset_to_operator(&env.var("CLUSTER_ID")).await.status,
        202
    );
    assert_eq!(env.sim.state()["operations"][0]["duration_ms"], 7_000);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_keep_the_real_clock_when_azure_time_moves_on() {
    let env = start_with(|c| c.time_scale = 1.0).await;
    let ga = env.op("CLUSTER_TENANT_ID", GRAPH).await;
    // A day of Azure's time later, a token the client times with its own clock still works.
    env.sim.advance(Duration::from_secs(24 * 3600));
    let r = env.get("/v1.0/organization", &ga).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Its Date is Azure's, as a client dating Azure's objects reads it.
    let date = time::OffsetDateTime::parse(
        &r.header("date").unwrap(),
        &time::format_description::well_known::Rfc2822,
    )
    .unwrap();
    assert!(date > time::OffsetDateTime::now_utc() + time::Duration::hours(23));
    // Objects are stamped with Azure's time.
    let app = env.create_app(&ga, json!({"displayName": "later"})).await;
    let created = time::OffsetDateTime::parse(
        app["createdDateTime"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(created > time::OffsetDateTime::now_utc() + time::Duration::hours(23));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_from_a_clock_that_ran_ahead_resumes_it() {
    let env = start_with(|c| c.time_scale = 1.0).await;
    env.sim.advance(Duration::from_secs(48 * 3600));
    let dumped = env.sim.state();
    let at = time::OffsetDateTime::parse(
        dumped["azure_time"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    env.stop().await;
    let env = start_with(|c| {
        c.time_scale = 1.0;
        c.scenario = Some(dumped);
    })
    .await;
    assert!(
        env.sim.now() >= at,
        "the loaded world is not from the future"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_keeps_real_spans_and_azure_time() {
    let env = start_with(|c| c.time_scale = 1.0).await;
    env.sim.advance(Duration::from_secs(3600));
    let _ = env.op("CLUSTER_TENANT_ID", GRAPH).await;
    let e = env.sim.requests().pop().unwrap();
    let parse = |k: &str| {
        time::OffsetDateTime::parse(
            e[k].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    assert!(parse("azure_time") - parse("time") >= time::Duration::minutes(59));
    assert!(
        (time::OffsetDateTime::now_utc() - parse("time")).abs() < time::Duration::minutes(1),
        "{e}"
    );
    env.stop().await;
}
