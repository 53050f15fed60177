//! Options of `cluster.consumer()` and of one `consumer.call()`, and how they combine with the
//! configurator's overrides into the settings of one call (configurator > call > consumer).

use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use crate::balance::{warmup::DEFAULT_WARMUP, Algorithm};
use crate::cluster::breaker::BreakerOptions;
use crate::cluster::budget::BudgetOptions;
use crate::cluster::{failback, failover, forking, Fallback, Mode};
use crate::error::{Error, Result};
use crate::governance::ServiceOverrides;
use crate::options::Fields;
use crate::registry::path::segment;

/// Default per-attempt timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest timeout accepted (10 minutes); longer is almost certainly a unit mistake.
const MAX_TIMEOUT_MS: u64 = 600_000;

/// Which methods are idempotent (safe to retry after the request may have reached a provider).
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Idempotent {
    #[default]
    None,
    All,
    Methods(Vec<String>),
}

impl Idempotent {
    pub fn covers(&self, method: &str) -> bool {
        match self {
            Idempotent::None => false,
            Idempotent::All => true,
            Idempotent::Methods(m) => m.iter().any(|x| x == method),
        }
    }
}

/// What `cluster.consumer()` was given, validated.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    pub app: String,
    pub group: String,
    /// Only providers of this version are used, when set.
    pub version: Option<String>,
    pub load_balance: Algorithm,
    pub cluster: Mode,
    pub retries: u32,
    /// Per attempt.
    pub timeout: Duration,
    /// Whole call, retries included; default `timeout × (retries + 1)`.
    pub deadline: Option<Duration>,
    pub idempotent: Idempotent,
    pub forks: u32,
    pub warmup: Duration,
    /// Argument field whose value is the affinity key when the call gives no `hashKey`.
    pub hash_argument: Option<String>,
    pub fallback: Fallback,
    pub breaker: BreakerOptions,
    pub budget: BudgetOptions,
    pub max_concurrent: Option<u32>,
    pub max_concurrent_per_provider: Option<u32>,
    pub failback_retries: u32,
    pub failback_delay: Duration,
    /// How often this consumer's health report may be rewritten in its node under
    /// `consumers/` (only when it changed); `None` = no report (`healthReportMs: 0`).
    pub health_report: Option<Duration>,
}

impl ConsumerOptions {
    /// Reads the consumer options (see docs/api.md and `binding.d.ts` for every key).
    pub fn from_value(v: &Value) -> Result<Self> {
        let mut f = Fields::new("consumer", v)?;
        let app = f.required_string("app")?;
        let group = f.required_string("group")?;
        segment("app", &app)?;
        segment("group", &group)?;
        let version = f.string("version")?;
        let load_balance = balancer(f.string("loadBalance")?, "consumer.loadBalance")?
            .unwrap_or(Algorithm::RoundRobin);
        let cluster = mode(f.string("cluster")?, "consumer.cluster")?.unwrap_or(Mode::Failover);
        let retries = f
            .integer("retries", 0, 100)?
            .map_or(failover::DEFAULT_RETRIES, |n| n as u32);
        let timeout = f
            .millis("timeoutMs", 1, MAX_TIMEOUT_MS)?
            .unwrap_or(DEFAULT_TIMEOUT);
        let deadline = f.millis("deadlineMs", 1, MAX_TIMEOUT_MS)?;
        let idempotent = idempotent(&mut f, "consumer.idempotent")?;
        let forks = f
            .integer("forks", 1, 100)?
            .map_or(forking::DEFAULT_FORKS, |n| n as u32);
        let warmup = f
            .millis("warmupMs", 0, 24 * 3_600_000)?
            .unwrap_or(DEFAULT_WARMUP);
        let hash_argument = f.string("hashArgument")?;
        let fallback = fallback(&mut f);
        let breaker = match f.value("breaker") {
            Some(b) => BreakerOptions::from_value(b)?,
            None => BreakerOptions::default(),
        };
        let budget = match f.value("retryBudget") {
            Some(b) => BudgetOptions::from_value(b)?,
            None => BudgetOptions::default(),
        };
        let max_concurrent = f.integer("maxConcurrent", 1, 1 << 30)?.map(|n| n as u32);
        let max_concurrent_per_provider = f
            .integer("maxConcurrentPerProvider", 1, 1 << 30)?
            .map(|n| n as u32);
        let failback_retries = f
            .integer("failbackRetries", 0, 20)?
            .map_or(failback::DEFAULT_RETRIES, |n| n as u32);
        let failback_delay = f
            .millis("failbackDelayMs", 1, MAX_TIMEOUT_MS)?
            .unwrap_or(failback::DEFAULT_DELAY);
        let health_report = match f.integer("healthReportMs", 0, 600_000)? {
            None => Some(crate::admin::report::DEFAULT_EVERY),
            Some(0) => None,
            Some(ms) if ms < 1_000 => {
                return Err(Error::invalid(
                    "consumer.healthReportMs",
                    format!("must be 0 (off) or at least 1000, got {ms}"),
                ))
            }
            Some(ms) => Some(Duration::from_millis(ms as u64)),
        };
        f.finish()?;
        Ok(ConsumerOptions {
            app,
            group,
            version,
            load_balance,
            cluster,
            retries,
            timeout,
            deadline,
            idempotent,
            forks,
            warmup,
            hash_argument,
            fallback,
            breaker,
            budget,
            max_concurrent,
            max_concurrent_per_provider,
            failback_retries,
            failback_delay,
            health_report,
        })
    }
}

