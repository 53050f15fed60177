//! Balancing cost at scale: nanoseconds per pick for every balancer at 10, 100, 1,000 and 10,000
//! providers, equal and mixed weights, and the whole per-call path a consumer runs before sending
//! (kept candidate list + choose through breaker and limits + balance), plus what a provider-list
//! change costs that path (routing and weighing the new list, and the first pick over it).
//!
//! `cargo bench -p lemon-core --bench scale` (or `npm run bench:scale`). Std only: each figure is
//! the median of 5 timed runs, after a warmup run, each run a fixed number of picks; results go
//! through `black_box` so nothing is optimised away. Runs on one thread: contention is not
//! measured here.

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use lemon_core::balance::{self, Algorithm, Balancer, Candidate, Candidates, Pick};
use lemon_core::clock::{mono_ms, WallClock};
use lemon_core::cluster::breaker::BreakerOptions;
use lemon_core::cluster::budget::{BudgetOptions, RetryBudget};
use lemon_core::cluster::{Attempts, Peer, Targets};
use lemon_core::consumer::{CandidateLists, Inputs};
use lemon_core::governance::{Configurators, Routers};
use lemon_core::metrics::Metrics;
use lemon_core::registry::{Directory, NodeRead, Provider, ProviderNode};
use lemon_core::rng::Rng;
use lemon_core::stats::{Outcome, ProviderStats};
use lemon_core::transport::{HttpTransport, TransportOptions};

const SIZES: [usize; 4] = [10, 100, 1_000, 10_000];
const RUNS: usize = 5;
const NOW_MS: u64 = 1_000_000;

fn provider(i: usize, weight: u32) -> Arc<Provider> {
    let host = format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255);
    let node = ProviderNode {
        host: host.clone(),
        port: 8080,
        https: false,
        version: String::new(),
        methods: vec![],
        gray: false,
        weight,
        timestamp: Some(0),
        pid: None,
        author: String::new(),
        description: String::new(),
        token: false,
    };
    Arc::new(Provider {
        address: format!("{host}:8080"),
        node,
        nodes: vec![format!("{host}:8080-0000000001")],
    })
}

/// Weights: all 100, or spread over 50..=149 (so not every candidate weighs the same).
fn weight(i: usize, mixed: bool) -> u32 {
    if mixed {
        50 + (i * 7919 % 100) as u32
    } else {
        100
    }
}

fn providers(n: usize, mixed: bool) -> Vec<Arc<Provider>> {
    (0..n).map(|i| provider(i, weight(i, mixed))).collect()
}

/// Statistics with a few recent successes each, so latency-aware balancers have data to read.
fn stats(i: usize) -> Arc<ProviderStats> {
    let s = Arc::new(ProviderStats::new(0));
    for k in 0..3 {
        s.record(
            NOW_MS - 1_000 + k,
            1.0 + (i % 7) as f64,
            Outcome::Success { slow: false },
        );
    }
    s
}

fn candidates(ps: &[Arc<Provider>]) -> Candidates {
    Candidates::new(
        ps.iter()
            .enumerate()
            .map(|(i, p)| Candidate {
                provider: p.clone(),
                weight: u64::from(p.node.weight),
                stats: stats(i),
            })
            .collect(),
    )
}

/// Median ns per iteration of `f` over `RUNS` runs of `iters` iterations.
fn median_ns(iters: usize, mut f: impl FnMut(usize)) -> f64 {
    for i in 0..iters.min(10_000) {
        f(i);
    }
    let mut runs: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            for i in 0..iters {
                f(i);
            }
            start.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[RUNS / 2]
}

/// Iterations per run: enough for a stable figure, bounded so the O(n) balancers finish.
fn iterations(n: usize, linear: bool) -> usize {
    if linear {
        (2_000_000 / n).clamp(200, 200_000)
    } else {
        200_000
    }
}

fn show(ns: f64) -> String {
    if ns >= 10_000.0 {
        format!("{:.0} µs", ns / 1000.0)
    } else if ns >= 1_000.0 {
        format!("{:.1} µs", ns / 1000.0)
    } else {
        format!("{ns:.0} ns")
    }
}

fn picks() {
    println!("\n#### ns per pick over a kept candidate list (median of {RUNS} runs)\n");
    let header: Vec<String> = SIZES
        .iter()
        .flat_map(|n| [format!("{n} equal"), format!("{n} mixed")])
        .collect();
    println!("| balancer | {} |", header.join(" | "));
    println!("|---|{}", "---|".repeat(header.len()));
    for algorithm in Algorithm::ALL {
        let name = algorithm.name();
        let linear = matches!(
            algorithm,
            Algorithm::LeastActive | Algorithm::ShortestResponse
        );
        let mut row = Vec::new();
        for n in SIZES {
            for mixed in [false, true] {
                let b = algorithm.build();
                let cs = candidates(&providers(n, mixed));
                let mut rng = Rng::new(7);
                let ns = median_ns(iterations(n, linear), |i| {
                    let mut call = Pick {
                        method: "get",
                        key_hash: lemon_core::rng::mix(i as u64),
                        now_ms: NOW_MS,
                        rng: &mut rng,
                    };
                    black_box(b.pick(&mut call, black_box(&cs)));
                });
                row.push(show(ns));
            }
        }
        println!("| `{name}` | {} |", row.join(" | "));
    }
}

