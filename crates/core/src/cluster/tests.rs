//! Table tests of the fault-tolerance layer against a scripted transport: every mode, the
//! retry-safety rules, per-attempt timeouts and the call's deadline, the retry budget, the
//! bulkhead, and what failsafe and failback make of a failure. Time is Tokio's paused clock, so a
//! "slow provider" costs no real time and every duration is exact; no socket is opened.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::breaker::BreakerOptions;
use super::budget::BudgetOptions;
use super::*;
use crate::balance::{Balancer, Candidates, Pick};
use crate::metrics::Metrics;
use crate::registry::testing::provider;
use crate::transport::{Endpoint, TimeLimit};

/// What a scripted provider does with one request: answer after `after`, or fail.
#[derive(Clone)]
enum Does {
    Reply(&'static str),
    Refuse,
    Status(u16),
}
use Does::*;

/// Providers that follow a script, one step per request (the last step repeats), and a log of
/// who was called when.
#[derive(Default)]
struct Script {
    steps: Mutex<HashMap<String, VecDeque<(u64, Does)>>>,
    log: Mutex<Vec<(String, u64)>>,
    start: Mutex<Option<Instant>>,
}

impl Script {
    fn new(providers: &[(&str, &[(u64, Does)])]) -> Script {
        let s = Script::default();
        for (address, steps) in providers {
            lock(&s.steps).insert(address.to_string(), steps.iter().cloned().collect());
        }
        *lock(&s.start) = Some(Instant::now());
        s
    }

    /// Addresses in the order they were called.
    fn called(&self) -> Vec<String> {
        lock(&self.log).iter().map(|(a, _)| a.clone()).collect()
    }
}

impl Transport for Script {
    async fn post(
        &self,
        to: Endpoint<'_>,
        _path: &str,
        _body: Bytes,
        limit: TimeLimit,
        _gray: bool,
    ) -> Result<Bytes> {
        let address = to.address;
        let started = lock(&self.start).unwrap_or_else(Instant::now);
        lock(&self.log).push((address.to_string(), started.elapsed().as_millis() as u64));
        let (after, does) = {
            let mut steps = lock(&self.steps);
            let queue = steps.get_mut(address).expect("a scripted provider");
            if queue.len() > 1 {
                queue.pop_front().unwrap()
            } else {
                queue.front().cloned().unwrap()
            }
        };
        // As the HTTP transport does: the timeout covers the whole exchange.
        let timed_out = Error::Timeout {
            address: Some(address.to_string()),
            after_ms: limit.timeout.as_millis() as u64,
        };
        if tokio::time::timeout_at(
            limit.until(),
            tokio::time::sleep(Duration::from_millis(after)),
        )
        .await
        .is_err()
        {
            return Err(timed_out);
        }
        match does {
            Reply(body) => Ok(Bytes::from_static(body.as_bytes())),
            Refuse => Err(Error::Connect {
                address: address.to_string(),
                detail: "refused".into(),
            }),
            Status(status) => Err(Error::ProviderStatus {
                address: address.to_string(),
                status,
                body: String::new(),
            }),
        }
    }
}

/// Always the first candidate offered: with the tried ones left out, providers are tried in
/// list order, so a table can say who is called.
struct InOrder;

impl Balancer for InOrder {
    fn pick(&self, _: &mut Pick<'_>, candidates: &Candidates) -> Option<usize> {
        (!candidates.is_empty()).then_some(0)
    }
}

/// One call's settings, as a table row states them.
#[derive(Clone)]
struct Row {
    retries: u32,
    forks: u32,
    idempotent: bool,
    timeout_ms: u64,
    deadline_ms: u64,
}

impl Default for Row {
    fn default() -> Self {
        Row {
            retries: 2,
            forks: 2,
            idempotent: false,
            timeout_ms: 1_000,
            deadline_ms: 10_000,
        }
    }
}

/// A consumer's worth of this layer around a script: its targets, its invoker, its options.
struct Bed {
    script: Script,
    targets: Arc<Targets>,
    invoker: Invoker,
    breaker: BreakerOptions,
    /// `maxConcurrentPerProvider`.
    max_per_provider: Option<u32>,
    metrics: Metrics,
    warnings: Arc<Warnings>,
    row: Row,
}

impl Bed {
    fn new(providers: &[(&str, &[(u64, Does)])], row: Row) -> Bed {
        Bed::with_budget(providers, row, BudgetOptions::default(), None)
    }

