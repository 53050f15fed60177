//! Metrics to statsd, never in the way of a call.
//!
//! Metrics go through cadence's queuing sink: the caller only pushes a line onto a bounded queue
//! (8,192 lines) and a background thread sends the UDP datagrams. When the queue is full the
//! line is dropped — losing a metric is better than slowing a call — and counted in
//! [`Metrics::dropped`]. The sending thread is not a Node handle, so it never keeps the process
//! alive.
//!
//! Names follow statsd/Graphite conventions: `{prefix}.{app}.{group}.{method}.{metric}`, dots only
//! between segments; every character of a segment other than `A-Z a-z 0-9 _ -` becomes `_`.
//!
//! The same reports also add to running totals for a scraper once [`tally::enable`] was called
//! (see `tally.rs`), with or without statsd.

mod names;
mod report;
pub mod tally;

use std::net::{ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cadence::{MetricSink, QueuingMetricSink, UdpMetricSink};
use serde_json::Value;

pub use names::{method_metric, sanitize, service_metric};
use tally::Tally;

use crate::error::{Error, Result};
use crate::options::{type_name, Fields};

/// Lines queued before new ones are dropped.
const QUEUE_CAPACITY: usize = 8192;

/// Where and how to send metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsdOptions {
    pub host: String,
    pub port: u16,
    /// First segment of every name. Default `lemon`.
    pub prefix: String,
    /// Share of counters and timings sent, 0 < rate ≤ 1 (gauges are always sent). Default 1.
    pub sample_rate: f64,
}

impl StatsdOptions {
    /// Reads the `statsd` option: `'udp://host:port'`, `'host:port'`, or
    /// `{ host, port?, prefix?, sampleRate? }`. Absent → metrics off.
    pub fn from_value(v: &Value) -> Result<Option<Self>> {
        match v {
            Value::Null => Ok(None),
            Value::String(s) => {
                let (host, port) = parse_address(s)?;
                Ok(Some(StatsdOptions {
                    host,
                    port,
                    prefix: "lemon".into(),
                    sample_rate: 1.0,
                }))
            }
            Value::Object(_) => {
                let mut f = Fields::new("options.statsd", v)?;
                let host = f.required_string("host")?;
                let port = f.integer("port", 1, 65535)?.unwrap_or(8125) as u16;
                let prefix = f.string("prefix")?.unwrap_or_else(|| "lemon".into());
                let sample_rate = match f.number("sampleRate")? {
                    None => 1.0,
                    Some(r) if r > 0.0 && r <= 1.0 => r,
                    Some(r) => {
                        return Err(Error::invalid(
                            "options.statsd.sampleRate",
                            format!("must be in (0, 1], got {r}"),
                        ))
                    }
                };
                f.finish()?;
                if prefix.split('.').any(|p| p.is_empty() || sanitize(p) != p) {
                    return Err(Error::invalid(
                        "options.statsd.prefix",
                        "must be dot-separated segments of A-Z a-z 0-9 _ -",
                    ));
                }
                Ok(Some(StatsdOptions {
                    host,
                    port,
                    prefix,
                    sample_rate,
                }))
            }
            other => Err(Error::invalid(
                "options.statsd",
                format!(
                    "must be 'udp://host:port' or an object, got {}",
                    type_name(other)
                ),
            )),
        }
    }
}