/// Per-call options.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    pub timeout: Option<Duration>,
    pub deadline: Option<Duration>,
    /// `Some(true)`: a gray request; `Some(false)`: not gray whatever the rule; `None`: the rule
    /// decides.
    pub gray: Option<bool>,
    /// Affinity key for `consistenthash` and the gray rule's `keyPercent`.
    pub hash_key: Option<String>,
    pub load_balance: Option<Algorithm>,
    pub cluster: Option<Mode>,
    pub retries: Option<u32>,
    pub idempotent: Option<bool>,
    pub forks: Option<u32>,
    pub fallback: Fallback,
}

impl CallOptions {
    /// Reads `{ timeoutMs?, deadlineMs?, gray?, hashKey?, loadBalance?, cluster?, retries?,
    /// idempotent?, forks?, fallback? }`.
    pub fn from_value(v: &Value) -> Result<Self> {
        // Most calls pass no options: the defaults, without the field reader's set of seen keys
        // and its prefixed names (measured as 5.7 % of a call's time on the JavaScript thread).
        if v.is_null() {
            return Ok(CallOptions::default());
        }
        Self::read(v)
    }

    /// The full reader behind [`CallOptions::from_value`].
    fn read(v: &Value) -> Result<Self> {
        let mut f = Fields::new("options", v)?;
        let timeout = f.millis("timeoutMs", 1, MAX_TIMEOUT_MS)?;
        let deadline = f.millis("deadlineMs", 1, MAX_TIMEOUT_MS)?;
        let gray = f.boolean("gray")?;
        let hash_key = match f.value("hashKey") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(_) => {
                return Err(Error::invalid(
                    "options.hashKey",
                    "must be a string or a number",
                ))
            }
        };
        let load_balance = balancer(f.string("loadBalance")?, "options.loadBalance")?;
        let cluster = mode(f.string("cluster")?, "options.cluster")?;
        let retries = f.integer("retries", 0, 100)?.map(|n| n as u32);
        let idempotent = f.boolean("idempotent")?;
        let forks = f.integer("forks", 1, 100)?.map(|n| n as u32);
        let fallback = fallback(&mut f);
        f.finish()?;
        Ok(CallOptions {
            timeout,
            deadline,
            gray,
            hash_key,
            load_balance,
            cluster,
            retries,
            idempotent,
            forks,
            fallback,
        })
    }
}

