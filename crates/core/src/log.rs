//! Log records of the core, delivered to the application.
//!
//! The core logs through `tracing`. [`install`] sets one process-wide subscriber whose layer hands
//! every record at or above the level named by the `LEMON_LOG` environment variable (`error`,
//! `warn` — the default —, `info`, `debug`, `trace`, `off`) to the registered sinks — the
//! `logger` objects applications pass to `new Cluster()` — or, when there is none, writes it to
//! stderr. Every warning the core emits (skipped provider node, lost session, ...) is logged this
//! way, whatever listeners the application has.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, Once};

use crate::lock::lock;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// Receives one formatted record.
pub type Sink = Arc<dyn Fn(Level, &str) + Send + Sync>;

static SINKS: Mutex<Vec<(u64, Sink)>> = Mutex::new(Vec::new());
static NEXT_ID: Mutex<u64> = Mutex::new(0);
static INSTALL: Once = Once::new();

/// The most verbose level delivered, from `LEMON_LOG`; `None` = off.
pub fn level_from_env(value: Option<&str>) -> Option<Level> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("warn") | Some("warning") => Some(Level::WARN),
        Some("error") => Some(Level::ERROR),
        Some("info") => Some(Level::INFO),
        Some("debug") => Some(Level::DEBUG),
        Some("trace") => Some(Level::TRACE),
        Some("off") | Some("none") => None,
        Some(_) => Some(Level::WARN),
    }
}

/// Installs the process-wide subscriber once (later calls do nothing, and neither does a call in
/// a process that already has a global subscriber).
pub fn install() {
    INSTALL.call_once(|| {
        let max = level_from_env(std::env::var("LEMON_LOG").ok().as_deref());
        let subscriber = tracing_subscriber::registry().with(Forward { max });
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

/// Adds a sink; the id removes it again.
pub fn add_sink(sink: Sink) -> u64 {
    let mut next = lock(&NEXT_ID);
    *next += 1;
    let id = *next;
    lock(&SINKS).push((id, sink));
    id
}

/// Removes a sink added by [`add_sink`].
pub fn remove_sink(id: u64) {
    lock(&SINKS).retain(|(i, _)| *i != id);
}

/// Delivers a record to the sinks, or to stderr when there is none.
fn deliver(level: Level, line: &str) {
    let sinks: Vec<Sink> = lock(&SINKS).iter().map(|(_, s)| s.clone()).collect();
    if sinks.is_empty() {
        to_stderr(level, line);
    }
    for s in sinks {
        s(level, line);
    }
}

/// Writes one record to stderr as `[lemon-cluster] warn …` (also for a logger that refused it).
pub fn to_stderr(level: Level, line: &str) {
    eprintln!(
        "[lemon-cluster] {} {line}",
        level.as_str().to_ascii_lowercase()
    );
}

struct Forward {
    max: Option<Level>,
}

impl<S: Subscriber> Layer<S> for Forward {
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        // Only our own crates: a dependency's chatter (the ZooKeeper client's reconnect notes,
        // hyper's debug) would drown the records that matter.
        self.max.is_some_and(|max| *metadata.level() <= max)
            && (metadata.target().starts_with("lemon_core")
                || metadata.target().starts_with("lemon_cluster"))
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut line = Line::default();
        event.record(&mut line);
        deliver(*event.metadata().level(), &line.finish());
    }
}

/// Formats `message key=value ...`.
#[derive(Default)]
struct Line {
    message: String,
    fields: String,
}

impl Line {
    fn finish(self) -> String {
        if self.fields.is_empty() {
            self.message
        } else {
            format!("{}{}", self.message, self.fields)
        }
    }
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_level() {
        assert_eq!(level_from_env(None), Some(Level::WARN));
        assert_eq!(level_from_env(Some("DEBUG")), Some(Level::DEBUG));
        assert_eq!(level_from_env(Some("off")), None);
        assert_eq!(level_from_env(Some("nonsense")), Some(Level::WARN));
    }

    #[test]
    fn formats_message_and_fields() {
        let mut l = Line::default();
        l.message.push_str("provider registered");
        l.fields.push_str(" path=/a");
        assert_eq!(l.finish(), "provider registered path=/a");
    }
}