fn parse_address(s: &str) -> Result<(String, u16)> {
    let bad = || {
        Error::invalid(
            "options.statsd",
            format!("expected 'udp://host:port', got {s:?}"),
        )
    };
    let rest = s.strip_prefix("udp://").unwrap_or(s);
    let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
    let port = port
        .trim_end_matches('/')
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

/// The metrics of one cluster: statsd lines when configured, totals once scraping is enabled.
pub struct Metrics {
    sink: Option<QueuingMetricSink>,
    prefix: String,
    sample_rate: f64,
    dropped: AtomicU64,
    tally: Arc<Tally>,
}

impl Metrics {
    /// Metrics off.
    pub fn disabled() -> Self {
        Metrics {
            sink: None,
            prefix: String::new(),
            sample_rate: 1.0,
            dropped: AtomicU64::new(0),
            tally: Tally::registered(),
        }
    }

    /// Resolves the statsd host once and starts the sending thread.
    pub fn new(opts: &StatsdOptions) -> Result<Self> {
        let target = (opts.host.as_str(), opts.port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| {
                Error::invalid(
                    "options.statsd",
                    format!("cannot resolve {}:{}", opts.host, opts.port),
                )
            })?;
        let bind = if target.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let socket = UdpSocket::bind(bind).map_err(|e| {
            Error::invalid("options.statsd", format!("cannot open a UDP socket: {e}"))
        })?;
        socket.set_nonblocking(true).ok();
        let sink = UdpMetricSink::from(target, socket).map_err(|e| {
            Error::invalid("options.statsd", format!("cannot send to {target}: {e}"))
        })?;
        Ok(Metrics {
            sink: Some(QueuingMetricSink::with_capacity(sink, QUEUE_CAPACITY)),
            prefix: opts.prefix.clone(),
            sample_rate: opts.sample_rate,
            dropped: AtomicU64::new(0),
            tally: Tally::registered(),
        })
    }

    /// Whether metrics are being sent to statsd.
    pub fn enabled(&self) -> bool {
        self.sink.is_some()
    }

    /// Whether anything is reported at all: statsd, or totals for a scraper.
    pub fn reporting(&self) -> bool {
        self.sink.is_some() || tally::enabled()
    }

    /// Lines dropped because the queue was full or the socket refused them.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Queues one line `{prefix}.{name}:{value}|{kind}[|@rate]`; never blocks.
    fn send(&self, name: &str, value: std::fmt::Arguments<'_>, kind: &str, sampled: bool) {
        let Some(sink) = &self.sink else { return };
        if sampled && self.sample_rate < 1.0 && fastrand::f64() >= self.sample_rate {
            return;
        }
        let line = if sampled && self.sample_rate < 1.0 {
            format!(
                "{}.{name}:{value}|{kind}|@{}",
                self.prefix, self.sample_rate
            )
        } else {
            format!("{}.{name}:{value}|{kind}", self.prefix)
        };
        if sink.emit(&line).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Adds `n` to a counter.
    pub fn count(&self, name: &str, n: i64) {
        self.send(name, format_args!("{n}"), "c", true);
    }

    /// Records a timing in milliseconds, fractions kept (loopback calls take well under 1 ms).
    pub fn timing(&self, name: &str, elapsed: Duration) {
        let ms = (elapsed.as_secs_f64() * 1_000_000.0).round() / 1000.0;
        self.send(name, format_args!("{ms}"), "ms", true);
    }

    /// Sets a gauge (never sampled).
    pub fn gauge(&self, name: &str, value: u64) {
        self.send(name, format_args!("{value}"), "g", false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_statsd_options() {
        let o = StatsdOptions::from_value(&json!("udp://127.0.0.1:8125"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (o.host.as_str(), o.port, o.prefix.as_str(), o.sample_rate),
            ("127.0.0.1", 8125, "lemon", 1.0)
        );
        let o =
            StatsdOptions::from_value(&json!({"host":"h","prefix":"svc.prod","sampleRate":0.5}))
                .unwrap()
                .unwrap();
        assert_eq!(
            (o.port, o.prefix.as_str(), o.sample_rate),
            (8125, "svc.prod", 0.5)
        );
        assert!(StatsdOptions::from_value(&Value::Null).unwrap().is_none());
        for (bad, field) in [
            (json!("udp://nohost"), "options.statsd"),
            (json!("udp://h:0"), "options.statsd"),
            (json!(5), "options.statsd"),
            (
                json!({"host":"h","sampleRate":0}),
                "options.statsd.sampleRate",
            ),
            (
                json!({"host":"h","sampleRate":1.5}),
                "options.statsd.sampleRate",
            ),
            (json!({"host":"h","prefix":"a..b"}), "options.statsd.prefix"),
            (json!({"host":"h","prefix":"a b"}), "options.statsd.prefix"),
            (json!({"port":1}), "options.statsd.host"),
            (json!({"host":"h","colour":1}), "options.statsd.colour"),
        ] {
            let e = StatsdOptions::from_value(&bad).unwrap_err();
            assert!(e.to_string().contains(&format!("`{field}`")), "{bad}: {e}");
        }
    }

    #[test]
    fn sends_exact_lines_over_udp() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let port = server.local_addr().unwrap().port();
        let m = Metrics::new(&StatsdOptions {
            host: "127.0.0.1".into(),
            port,
            prefix: "p".into(),
            sample_rate: 1.0,
        })
        .unwrap();
        m.count("a.b.calls", 1);
        m.timing("a.b.latency", Duration::from_micros(12_500));
        m.gauge("a.providers", 3);
        let mut lines = Vec::new();
        let mut buf = [0u8; 512];
        for _ in 0..3 {
            let (n, _) = server.recv_from(&mut buf).unwrap();
            lines.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        assert_eq!(
            lines,
            vec![
                "p.a.b.calls:1|c",
                "p.a.b.latency:12.5|ms",
                "p.a.providers:3|g"
            ]
        );
    }

    #[test]
    fn disabled_metrics_do_nothing() {
        let m = Metrics::disabled();
        m.count("x", 1);
        assert!(!m.enabled());
        assert_eq!(m.dropped(), 0);
    }
}