/// The settings of one call, after combining consumer, call and configurator.
#[derive(Debug, Clone)]
pub struct Settings {
    pub load_balance: Algorithm,
    pub cluster: Mode,
    pub retries: u32,
    pub timeout: Duration,
    pub deadline: Duration,
    pub idempotent: bool,
    pub forks: u32,
    pub fallback: Fallback,
    /// Forced degradation from the configurator.
    pub force: bool,
}

impl Settings {
    /// Configurator > call > consumer.
    pub fn merge(
        c: &ConsumerOptions,
        call: &CallOptions,
        s: &ServiceOverrides,
        method: &str,
    ) -> Settings {
        let cluster = s.cluster.or(call.cluster).unwrap_or(c.cluster);
        let retries = s.retries.or(call.retries).unwrap_or(c.retries);
        let timeout = s.timeout.or(call.timeout).unwrap_or(c.timeout);
        let attempts = match cluster {
            Mode::Failover => retries + 1,
            _ => 1,
        };
        let deadline = call
            .deadline
            .or(c.deadline)
            .unwrap_or_else(|| timeout.saturating_mul(attempts));
        let mut fallback = match &call.fallback {
            Fallback::None => c.fallback.clone(),
            other => other.clone(),
        };
        if s.force {
            if let Some(v) = &s.fallback {
                fallback = Fallback::Value(v.clone());
            }
        }
        Settings {
            load_balance: s
                .load_balance
                .or(call.load_balance)
                .unwrap_or(c.load_balance),
            cluster,
            retries,
            timeout,
            deadline,
            idempotent: call
                .idempotent
                .unwrap_or_else(|| c.idempotent.covers(method)),
            forks: call.forks.unwrap_or(c.forks),
            fallback,
            force: s.force,
        }
    }
}

fn balancer(name: Option<String>, field: &str) -> Result<Option<Algorithm>> {
    name.map(|n| Algorithm::parse(&n, field)).transpose()
}

fn mode(name: Option<String>, field: &str) -> Result<Option<Mode>> {
    name.map(|n| Mode::parse(&n).map_err(|e| e.in_field(field)))
        .transpose()
}

fn idempotent(f: &mut Fields<'_>, field: &str) -> Result<Idempotent> {
    match f.value("idempotent") {
        None | Some(Value::Bool(false)) => Ok(Idempotent::None),
        Some(Value::Bool(true)) => Ok(Idempotent::All),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(Error::invalid(field, "entries must be method names")),
            })
            .collect::<Result<Vec<_>>>()
            .map(Idempotent::Methods),
        Some(_) => Err(Error::invalid(
            field,
            "must be true, false or a list of method names",
        )),
    }
}