    fn with_budget(
        providers: &[(&str, &[(u64, Does)])],
        row: Row,
        budget: BudgetOptions,
        max_concurrent: Option<u32>,
    ) -> Bed {
        let warnings = Arc::new(Warnings::default());
        Bed {
            script: Script::new(providers),
            targets: Arc::new(Targets::new(
                providers
                    .iter()
                    .map(|(a, _)| (provider(a, 100), 100, Peer::new(0)))
                    .collect(),
            )),
            invoker: Invoker::new(
                "app/group",
                InvokerOptions {
                    budget,
                    max_concurrent,
                    failback_retries: 3,
                    failback_delay: Duration::from_secs(1),
                },
                warnings.clone(),
            ),
            breaker: BreakerOptions::default(),
            max_per_provider: None,
            metrics: Metrics::disabled(),
            warnings,
            row,
        }
    }

    fn attempts(&self) -> Attempts<'_, Script> {
        let started = Instant::now();
        Attempts {
            service: "app/group",
            method: "m",
            path: Cow::Borrowed("/app/group/m"),
            body: Bytes::from_static(b"{}"),
            candidates: self.targets.clone(),
            balancer: &InOrder,
            transport: &self.script,
            breaker: &self.breaker,
            budget: self.invoker.budget(),
            max_per_provider: self.max_per_provider,
            key_hash: 0,
            timeout: Duration::from_millis(self.row.timeout_ms),
            started,
            started_ms: crate::clock::mono_ms(),
            deadline: started + Duration::from_millis(self.row.deadline_ms),
            deadline_ms: self.row.deadline_ms,
            idempotent: self.row.idempotent,
            gray: false,
            tokens: None,
            metrics: &self.metrics,
            app: "app",
            group: "group",
        }
    }

    async fn run(&self, mode: Mode) -> Result<Bytes> {
        let plan = Plan {
            mode,
            retries: self.row.retries,
            forks: self.row.forks,
        };
        self.invoker.run(&self.attempts(), plan).await
    }
}

fn code(r: &Result<Bytes>) -> String {
    match r {
        Ok(b) => String::from_utf8_lossy(b).into_owned(),
        Err(e) => e.code().to_string(),
    }
}

/// What ended the retries, for an error that has a cause.
fn cause(r: &Result<Bytes>) -> Option<&'static str> {
    match r {
        Err(Error::Caused { cause, .. }) => Some(cause.code()),
        _ => None,
    }
}

const OK: &[(u64, Does)] = &[(1, Reply("\"ok\""))];
const REFUSES: &[(u64, Does)] = &[(1, Refuse)];
const FAILS_503: &[(u64, Does)] = &[(1, Status(503))];
const SAYS_404: &[(u64, Does)] = &[(1, Status(404))];
const HANGS: &[(u64, Does)] = &[(60_000, Reply("\"late\""))];

