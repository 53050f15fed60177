//! Running totals of the figures statsd gets, for a scraper (Prometheus) to read.
//!
//! statsd is pushed one line per event; Prometheus pulls totals. So, once [`enable`] has been
//! called (by `lemon.prometheus()`), every report of [`super::Metrics`] also adds to the
//! [`Tally`] of its cluster: counters, latency histograms with fixed buckets
//! ([`LATENCY_BUCKETS`], seconds), the live-provider gauge. A scrape takes one [`snapshot`]
//! merged over every live cluster of the process, so nothing crosses into JavaScript per call.
//! Before [`enable`] a report costs one relaxed atomic load.
//!
//! Labels are not sanitised (Prometheus label values are any UTF-8); the provider side reports
//! unknown method names as `_unknown`, as it does for statsd, so stray paths cannot add series.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

/// Upper bounds of the latency histogram buckets, in seconds (`+Inf` is implied): from 0.5 ms,
/// where loopback calls sit, to 10 s, past any sensible timeout.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static ENABLED: AtomicBool = AtomicBool::new(false);
static TALLIES: Mutex<Vec<Weak<Tally>>> = Mutex::new(Vec::new());

/// Starts keeping totals in every cluster of the process, existing and future. There is no
/// turning it off: a registry that was fed once keeps being fed.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Whether totals are kept.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain counters behind: still good to read.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A latency histogram: per-bucket counts (not cumulative; the last one is `+Inf`), count, sum.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub buckets: [u64; LATENCY_BUCKETS.len() + 1],
    pub count: u64,
    pub sum_seconds: f64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: [0; LATENCY_BUCKETS.len() + 1],
            count: 0,
            sum_seconds: 0.0,
        }
    }
}

impl Histogram {
    fn observe(&mut self, elapsed: Duration) {
        let s = elapsed.as_secs_f64();
        let i = LATENCY_BUCKETS
            .iter()
            .position(|bound| s <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[i] += 1;
        self.count += 1;
        self.sum_seconds += s;
    }

    fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *a += b;
        }
        self.count += other.count;
        self.sum_seconds += other.sum_seconds;
    }

    /// Counts of observations `<=` each bound of [`LATENCY_BUCKETS`], then `+Inf` (= `count`).
    pub fn cumulative(&self) -> Vec<u64> {
        self.buckets
            .iter()
            .scan(0, |acc, n| {
                *acc += n;
                Some(*acc)
            })
            .collect()
    }
}

/// Totals of one `{app, group, method}`, consumer side and provider side.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MethodTally {
    pub calls: u64,
    /// Failed calls by error code.
    pub errors: BTreeMap<&'static str, u64>,
    pub timeouts: u64,
    pub fallbacks: u64,
    pub retries: u64,
    pub latency: Histogram,
    pub served: u64,
    /// Replies with status >= 400, by status.
    pub served_errors: BTreeMap<u16, u64>,
    pub response_time: Histogram,
}

impl MethodTally {
    fn merge(&mut self, o: &MethodTally) {
        self.calls += o.calls;
        for (code, n) in &o.errors {
            *self.errors.entry(code).or_default() += n;
        }
        self.timeouts += o.timeouts;
        self.fallbacks += o.fallbacks;
        self.retries += o.retries;
        self.latency.merge(&o.latency);
        self.served += o.served;
        for (status, n) in &o.served_errors {
            *self.served_errors.entry(*status).or_default() += n;
        }
        self.response_time.merge(&o.response_time);
    }
}

/// Totals of one `{app, group}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceTally {
    /// Live providers after the last change (`None`: never reported).
    pub providers: Option<u64>,
    /// Breaker changes by (provider address, new state).
    pub breaker: BTreeMap<(String, &'static str), u64>,
    /// Ejections by provider address.
    pub ejections: BTreeMap<String, u64>,
}