/// The consumer's per-call path before the request is sent, as `Consumer::invoke` runs it.
fn call_path() {
    println!(
        "\n#### Per call before sending: kept list + choose (breaker, limits) + balance (median of {RUNS} runs)\n"
    );
    println!("| providers | roundrobin | p2c | random | after a list change: route + weigh the new list, first pick (roundrobin) |");
    println!("|---|---|---|---|---|");
    let transport = HttpTransport::new(TransportOptions::default()).expect("a client");
    let metrics = Metrics::disabled();
    let breaker = BreakerOptions::default();
    let budget = Mutex::new(RetryBudget::new(BudgetOptions::default()));
    let configurators = Arc::new(Configurators::default());
    let routers = Arc::new(Routers::default());
    for n in SIZES {
        let snapshot = Arc::new(providers(n, false));
        let by_address: std::collections::HashMap<String, Peer> = snapshot
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut peer = Peer::new(0);
                peer.stats = stats(i);
                (p.address.clone(), peer)
            })
            .collect();
        let stats_of = |a: &str| by_address[a].clone();
        let inputs = |providers| Inputs {
            providers,
            configurators: &configurators,
            routers: &routers,
            version: None,
            method: "get",
            gray: false,
            warmup: Duration::ZERO,
            clock: WallClock::At(NOW_MS),
        };
        let mut row = vec![n.to_string()];
        for name in ["roundrobin", "p2c", "random"] {
            let lists = CandidateLists::default();
            let b = balance::by_name(name).expect("a known balancer");
            let mut rng = Rng::new(3);
            let ns = median_ns(200_000, |_| {
                let list = lists.get(&inputs(&snapshot), stats_of).expect("routed");
                let a = attempts(list, b.as_ref(), &transport, &breaker, &budget, &metrics);
                black_box(a.choose(&[], mono_ms(), &mut rng).map(|c| c.index).ok());
            });
            row.push(show(ns));
        }
        // A list change: every call after it finds a new snapshot once.
        let lists = CandidateLists::default();
        let b = balance::by_name("roundrobin").expect("a known balancer");
        let fresh: Vec<Arc<Vec<Arc<Provider>>>> =
            (0..8).map(|_| Arc::new(providers(n, false))).collect();
        let mut rng = Rng::new(5);
        let ns = median_ns((20_000 / n).clamp(8, 2_000), |i| {
            let list = lists
                .get(&inputs(&fresh[i % fresh.len()]), stats_of)
                .expect("routed");
            let a = attempts(list, b.as_ref(), &transport, &breaker, &budget, &metrics);
            black_box(a.choose(&[], mono_ms(), &mut rng).map(|c| c.index).ok());
        });
        row.push(show(ns));
        println!("| {} |", row.join(" | "));
    }
}

fn attempts<'a>(
    candidates: Arc<Targets>,
    balancer: &'a dyn Balancer,
    transport: &'a HttpTransport,
    breaker: &'a BreakerOptions,
    budget: &'a Mutex<RetryBudget>,
    metrics: &'a Metrics,
) -> Attempts<'a, HttpTransport> {
    Attempts {
        service: "bench/scale",
        method: "get",
        path: "/bench/scale/get".into(),
        body: Bytes::from_static(b"{}"),
        candidates,
        balancer,
        transport,
        breaker,
        budget,
        max_per_provider: Some(100),
        key_hash: 0,
        timeout: Duration::from_secs(1),
        started: tokio::time::Instant::now(),
        started_ms: mono_ms(),
        deadline: tokio::time::Instant::now() + Duration::from_secs(1),
        deadline_ms: 1_000,
        idempotent: false,
        gray: false,
        tokens: None,
        metrics,
        app: "bench",
        group: "scale",
    }
}

/// What the consumer's directory pays to take in provider nodes read from ZooKeeper.
fn directory() {
    println!(
        "\n#### Directory: applying provider nodes read from ZooKeeper (median of {RUNS} runs)\n"
    );
    println!(
        "| providers | full read (every node new), parse + rebuild | one node changed, rebuild |"
    );
    println!("|---|---|---|");
    for n in SIZES {
        let reads = |generation: usize| -> Vec<NodeRead> {
            (0..n)
                .map(|i| NodeRead {
                    name: format!("10.0.{}.{}:8080-{:010}", i >> 8 & 255, i & 255, generation),
                    data: format!(
                        r#"{{"host":"10.{}.{}.{}","port":8080,"weight":100,"timestamp":{generation}}}"#,
                        i >> 16 & 255,
                        i >> 8 & 255,
                        i & 255
                    )
                    .into_bytes(),
                    czxid: (generation * n + i) as i64,
                })
                .collect()
        };
        let generations: Vec<Vec<NodeRead>> = (0..2).map(reads).collect();
        let mut dir = Directory::default();
        let iters = (20_000 / n).clamp(4, 1_000);
        let full = median_ns(iters, |i| {
            dir.replace_all(generations[i % 2].clone());
            black_box(dir.commit());
        });
        let one = median_ns(iters, |i| {
            let mut node = generations[0][0].clone();
            node.data = format!(r#"{{"weight":{}}}"#, 1 + i % 50).into_bytes();
            dir.upsert(node);
            black_box(dir.commit());
        });
        println!("| {n} | {} | {} |", show(full), show(one));
    }
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent: only check that it starts.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    println!(
        "lemon-core balancing at scale, {} logical CPUs",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    picks();
    call_path();
    directory();
}