#[tokio::test(start_paused = true)]
async fn modes_against_scripted_providers() {
    let idem = Row {
        idempotent: true,
        ..Row::default()
    };
    let once = Row {
        retries: 1,
        idempotent: true,
        ..Row::default()
    };
    #[allow(clippy::type_complexity)]
    let table: Vec<(
        &str,
        Mode,
        Row,
        Vec<(&str, &[(u64, Does)])>,
        &str,
        Vec<&str>,
    )> = vec![
        // A refused connection never reached the provider: always retried elsewhere.
        (
            "refused, then ok",
            Mode::Failover,
            Row::default(),
            vec![("a:1", REFUSES), ("b:1", OK)],
            "\"ok\"",
            vec!["a:1", "b:1"],
        ),
        // A 5xx may have done the work: retried only when the method is idempotent.
        (
            "503, not idempotent",
            Mode::Failover,
            Row::default(),
            vec![("a:1", FAILS_503), ("b:1", OK)],
            "ERR_PROVIDER_STATUS",
            vec!["a:1"],
        ),
        (
            "503, idempotent",
            Mode::Failover,
            idem.clone(),
            vec![("a:1", FAILS_503), ("b:1", OK)],
            "\"ok\"",
            vec!["a:1", "b:1"],
        ),
        // A 4xx is an answer: never retried.
        (
            "404, idempotent",
            Mode::Failover,
            idem.clone(),
            vec![("a:1", SAYS_404), ("b:1", OK)],
            "ERR_PROVIDER_STATUS",
            vec!["a:1"],
        ),
        // 1 + retries attempts at most, each on a provider not yet tried.
        (
            "all refuse",
            Mode::Failover,
            Row::default(),
            vec![
                ("a:1", REFUSES),
                ("b:1", REFUSES),
                ("c:1", REFUSES),
                ("d:1", OK),
            ],
            "ERR_CONNECT",
            vec!["a:1", "b:1", "c:1"],
        ),
        (
            "retries: 1",
            Mode::Failover,
            once,
            vec![("a:1", FAILS_503), ("b:1", FAILS_503), ("c:1", OK)],
            "ERR_PROVIDER_STATUS",
            vec!["a:1", "b:1"],
        ),
        (
            "fewer providers than retries",
            Mode::Failover,
            idem.clone(),
            vec![("a:1", FAILS_503), ("b:1", FAILS_503)],
            "ERR_PROVIDER_STATUS",
            vec!["a:1", "b:1"],
        ),
        // A timeout may have reached the provider: like a 5xx.
        (
            "timeout, idempotent",
            Mode::Failover,
            idem.clone(),
            vec![("a:1", HANGS), ("b:1", OK)],
            "\"ok\"",
            vec!["a:1", "b:1"],
        ),
        (
            "timeout, not idempotent",
            Mode::Failover,
            Row::default(),
            vec![("a:1", HANGS), ("b:1", OK)],
            "ERR_TIMEOUT",
            vec!["a:1"],
        ),
        // Failfast, failsafe and failback make one attempt.
        (
            "failfast, refused",
            Mode::Failfast,
            Row::default(),
            vec![("a:1", REFUSES), ("b:1", OK)],
            "ERR_CONNECT",
            vec!["a:1"],
        ),
        (
            "failsafe, refused",
            Mode::Failsafe,
            Row::default(),
            vec![("a:1", REFUSES), ("b:1", OK)],
            "ERR_CONNECT",
            vec!["a:1"],
        ),
        (
            "failback, refused",
            Mode::Failback,
            Row::default(),
            vec![("a:1", REFUSES), ("b:1", OK)],
            "ERR_CONNECT",
            vec!["a:1"],
        ),
        // Forking: the first success wins; with none, a business error before a failure.
        (
            "forking, one fails",
            Mode::Forking,
            Row::default(),
            vec![("a:1", FAILS_503), ("b:1", OK)],
            "\"ok\"",
            vec!["a:1", "b:1"],
        ),
        (
            "forking, 404 and 503",
            Mode::Forking,
            Row::default(),
            vec![("a:1", FAILS_503), ("b:1", SAYS_404), ("c:1", OK)],
            "ERR_PROVIDER_STATUS",
            vec!["a:1", "b:1"],
        ),
        // Broadcast: everyone is called; any failure fails the call.
        (
            "broadcast, all ok",
            Mode::Broadcast,
            Row::default(),
            vec![("a:1", OK), ("b:1", OK), ("c:1", OK)],
            "\"ok\"",
            vec!["a:1", "b:1", "c:1"],
        ),
        (
            "broadcast, one refuses",
            Mode::Broadcast,
            Row::default(),
            vec![("a:1", OK), ("b:1", REFUSES), ("c:1", OK)],
            "ERR_CONNECT",
            vec!["a:1", "b:1", "c:1"],
        ),
    ];
    for (name, mode, row, providers, want, called) in table {
        let bed = Bed::new(&providers, row);
        let got = bed.run(mode).await;
        assert_eq!(code(&got), want, "{name}: {got:?}");
        let mut who = bed.script.called();
        if mode == Mode::Broadcast || mode == Mode::Forking {
            who.sort();
        }
        assert_eq!(who, called, "{name}");
    }
}