impl ServiceTally {
    fn merge(&mut self, o: &ServiceTally) {
        if let Some(p) = o.providers {
            *self.providers.get_or_insert(0) += p;
        }
        for (k, n) in &o.breaker {
            *self.breaker.entry(k.clone()).or_default() += n;
        }
        for (k, n) in &o.ejections {
            *self.ejections.entry(k.clone()).or_default() += n;
        }
    }
}

type MethodKey = (String, String, String);
type ServiceKey = (String, String);

/// The totals of one cluster.
#[derive(Debug, Default)]
pub struct Tally {
    methods: Mutex<HashMap<MethodKey, MethodTally>>,
    services: Mutex<HashMap<ServiceKey, ServiceTally>>,
}

impl Tally {
    /// A tally that [`snapshot`] reads for as long as it lives.
    pub fn registered() -> Arc<Tally> {
        let tally = Arc::new(Tally::default());
        let mut all = lock(&TALLIES);
        all.retain(|t| t.strong_count() > 0);
        all.push(Arc::downgrade(&tally));
        tally
    }

    fn method(&self, app: &str, group: &str, method: &str, f: impl FnOnce(&mut MethodTally)) {
        let key = (app.to_string(), group.to_string(), method.to_string());
        f(lock(&self.methods).entry(key).or_default());
    }

    fn service(&self, app: &str, group: &str, f: impl FnOnce(&mut ServiceTally)) {
        let key = (app.to_string(), group.to_string());
        f(lock(&self.services).entry(key).or_default());
    }

    pub(super) fn call_finished(
        &self,
        app: &str,
        group: &str,
        method: &str,
        error: Option<(&'static str, bool)>,
        elapsed: Duration,
    ) {
        self.method(app, group, method, |t| {
            t.calls += 1;
            t.latency.observe(elapsed);
            if let Some((code, timeout)) = error {
                *t.errors.entry(code).or_default() += 1;
                t.timeouts += u64::from(timeout);
            }
        });
    }

    pub(super) fn retry(&self, app: &str, group: &str, method: &str) {
        self.method(app, group, method, |t| t.retries += 1);
    }

    pub(super) fn fallback(&self, app: &str, group: &str, method: &str) {
        self.method(app, group, method, |t| t.fallbacks += 1);
    }

    pub(super) fn served(&self, app: &str, group: &str, method: &str, status: u16, rt: Duration) {
        self.method(app, group, method, |t| {
            t.served += 1;
            t.response_time.observe(rt);
            if status >= 400 {
                *t.served_errors.entry(status).or_default() += 1;
            }
        });
    }

    pub(super) fn breaker(
        &self,
        app: &str,
        group: &str,
        address: &str,
        state: &'static str,
        ejected: bool,
    ) {
        self.service(app, group, |t| {
            *t.breaker.entry((address.to_string(), state)).or_default() += 1;
            if ejected {
                *t.ejections.entry(address.to_string()).or_default() += 1;
            }
        });
    }

    pub(super) fn providers(&self, app: &str, group: &str, n: usize) {
        self.service(app, group, |t| t.providers = Some(n as u64));
    }
}

/// Every live cluster's totals added up, sorted by key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub methods: BTreeMap<MethodKey, MethodTally>,
    pub services: BTreeMap<ServiceKey, ServiceTally>,
}

