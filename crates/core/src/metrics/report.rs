//! What lemon-cluster reports, in one place so that the README's metric list and the code agree.
//!
//! Consumer side, per `{app}.{group}.{method}`: `calls` (c), `errors.{CODE}` (c), `timeouts` (c),
//! `fallbacks` (c), `retries` (c), `latency` (ms, successful and failed calls; a degraded call
//! counts its error). Per provider: `{app}.{group}.provider.{host_port}.breaker.{state}` (c, on
//! every change to `open`, `half_open` or `closed`) and `...ejections` (c). Per service: `{app}.{group}.providers` (g).
//! Provider side, per `{app}.{group}.{method}`: `served` (c), `served_errors.{status}` (c),
//! `response_time` (ms, the design note's: middleware entry to headers written).

use std::time::Duration;

use super::names::{method_metric, sanitize, service_metric};
use super::{tally, Metrics};
use crate::error::Error;

impl Metrics {
    /// One finished consumer call.
    pub fn call_finished(
        &self,
        app: &str,
        group: &str,
        method: &str,
        outcome: Result<(), &Error>,
        elapsed: Duration,
    ) {
        if tally::enabled() {
            let error = outcome
                .err()
                .map(|e| (e.code(), matches!(e, Error::Timeout { .. })));
            self.tally.call_finished(app, group, method, error, elapsed);
        }
        if !self.enabled() {
            return;
        }
        self.count(&method_metric(app, group, method, "calls"), 1);
        self.timing(&method_metric(app, group, method, "latency"), elapsed);
        if let Err(e) = outcome {
            self.count(
                &method_metric(app, group, method, &format!("errors.{}", e.code())),
                1,
            );
            if matches!(e, Error::Timeout { .. }) {
                self.count(&method_metric(app, group, method, "timeouts"), 1);
            }
        }
    }

    /// A retry granted by the budget.
    pub fn retry(&self, app: &str, group: &str, method: &str) {
        if tally::enabled() {
            self.tally.retry(app, group, method);
        }
        if self.enabled() {
            self.count(&method_metric(app, group, method, "retries"), 1);
        }
    }

    /// A provider's breaker changed state (`open`, `half_open`, `closed`); `ejected` when it opened
    /// on this call's failure.
    pub fn breaker(
        &self,
        app: &str,
        group: &str,
        address: &str,
        state: &'static str,
        ejected: bool,
    ) {
        if tally::enabled() {
            self.tally.breaker(app, group, address, state, ejected);
        }
        if !self.enabled() {
            return;
        }
        let provider = format!("provider.{}", sanitize(address));
        self.count(
            &service_metric(app, group, &format!("{provider}.breaker.{state}")),
            1,
        );
        if ejected {
            self.count(
                &service_metric(app, group, &format!("{provider}.ejections")),
                1,
            );
        }
    }

    /// A call answered by its fallback (a degradation).
    pub fn fallback(&self, app: &str, group: &str, method: &str) {
        if tally::enabled() {
            self.tally.fallback(app, group, method);
        }
        if self.enabled() {
            self.count(&method_metric(app, group, method, "fallbacks"), 1);
        }
    }

    /// The number of live providers of a service.
    pub fn providers(&self, app: &str, group: &str, n: usize) {
        if tally::enabled() {
            self.tally.providers(app, group, n);
        }
        if self.enabled() {
            self.gauge(&service_metric(app, group, "providers"), n as u64);
        }
    }

    /// One request served by this process's provider middleware.
    pub fn served(
        &self,
        app: &str,
        group: &str,
        method: &str,
        status: u16,
        response_time: Duration,
    ) {
        if tally::enabled() {
            self.tally.served(app, group, method, status, response_time);
        }
        if !self.enabled() {
            return;
        }
        self.count(&method_metric(app, group, method, "served"), 1);
        self.timing(
            &method_metric(app, group, method, "response_time"),
            response_time,
        );
        if status >= 400 {
            self.count(
                &method_metric(app, group, method, &format!("served_errors.{status}")),
                1,
            );
        }
    }
}