#[tokio::test(start_paused = true)]
async fn forking_takes_the_first_success_and_cancels_the_rest() {
    let slow: &[(u64, Does)] = &[(2_000, Reply("\"slow\""))];
    let fast: &[(u64, Does)] = &[(10, Reply("\"fast\""))];
    let bed = Bed::new(
        &[("a:1", slow), ("b:1", fast)],
        Row {
            timeout_ms: 5_000,
            ..Row::default()
        },
    );
    let started = Instant::now();
    assert_eq!(code(&bed.run(Mode::Forking).await), "\"fast\"");
    assert_eq!(started.elapsed(), Duration::from_millis(10));
    assert_eq!(
        bed.targets[0].stats.inflight(),
        0,
        "the loser was cancelled"
    );
}

#[tokio::test(start_paused = true)]
async fn each_attempt_has_its_timeout_and_the_call_its_deadline() {
    // timeoutMs 1000, deadlineMs 1500: the first attempt times out at 1 s, the second is cut to
    // the 500 ms left, and no third attempt starts.
    let row = Row {
        idempotent: true,
        timeout_ms: 1_000,
        deadline_ms: 1_500,
        ..Row::default()
    };
    let bed = Bed::new(&[("a:1", HANGS), ("b:1", HANGS), ("c:1", OK)], row);
    let started = Instant::now();
    let got = bed.run(Mode::Failover).await;
    assert_eq!(started.elapsed(), Duration::from_millis(1_500));
    assert_eq!(code(&got), "ERR_TIMEOUT");
    assert_eq!(
        cause(&got),
        Some("ERR_TIMEOUT"),
        "stopped by the deadline: {got:?}"
    );
    assert_eq!(bed.script.called(), ["a:1", "b:1"]);
    match got {
        Err(Error::Caused { error, .. }) => {
            assert!(
                matches!(*error, Error::Timeout { after_ms: 500, .. }),
                "{error:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    // A deadline already past: no attempt at all.
    let bed = Bed::new(
        &[("a:1", OK)],
        Row {
            deadline_ms: 0,
            ..Row::default()
        },
    );
    assert_eq!(code(&bed.run(Mode::Failover).await), "ERR_TIMEOUT");
    assert!(bed.script.called().is_empty());
}

#[tokio::test(start_paused = true)]
async fn retries_are_granted_by_the_budget() {
    let none = BudgetOptions {
        percent: 0.0,
        min_per_second: 0.0,
        window: Duration::from_secs(10),
    };
    let bed = Bed::with_budget(&[("a:1", REFUSES), ("b:1", OK)], Row::default(), none, None);
    let got = bed.run(Mode::Failover).await;
    assert_eq!(code(&got), "ERR_CONNECT");
    assert_eq!(cause(&got), Some("ERR_RETRY_BUDGET"));
    assert_eq!(bed.script.called(), ["a:1"]);
    // 50 % of calls: two calls earn one retry.
    let half = BudgetOptions {
        percent: 0.5,
        min_per_second: 0.0,
        window: Duration::from_secs(10),
    };
    let bed = Bed::with_budget(&[("a:1", REFUSES), ("b:1", OK)], Row::default(), half, None);
    let results = [bed.run(Mode::Failover).await, bed.run(Mode::Failover).await];
    let retried = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(retried, 1, "{results:?}");
}

#[tokio::test(start_paused = true)]
async fn the_bulkhead_refuses_beyond_max_concurrent() {
    let slow: &[(u64, Does)] = &[(100, Reply("\"ok\""))];
    let bed = Bed::with_budget(
        &[("a:1", slow)],
        Row::default(),
        BudgetOptions::default(),
        Some(1),
    );
    let (first, second) = tokio::join!(bed.run(Mode::Failfast), bed.run(Mode::Failfast));
    assert_eq!(code(&first), "\"ok\"");
    assert_eq!(code(&second), "ERR_OVERLOADED");
    assert_eq!(
        code(&bed.run(Mode::Failfast).await),
        "\"ok\"",
        "the slot was given back"
    );
}

#[tokio::test(start_paused = true)]
async fn breakers_and_per_provider_limits_decide_who_is_tried() {
    // One failure ejects (consecutiveFailures 1): the next call goes straight to b.
    let mut bed = Bed::new(&[("a:1", REFUSES), ("b:1", OK)], Row::default());
    bed.breaker.consecutive_failures = 1;
    assert_eq!(code(&bed.run(Mode::Failfast).await), "ERR_CONNECT");
    assert!(bed.targets.breaker(0).is_ejected(crate::clock::mono_ms()));
    assert_eq!(code(&bed.run(Mode::Failfast).await), "\"ok\"");
    assert_eq!(
        bed.script.called(),
        ["a:1", "a:1".replace('a', "b").as_str()]
    );

    // At most maxEjectedPercent (50 % of 2: one) are ejected: b's failure does not eject it.
    let mut bed = Bed::new(&[("a:1", REFUSES), ("b:1", REFUSES)], Row::default());
    bed.breaker.consecutive_failures = 1;
    for _ in 0..3 {
        bed.run(Mode::Failfast).await.unwrap_err();
    }
    assert_eq!(bed.script.called(), ["a:1", "b:1", "b:1"]);

    // Everyone ejected (allowed by 100 %): calls fail with ERR_CIRCUIT_OPEN, untried...
    let mut bed = Bed::new(&[("a:1", REFUSES), ("b:1", REFUSES)], Row::default());
    bed.breaker.consecutive_failures = 1;
    bed.breaker.max_ejected_percent = 100;
    bed.run(Mode::Failfast).await.unwrap_err();
    bed.run(Mode::Failfast).await.unwrap_err();
    assert_eq!(code(&bed.run(Mode::Failfast).await), "ERR_CIRCUIT_OPEN");
    assert_eq!(bed.script.called().len(), 2);
    // ...unless some share is kept: then all dead means all alive, and the call is made.
    bed.breaker.max_ejected_percent = 99;
    assert_eq!(code(&bed.run(Mode::Failfast).await), "ERR_CONNECT");
    assert_eq!(bed.script.called().len(), 3);

    // maxConcurrentPerProvider: a full provider is skipped; when all are full, ERR_OVERLOADED.
    let slow: &[(u64, Does)] = &[(100, Reply("\"slow\""))];
    let mut bed = Bed::new(&[("a:1", slow), ("b:1", slow)], Row::default());
    bed.max_per_provider = Some(1);
    let (x, y, z) = tokio::join!(
        bed.run(Mode::Failfast),
        bed.run(Mode::Failfast),
        bed.run(Mode::Failfast)
    );
    assert_eq!(
        (code(&x), code(&y), code(&z)),
        (
            "\"slow\"".into(),
            "\"slow\"".into(),
            "ERR_OVERLOADED".into()
        )
    );
    let mut who = bed.script.called();
    who.sort();
    assert_eq!(who, ["a:1", "b:1"]);
}

#[tokio::test(start_paused = true)]
async fn a_half_open_probe_cancelled_with_its_fork_is_given_back() {
    // a is ejected with a back-off of 1 ms, so its next call is a half-open probe (1 allowed).
    let hangs_then_ok: &[(u64, Does)] = &[(1, Refuse), (60_000, Reply("\"late\""))];
    let fast: &[(u64, Does)] = &[(10, Reply("\"fast\""))];
    let mut bed = Bed::new(
        &[("a:1", hangs_then_ok), ("b:1", fast)],
        Row {
            timeout_ms: 120_000,
            ..Row::default()
        },
    );
    bed.breaker.consecutive_failures = 1;
    bed.breaker.eject = Duration::from_millis(1);
    bed.breaker.half_open_probes = 1;
    bed.run(Mode::Failfast).await.unwrap_err();
    std::thread::sleep(Duration::from_millis(5)); // the breakers' clock is the real one
                                                  // Forking: a (probing) and b race; b wins, a's probe is cancelled and must be given back.
    assert_eq!(code(&bed.run(Mode::Forking).await), "\"fast\"");
    let now = crate::clock::mono_ms();
    assert!(
        bed.targets.breaker(0).admits(now, &bed.breaker),
        "the probe permit came back"
    );
}

/// A directory over a bed: what a failback retry asks for.
struct Dir(Bed);

impl Source for Dir {
    type Transport = Script;
    type Call = ();

    fn invoker(&self) -> &Invoker {
        &self.0.invoker
    }

    async fn attempts<'a>(&'a self, _: &'a ()) -> Result<Attempts<'a, Script>> {
        Ok(self.0.attempts())
    }
}

fn warned(w: &Warnings) -> Arc<Mutex<Vec<String>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    w.subscribe(move |w| lock(&s).push(format!("{}: {}", w.code, w.message)));
    seen
}

async fn settle(
    dir: &Arc<Dir>,
    mode: Mode,
    fallback: &Fallback,
    idempotent: bool,
) -> Result<Answer> {
    let weak: Weak<Dir> = Arc::downgrade(dir);
    let e = match dir.0.run(mode).await {
        Ok(body) => return Ok(Answer::reply(body)),
        Err(e) => e,
    };
    dir.0
        .invoker
        .settle(&weak, || (), mode, fallback, idempotent, "m", e)
}

#[tokio::test(start_paused = true)]
async fn failsafe_answers_the_fallback_and_reports() {
    let dir = Arc::new(Dir(Bed::new(&[("a:1", REFUSES)], Row::default())));
    let seen = warned(&dir.0.warnings);
    let answer = settle(&dir, Mode::Failsafe, &Fallback::None, false)
        .await
        .unwrap();
    assert_eq!(&answer.body[..], b"null");
    assert_eq!(
        answer.degraded.as_ref().map(|e| e.code()),
        Some("ERR_CONNECT")
    );
    let fallback = Fallback::Value(Bytes::from_static(b"[]"));
    let answer = settle(&dir, Mode::Failsafe, &fallback, false)
        .await
        .unwrap();
    assert_eq!(&answer.body[..], b"[]");
    let seen = lock(&seen).clone();
    assert_eq!(
        seen.len(),
        1,
        "the second report is held back a second: {seen:?}"
    );
    assert!(
        seen[0].starts_with("ERR_CONNECT: failsafe call app/group.m"),
        "{seen:?}"
    );
    // Other modes: the error stands, unless a fallback is configured.
    let dir = Arc::new(Dir(Bed::new(&[("a:1", REFUSES)], Row::default())));
    assert!(settle(&dir, Mode::Failfast, &Fallback::None, false)
        .await
        .is_err());
    let answer = settle(&dir, Mode::Failfast, &fallback, false)
        .await
        .unwrap();
    assert_eq!(&answer.body[..], b"[]");
    // A 4xx is an answer, never replaced by a fallback.
    let dir = Arc::new(Dir(Bed::new(&[("a:1", SAYS_404)], Row::default())));
    assert!(settle(&dir, Mode::Failover, &fallback, false)
        .await
        .is_err());
}

#[tokio::test(start_paused = true)]
async fn failback_retries_in_the_background_through_this_layer() {
    // Refused twice, then up: the call answers at once; retries come after 1 s and 2 s more.
    let flaky: &[(u64, Does)] = &[(1, Refuse), (1, Refuse), (1, Reply("\"ok\""))];
    let dir = Arc::new(Dir(Bed::new(&[("a:1", flaky)], Row::default())));
    let seen = warned(&dir.0.warnings);
    let answer = settle(&dir, Mode::Failback, &Fallback::None, false)
        .await
        .unwrap();
    assert_eq!(
        answer.degraded.as_ref().map(|e| e.code()),
        Some("ERR_CONNECT")
    );
    assert_eq!(dir.0.invoker.pending_failbacks(), 1);
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    let times: Vec<u64> = lock(&dir.0.script.log).iter().map(|(_, t)| *t).collect();
    assert_eq!(times.len(), 3, "{times:?}");
    assert!(
        (1_000..1_010).contains(&times[1]) && (3_000..3_020).contains(&times[2]),
        "{times:?}"
    );
    assert_eq!(dir.0.invoker.pending_failbacks(), 0);
    assert!(lock(&seen).is_empty(), "it succeeded: {:?}", lock(&seen));

    // Never up: three retries (1, 2, 4 s), then one warning.
    let dir = Arc::new(Dir(Bed::new(&[("a:1", REFUSES)], Row::default())));
    let seen = warned(&dir.0.warnings);
    settle(&dir, Mode::Failback, &Fallback::None, false)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(7_100)).await;
    assert_eq!(dir.0.script.called().len(), 4);
    let seen = lock(&seen).clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0].starts_with("ERR_FAILBACK: failback call app/group.m gave up"),
        "{seen:?}"
    );

    // A 503 on a method that is not idempotent may have done the work: not retried, reported.
    let dir = Arc::new(Dir(Bed::new(&[("a:1", FAILS_503)], Row::default())));
    let seen = warned(&dir.0.warnings);
    settle(&dir, Mode::Failback, &Fallback::None, false)
        .await
        .unwrap();
    assert_eq!(dir.0.invoker.pending_failbacks(), 0);
    assert!(
        lock(&seen)[0].contains("is not retried"),
        "{:?}",
        lock(&seen)
    );

    // close() aborts pending retries.
    let dir = Arc::new(Dir(Bed::new(&[("a:1", REFUSES)], Row::default())));
    settle(&dir, Mode::Failback, &Fallback::None, false)
        .await
        .unwrap();
    dir.0.invoker.close();
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(dir.0.script.called().len(), 1);
}