/// Reads every live cluster's totals (a closed cluster's are gone with it).
pub fn snapshot() -> Snapshot {
    let tallies: Vec<Arc<Tally>> = lock(&TALLIES).iter().filter_map(Weak::upgrade).collect();
    let mut out = Snapshot::default();
    for t in &tallies {
        for (k, m) in lock(&t.methods).iter() {
            out.methods.entry(k.clone()).or_default().merge(m);
        }
        for (k, s) in lock(&t.services).iter() {
            out.services.entry(k.clone()).or_default().merge(s);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: f64) -> Duration {
        Duration::from_secs_f64(n / 1000.0)
    }

    #[test]
    fn histogram_buckets_are_upper_bounds_and_cumulative() {
        let mut h = Histogram::default();
        for v in [0.2, 0.5, 0.7, 3.0, 20_000.0] {
            h.observe(ms(v));
        }
        let c = h.cumulative();
        assert_eq!(c.len(), LATENCY_BUCKETS.len() + 1);
        // <= 0.5 ms: 0.2 and 0.5 (a bound is inclusive); <= 1 ms: + 0.7; <= 5 ms: + 3.0.
        assert_eq!(&c[..4], &[2, 3, 3, 4]);
        assert_eq!(
            c[LATENCY_BUCKETS.len() - 1],
            4,
            "20 s is above the 10 s bound"
        );
        assert_eq!(*c.last().unwrap(), 5);
        assert_eq!(h.count, 5);
        assert!((h.sum_seconds - 20.0044).abs() < 1e-9);
    }

    #[test]
    fn once_enabled_every_report_of_a_cluster_without_statsd_adds_to_its_tally() {
        enable();
        let m = super::super::Metrics::disabled();
        let timeout = crate::error::Error::Timeout {
            address: Some("10.0.0.2:80".into()),
            after_ms: 5,
        };
        m.call_finished("wired-app", "g", "m", Ok(()), ms(1.0));
        m.call_finished("wired-app", "g", "m", Err(&timeout), ms(5.0));
        m.retry("wired-app", "g", "m");
        m.fallback("wired-app", "g", "m");
        m.providers("wired-app", "g", 4);
        m.breaker("wired-app", "g", "10.0.0.2:80", "open", true);
        m.served("wired-app", "g", "m", 404, ms(0.3));
        let s = snapshot();
        let t = &s.methods[&("wired-app".into(), "g".into(), "m".into())];
        assert_eq!((t.calls, t.timeouts, t.retries, t.fallbacks), (2, 1, 1, 1));
        assert_eq!(t.errors.get("ERR_TIMEOUT"), Some(&1));
        assert_eq!((t.served, t.served_errors.get(&404)), (1, Some(&1)));
        let svc = &s.services[&("wired-app".into(), "g".into())];
        assert_eq!(svc.providers, Some(4));
        assert_eq!(svc.ejections.get("10.0.0.2:80"), Some(&1));
        assert!(
            m.reporting() && !m.enabled(),
            "reporting for a scrape, not to statsd"
        );
    }

    #[test]
    fn a_snapshot_adds_up_live_tallies_and_forgets_dropped_ones() {
        let a = Tally::registered();
        let b = Tally::registered();
        a.call_finished("snap-app", "g", "m", None, ms(1.0));
        b.call_finished("snap-app", "g", "m", Some(("ERR_TIMEOUT", true)), ms(2.0));
        b.retry("snap-app", "g", "m");
        a.providers("snap-app", "g", 2);
        b.providers("snap-app", "g", 3);
        b.breaker("snap-app", "g", "10.0.0.1:80", "open", true);
        b.served("snap-app", "g", "m", 500, ms(1.0));
        let s = snapshot();
        let m = &s.methods[&("snap-app".into(), "g".into(), "m".into())];
        assert_eq!((m.calls, m.timeouts, m.retries), (2, 1, 1));
        assert_eq!(m.errors.get("ERR_TIMEOUT"), Some(&1));
        assert_eq!((m.served, m.served_errors.get(&500)), (1, Some(&1)));
        assert_eq!(m.latency.count, 2);
        let svc = &s.services[&("snap-app".into(), "g".into())];
        assert_eq!(svc.providers, Some(5));
        assert_eq!(svc.breaker.get(&("10.0.0.1:80".into(), "open")), Some(&1));
        assert_eq!(svc.ejections.get("10.0.0.1:80"), Some(&1));

        // Another test's snapshot, taken at the same time, may hold `b` a moment longer.
        let gone = Arc::downgrade(&b);
        drop(b);
        for _ in 0..2000 {
            if gone.strong_count() == 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let s = snapshot();
        let m = &s.methods[&("snap-app".into(), "g".into(), "m".into())];
        assert_eq!(
            (m.calls, m.timeouts),
            (1, 0),
            "a dropped cluster's totals are gone"
        );
    }
}