/// A fallback value; `undefined`/absent is none, `null` is the value null.
fn fallback(f: &mut Fields<'_>) -> Fallback {
    if !f.has("fallback") {
        f.value("fallback");
        return Fallback::None;
    }
    let v = f.value("fallback").cloned().unwrap_or(Value::Null);
    Fallback::Value(Bytes::from(serde_json::to_vec(&v).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_consumer_options() {
        let o = ConsumerOptions::from_value(
            &json!({"app":"a","group":"g","timeoutMs":100,"version":"V1"}),
        )
        .unwrap();
        assert_eq!(
            (
                o.timeout,
                o.version.as_deref(),
                o.load_balance.name(),
                o.cluster,
                o.retries
            ),
            (
                Duration::from_millis(100),
                Some("V1"),
                "roundrobin",
                Mode::Failover,
                2
            )
        );
        assert_eq!(o.fallback, Fallback::None);
        let o = ConsumerOptions::from_value(
            &json!({"app":"a","group":"g","loadBalance":"p2c","cluster":"forking",
            "idempotent":["get"],"fallback":null,"breaker":{"ejectMs":500,"maxEjectedPercent":100},
            "retryBudget":{"percent":10,"minPerSecond":0}}),
        )
        .unwrap();
        assert_eq!(o.fallback, Fallback::Value(Bytes::from_static(b"null")));
        assert!(o.idempotent.covers("get") && !o.idempotent.covers("put"));
        assert_eq!(o.breaker.eject, Duration::from_millis(500));
        assert_eq!(o.budget.percent, 0.1);
        let cases = [
            (
                json!({"app":"a","group":"g","loadBalance":"magic"}),
                "consumer.loadBalance",
            ),
            (
                json!({"app":"a","group":"g","cluster":"magic"}),
                "consumer.cluster",
            ),
            (
                json!({"app":"a","group":"g","timeoutMs":0}),
                "consumer.timeoutMs",
            ),
            (
                json!({"app":"a","group":"g","idempotent":"yes"}),
                "consumer.idempotent",
            ),
            (
                json!({"app":"a","group":"g","breaker":{"failureRate":2}}),
                "consumer.breaker.failureRate",
            ),
            (
                json!({"app":"a","group":"g","breaker":{"ejectMS":2}}),
                "consumer.breaker.ejectMS",
            ),
            (
                json!({"app":"a","group":"g","retryBudget":{"percent":-1}}),
                "consumer.retryBudget.percent",
            ),
            (json!({"app":"a"}), "consumer.group"),
            (json!({"app":"..","group":"g"}), "app"),
        ];
        for (v, field) in cases {
            let e = ConsumerOptions::from_value(&v).unwrap_err();
            assert!(e.to_string().contains(&format!("`{field}`")), "{v}: {e}");
        }
        assert!(CallOptions::from_value(&json!({"timeoutMs":"5"})).is_err());
        assert!(CallOptions::from_value(&json!(5)).is_err());
        assert!(CallOptions::from_value(&json!({"hashKey":{}})).is_err());
        assert!(CallOptions::from_value(&Value::Null)
            .unwrap()
            .timeout
            .is_none());
    }

    #[test]
    fn configurator_beats_call_beats_consumer() {
        let c = ConsumerOptions::from_value(
            &json!({"app":"a","group":"g","timeoutMs":100,"idempotent":["get"]}),
        )
        .unwrap();
        let call =
            CallOptions::from_value(&json!({"timeoutMs":200,"loadBalance":"random"})).unwrap();
        let none = ServiceOverrides::default();
        let s = Settings::merge(&c, &call, &none, "get");
        assert_eq!(
            (s.timeout.as_millis(), s.load_balance.name(), s.idempotent),
            (200, "random", true)
        );
        assert_eq!(
            s.deadline,
            Duration::from_millis(600),
            "timeout × 3 attempts"
        );
        assert!(!Settings::merge(&c, &call, &none, "put").idempotent);
        let ops = ServiceOverrides {
            timeout: Some(Duration::from_millis(50)),
            load_balance: Some(Algorithm::PowerOfTwo),
            retries: Some(0),
            force: true,
            fallback: Some(Bytes::from_static(b"1")),
            ..ServiceOverrides::default()
        };
        let s = Settings::merge(&c, &call, &ops, "get");
        assert_eq!(
            (s.timeout.as_millis(), s.load_balance.name(), s.retries),
            (50, "p2c", 0)
        );
        assert!(s.force);
        assert_eq!(s.fallback, Fallback::Value(Bytes::from_static(b"1")));
    }

    #[test]
    fn absent_call_options_are_the_full_reading_of_null_and_of_an_empty_object() {
        let fast = format!("{:?}", CallOptions::from_value(&Value::Null).unwrap());
        assert_eq!(
            fast,
            format!("{:?}", CallOptions::read(&Value::Null).unwrap())
        );
        assert_eq!(
            fast,
            format!("{:?}", CallOptions::read(&json!({})).unwrap())
        );
        assert_eq!(
            fast,
            format!("{:?}", CallOptions::from_value(&json!({})).unwrap())
        );
    }
}