#[test]
fn retry_safety_and_modes() {
    // The rules, stated once more as a table (the scenarios above show them in action).
    retry_safety_table();
}

fn retry_safety_table() {
    let connect = Error::Connect {
        address: "a:1".into(),
        detail: "refused".into(),
    };
    let timeout = Error::Timeout {
        address: Some("a:1".into()),
        after_ms: 5,
    };
    let broken = Error::BadResponse {
        address: "a:1".into(),
        detail: "reset".into(),
    };
    let status = |s| Error::ProviderStatus {
        address: "a:1".into(),
        status: s,
        body: String::new(),
    };
    let cases = [
        (&connect, false, true),
        (&connect, true, true),
        (&timeout, false, false),
        (&timeout, true, true),
        (&broken, false, false),
        (&broken, true, true),
    ];
    for (err, idempotent, want) in cases {
        assert_eq!(
            retryable(err, idempotent),
            want,
            "{err} idempotent={idempotent}"
        );
    }
    assert!(retryable(&status(503), true));
    assert!(!retryable(&status(503), false));
    assert!(
        !retryable(&status(404), true),
        "business errors are never retried"
    );
    assert!(!retryable(&Error::invalid("x", "y"), true));
    let huge = Error::ResponseTooLarge {
        address: "a:1".into(),
        limit: 16,
    };
    assert!(
        !retryable(&huge, true),
        "another provider would send the same reply"
    );
    assert!(!huge.is_provider_failure() && huge.degradable());
    assert_eq!(Mode::parse("forking").unwrap(), Mode::Forking);
    assert!(Mode::parse("sometimes").is_err());
}
