//! The totals `lemon.prometheus()` serves (lib/prometheus.js): switching them on, and one
//! snapshot per scrape as a plain object. Internal to the package's JavaScript, so neither is in
//! the typings.

use lemon_core::metrics::tally::{self, Histogram, LATENCY_BUCKETS};
use napi_derive::napi;
use serde_json::{json, Value};

/// Starts keeping totals in every cluster of the process.
#[napi(catch_unwind, skip_typescript)]
#[allow(dead_code)] // exported by the napi macro, which registers nothing in `cargo test` builds
pub fn enable_prometheus() {
    tally::enable();
}

fn histogram(h: &Histogram) -> Value {
    json!({ "buckets": h.cumulative(), "count": h.count, "sum": h.sum_seconds })
}

/// `{ buckets, methods: [...], services: [...] }`, every live cluster added up.
#[napi(catch_unwind, skip_typescript)]
#[allow(dead_code)] // exported by the napi macro, which registers nothing in `cargo test` builds
pub fn prometheus_snapshot() -> Value {
    let s = tally::snapshot();
    let methods: Vec<Value> = s
        .methods
        .iter()
        .map(|((app, group, method), t)| {
            json!({
                "app": app, "group": group, "method": method,
                "calls": t.calls,
                "errors": t.errors.iter().map(|(c, n)| json!([c, n])).collect::<Vec<_>>(),
                "timeouts": t.timeouts, "fallbacks": t.fallbacks, "retries": t.retries,
                "latency": histogram(&t.latency),
                "served": t.served,
                "servedErrors": t.served_errors.iter().map(|(c, n)| json!([c, n])).collect::<Vec<_>>(),
                "responseTime": histogram(&t.response_time),
            })
        })
        .collect();
    let services: Vec<Value> = s
        .services
        .iter()
        .map(|((app, group), t)| {
            json!({
                "app": app, "group": group,
                "providers": t.providers,
                "breaker": t.breaker.iter().map(|((a, st), n)| json!([a, st, n])).collect::<Vec<_>>(),
                "ejections": t.ejections.iter().map(|(a, n)| json!([a, n])).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "buckets": LATENCY_BUCKETS, "methods": methods, "services": services })
}
