//! The table the bench prints from its report.

use serde_json::Value;

use crate::paired::alternating;
use crate::scenarios::served;

/// One section of the table: its header, then a line for each runtime whose report has
/// `key`, written by `row` from that part and the runtime's whole report. Nothing when no
/// runtime has it.
pub fn section(
    runtimes: &[(&String, &Value)],
    key: &str,
    header: &str,
    row: impl Fn(&Value, &Value) -> String,
) {
    if runtimes.iter().all(|(_, v)| v[key].is_null()) {
        return;
    }
    println!();
    println!("{header}");
    for (label, v) in runtimes {
        if !v[key].is_null() {
            println!("  {label:<9} {}", row(&v[key], v));
        }
    }
}

/// `a / b` as "1.23x", or "-".
fn ratio(a: &Value, b: &Value) -> String {
    match (a.as_f64(), b.as_f64()) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "-".into(),
    }
}

pub fn print_table(r: &Value) {
    let us = |v: &Value| {
        v.as_f64()
            .map(|x| format!("{x:.0}"))
            .unwrap_or_else(|| "-".into())
    };
    let us1 = |v: &Value| {
        v.as_f64()
            .map(|x| format!("{x:.1}"))
            .unwrap_or_else(|| "-".into())
    };
    let ms = |v: &Value| {
        v.as_f64()
            .map(|x| format!("{:.1}", x / 1000.0))
            .unwrap_or_else(|| "-".into())
    };
    let http = &r["baseline"]["http_round_trip"];
    println!(
        "baseline: loopback HTTP round trip p50 {} us, p99 {} us",
        us(&http["p50_us"]),
        us(&http["p99_us"])
    );
    let relay = &r["baseline"]["relay"];
    let relay_node = &r["baseline"]["relay_node"];
    for (v, runtimes) in [
        (relay, "native echo"),
        (relay_node, "minimal Node.js runtime loop"),
    ] {
        if v.is_object() {
            println!(
                "baseline: unsandboxed relay, {runtimes}: warm p50 {} us, {} clients {} inv/s",
                us(&v["warm"]["p50_us"]),
                v["throughput"]["clients"],
                us(&v["throughput"]["per_second"])
            );
        }
    }
    let wake = &r["baseline"]["wake_up"];
    if wake.is_object() {
        println!(
            "baseline: a thread woken through a socket: on the same core {} us, on another core {} us (an invocation wakes at least four)",
            us1(&wake["same_core_us"]),
            us1(&wake["other_core_us"])
        );
        if let Some(ns) = wake["guest_halt_poll_ns"].as_u64() {
            println!(
                "baseline: this VM's idle cores poll {} us before they halt (guest_halt_poll_ns; 0 makes every wake-up on an idle core an interrupt to a halted core)",
                ns / 1000
            );
        }
    }
    if let Some(spawns) = r["baseline"]["spawn_ms"].as_object() {
        for (k, v) in spawns {
            println!(
                "baseline: process start {k}: {} ms",
                v.as_f64()
                    .map(|x| format!("{x:.1}"))
                    .unwrap_or_else(|| "-".into())
            );
        }
    }
    println!();
    println!(
        "{:<9} {:>9} {:>9} {:>10} {:>10} {:>9} {:>10} {:>10} {:>10}",
        "runtime",
        "warm p50",
        "warm p99",
        "warm p99.9",
        "c=8 inv/s",
        "c=8 p99",
        "cpu/1000",
        "cold p50",
        "init p50"
    );
    println!(
        "{:<9} {:>9} {:>9} {:>10} {:>10} {:>9} {:>10} {:>10} {:>10}",
        "", "us", "us", "us", "", "us", "ms", "ms", "ms"
    );
    if let Some(runtimes) = r["runtimes"].as_object() {
        for (label, v) in runtimes {
            let t8 = &v["throughput"]["8"];
            println!(
                "{:<9} {:>9} {:>9} {:>10} {:>10} {:>9} {:>10} {:>10} {:>10}",
                label,
                us(&v["warm"]["p50_us"]),
                us(&v["warm"]["p99_us"]),
                us(&v["warm"]["p999_us"]),
                t8["per_second"]
                    .as_f64()
                    .map(|x| format!("{x:.0}"))
                    .unwrap_or_else(|| "-".into()),
                us(&t8["p99_us"]),
                t8["cpu_ms_per_1000"]
                    .as_f64()
                    .map(|x| format!("{x:.0}"))
                    .unwrap_or_else(|| "-".into()),
                ms(&v["cold"]["first_invocation"]["p50_us"]),
                ms(&v["cold"]["init_duration"]["p50_us"]),
            );
        }
    }
    for (label, floor, what, targets) in [
        (
            "provided",
            relay,
            "the relay",
            ("(target <= 1.3x)", "(target >= 0.9x)"),
        ),
        (
            "node",
            relay_node,
            "the minimal Node.js loop on the relay",
            ("", "(target >= 0.75x)"),
        ),
    ] {
        let v = &r["runtimes"][label];
        if floor.is_object() && v.is_object() {
            println!(
                "{label} against {what}: warm p50 {}{}, 8 clients {} {}",
                ratio(&v["warm"]["p50_us"], &floor["warm"]["p50_us"]),
                if targets.0.is_empty() {
                    String::new()
                } else {
                    format!(" {}", targets.0)
                },
                ratio(
                    &v["throughput"]["8"]["per_second"],
                    &floor["throughput"]["per_second"]
                ),
                targets.1,
            );
        }
    }
    println!();
    print_in_process(r);
    if r["sqs"].is_object() {
        let q = &r["sqs"];
        let per_s = |v: &Value| {
            v.as_f64()
                .map(|x| format!("{x:.0}"))
                .unwrap_or_else(|| "-".into())
        };
        println!(
            "SQS: {} sends/s ({} clients, p99 {} us); {} messages/s received and deleted; a mapping drains {} messages/s into the {} echo (batches of 10)",
            per_s(&q["sends"]["per_second"]),
            q["sends"]["clients"],
            per_s(&q["sends"]["p99_us"]),
            per_s(&q["receives"]["per_second"]),
            per_s(&q["mapping"]["per_second"]),
            q["function"].as_str().unwrap_or("-"),
        );
    }
    if r["s3"].is_object() {
        print_s3(&r["s3"]);
    }
    if r["schedules"].is_object() {
        let l = &r["schedules"]["lateness"];
        let ms = |v: &Value| {
            v.as_f64()
                .map(|x| format!("{:.1}", x / 1000.0))
                .unwrap_or_else(|| "-".into())
        };
        println!(
            "Schedules: {} at() one second apart, {} fired; lateness to the function running: p50 {} ms, p99 {} ms",
            r["schedules"]["schedules"],
            r["schedules"]["fired"],
            ms(&l["p50_us"]),
            ms(&l["p99_us"])
        );
    }
    if r["soak"].is_object() {
        let k = &r["soak"];
        let f = |v: &Value| {
            v.as_f64()
                .map(|x| format!("{x:.1}"))
                .unwrap_or_else(|| "-".into())
        };
        println!(
            "Soak: {} s of mixed invocations at {}/s ({} in all, {} unexpected answers): server PSS {} MiB at the start, {} at the end, {} at most; slope after the first tenth {} MiB/hour",
            k["seconds"],
            k["rate"],
            k["invocations"],
            k["unexpected_answers"],
            f(&k["pss_mib"]["start"]),
            f(&k["pss_mib"]["end"]),
            f(&k["pss_mib"]["max"]),
            f(&k["slope_mib_per_hour"]),
        );
    }
    let runtimes: Vec<(&String, &Value)> = r["runtimes"]
        .as_object()
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    section(
        &runtimes,
        "function_url",
        "function URL against Invoke with the same event (warm p50 us; inv/s at 8 clients):",
        |u, _| {
            let f = |x: &Value| x.as_f64().unwrap_or(f64::NAN);
            let (url, inv) = (&u["url"], &u["invoke_same_event"]);
            let (url_p50, inv_p50) = (f(&url["warm"]["p50_us"]), f(&inv["warm"]["p50_us"]));
            let (url_rate, inv_rate) = (
                f(&url["per_second_8_clients"]),
                f(&inv["per_second_8_clients"]),
            );
            let (url_cpu, inv_cpu) = (f(&url["cpu_ms_per_1000"]), f(&inv["cpu_ms_per_1000"]));
            format!(
                "URL {url_p50:.0} / Invoke {inv_p50:.0} ({:.2}x); URL {url_rate:.0} / Invoke {inv_rate:.0} ({:.2}x); CPU ms/1000 {url_cpu:.0} / {inv_cpu:.0}",
                url_p50 / inv_p50,
                inv_rate / url_rate
            )
        },
    );
    alternating(
        &r["metrics_cost"],
        "metrics on against off",
        ("on", "off"),
        &[],
    );
    alternating(
        &r["against"],
        "this build against the one given with --against",
        ("this", "against"),
        &[],
    );
    // The subscription's own cost is told apart from the extension process's: `subscribed`
    // against `registered` differ only in the subscription and its deliveries.
    alternating(
        &r["telemetry_cost"],
        "Telemetry API subscriber against none",
        ("subscribed", "none"),
        &[
            ("layer", "none", "a layer without extension"),
            (
                "registered",
                "layer",
                "extension without subscription against that layer",
            ),
            (
                "subscribed",
                "registered",
                "subscribed against that extension",
            ),
            (
                "none_again",
                "none",
                "another echo without extension (the method's noise)",
            ),
        ],
    );
    if let Some(cluster) = r["cluster"].as_object() {
        println!();
        println!(
            "cluster node against embedded (warm p50 us; inv/s at 8 clients; async accepts/s); 8 clients over three nodes:"
        );
        for (label, c) in cluster {
            let e = &r["runtimes"][label];
            let f = |v: &Value| v.as_f64().map_or("-".into(), |x| format!("{x:.0}"));
            println!(
                "  {label:<9} warm {} / {}; {} / {}; async {} / {}; three nodes {}",
                f(&c["warm"]["p50_us"]),
                f(&e["warm"]["p50_us"]),
                f(&c["throughput_8"]["per_second"]),
                f(&e["throughput"]["8"]["per_second"]),
                f(&c["async"]["accepted_per_second"]),
                f(&e["async"]["accepted_per_second"]),
                f(&c["three_nodes_throughput_8"]["per_second"]),
            );
        }
    }
    println!();
    println!("throughput at 2 / 4 / 8 clients (inv/s): ");
    if let Some(runtimes) = r["runtimes"].as_object() {
        for (label, v) in runtimes {
            let at = |c: &str| {
                v["throughput"][c]["per_second"]
                    .as_f64()
                    .map(|x| format!("{x:.0}"))
                    .unwrap_or_else(|| "-".into())
            };
            println!("  {label:<9} {} / {} / {}", at("2"), at("4"), at("8"));
        }
    }
    println!();
    println!(
        "cold p50 breakdown (ms): sandbox set-up + runtime start and init + invoke + platform and HTTP"
    );
    if let Some(runtimes) = r["runtimes"].as_object() {
        for (label, v) in runtimes {
            let c = &v["cold"];
            let part = |k: &str| {
                c[k]["p50_us"]
                    .as_f64()
                    .map(|x| format!("{:.2}", x / 1000.0))
                    .unwrap_or_else(|| "-".into())
            };
            println!(
                "  {label:<9} {} + {} + {} + {} (first invocation {})",
                part("sandbox_setup"),
                part("runtime_start_and_init"),
                part("invoke_duration"),
                part("platform_and_http"),
                part("first_invocation"),
            );
        }
    }
    println!();
    println!(
        "burst: N simultaneous first invocations: all answered (ms), environments created/needed"
    );
    if let Some(runtimes) = r["runtimes"].as_object() {
        for (label, v) in runtimes {
            let Some(bursts) = v["burst"].as_object() else {
                continue;
            };
            let mut bursts: Vec<_> = bursts.iter().collect();
            bursts.sort_by_key(|(n, _)| n.parse::<usize>().unwrap_or(0));
            let cells: Vec<String> = bursts
                .into_iter()
                .map(|(n, b)| {
                    let rounds = b["rounds_ms"].as_array().map_or(String::new(), |ms| {
                        let ms: Vec<String> = ms
                            .iter()
                            .map(|m| format!("{:.0}", m.as_f64().unwrap_or(0.0)))
                            .collect();
                        format!(" (median of {}: {})", ms.len(), ms.join(", "))
                    });
                    format!(
                        "N={n}: {:.1} ms{rounds}, {}/{}",
                        b["all_answered_ms"].as_f64().unwrap_or(0.0),
                        b["environments_created"],
                        b["environments_needed"]
                    )
                })
                .collect();
            println!("  {label:<9} {}", cells.join("; "));
        }
    }
    let ahead: Vec<(&String, &Value)> = r["runtimes"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(_, v)| !v["prestarted"].is_null())
                .collect()
        })
        .unwrap_or_default();
    if !ahead.is_empty() {
        println!();
        println!(
            "started ahead (a server keeping runtimes and sandboxes ready): cold p50 = sandbox hand-over + handler init + rest; burst"
        );
        for (label, v) in ahead {
            let p = &v["prestarted"];
            let c = &p["cold"];
            let part = |k: &str| {
                c[k]["p50_us"]
                    .as_f64()
                    .map(|x| format!("{:.2}", x / 1000.0))
                    .unwrap_or_else(|| "-".into())
            };

            println!(
                "  {label:<9} cold {} ms ({} + {}; pre-started: {}); burst N={}: {:.1} ms, {}/{} ({})",
                part("first_invocation"),
                part("sandbox_setup"),
                part("runtime_start_and_init"),
                served(&c["prestarted"]),
                p["pool"],
                p["burst"]["all_answered_ms"].as_f64().unwrap_or(0.0),
                p["burst"]["environments_created"],
                p["burst"]["environments_needed"],
                served(&p["burst"]["prestarted"]),
            );
        }
    }
    let runtimes: Vec<(&String, &Value)> = r["runtimes"]
        .as_object()
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    section(
        &runtimes,
        "async",
        "asynchronous: Event invocations, accepted per second (each synced before its 202), accept p50 / p99 (us), all run per second",
        |a, _| {
            format!(
                "{} events from {} clients: {:.0}/s accepted, {} / {} us, {:.0}/s run ({:.0} ms in all)",
                a["events"],
                a["clients"],
                f(&a["accepted_per_second"]),
                us(&a["p50_us"]),
                us(&a["p99_us"]),
                f(&a["drained_per_second"]),
                f(&a["drained_in_ms"]),
            )
        },
    );
    section(
        &runtimes,
        "thawed",
        "thawed: invocation of a frozen environment p50 / p99 (us) against warm p50; the server's thaw, mean / max (us)",
        |t, v| {
            format!(
                "{} / {} against {}; thaw {:.0} / {:.0} over {} thaws",
                us(&t["client"]["p50_us"]),
                us(&t["client"]["p99_us"]),
                us(&v["warm"]["p50_us"]),
                f(&t["server_thaw_mean_us"]),
                f(&t["server_thaw_max_us"]),
                t["thaws"],
            )
        },
    );
    print_paused(r, &runtimes);
    section(
        &runtimes,
        "rated_burst",
        "burst under a scaling rate: all answered (ms), environments created / burst size, throttled",
        |b, _| {
            format!(
                "{} new per 10 s, N={}: {:.1} ms, {}/{}, {} throttled",
                b["scale_rate_per_10s"],
                b["environments_needed"].as_u64().unwrap_or(0)
                    + b["throttled"].as_u64().unwrap_or(0),
                f(&b["all_answered_ms"]),
                b["environments_created"],
                b["environments_needed"],
                b["throttled"],
            )
        },
    );
    println!();
    println!(
        "density: idle environments, PSS per environment, server PSS (at start: {:.1} MiB; right after its last scenario: {:.1} MiB; 6 s later, at rest: {:.1} MiB, target <= 30), idle CPU of the tree",
        r["server_pss_kib_at_start"].as_f64().unwrap_or(0.0) / 1024.0,
        r["server_pss_kib_at_end"].as_f64().unwrap_or(f64::NAN) / 1024.0,
        r["server_pss_kib_at_rest"].as_f64().unwrap_or(f64::NAN) / 1024.0
    );
    if let Some(runtimes) = r["runtimes"].as_object() {
        for (label, v) in runtimes {
            let d = &v["density"];
            if d.is_null() {
                continue;
            }
            println!(
                "  {label:<9} {} envs, {:.1} MiB each, server {:.1} MiB, {:.2} ms CPU/s",
                d["environments"],
                d["pss_per_environment_kib"].as_f64().unwrap_or(0.0) / 1024.0,
                d["server_pss_kib"].as_f64().unwrap_or(0.0) / 1024.0,
                d["idle_cpu_ms_per_s"].as_f64().unwrap_or(0.0),
            );
        }
    }
}

/// The figures measured in the bench's own process.
pub fn print_in_process(r: &Value) {
    println!(
        "SigV4 verification of a signed Invoke: {} us per request",
        r["sigv4"]["verify_us_p50"]
            .as_f64()
            .map(|x| format!("{x:.1}"))
            .unwrap_or_else(|| "-".into())
    );
    println!(
        "Event patterns: one event against {} rules ({} match) in {} us ({} rule matches/s)",
        r["patterns"]["rules"],
        r["patterns"]["matched_per_event"],
        r["patterns"]["per_event_us_p50"]
            .as_f64()
            .map(|x| format!("{x:.1}"))
            .unwrap_or_else(|| "-".into()),
        r["patterns"]["rule_matches_per_s"]
            .as_f64()
            .map(|x| format!("{:.1}M", x / 1e6))
            .unwrap_or_else(|| "-".into())
    );
}

/// One line per object size and server, then the notification latency.
fn print_s3(s: &Value) {
    let num = |v: &Value, digits: usize| {
        v.as_f64()
            .map(|x| format!("{x:.digits$}"))
            .unwrap_or_else(|| "-".into())
    };
    let ms = |v: &Value| {
        v.as_f64()
            .map(|x| format!("{:.1}", x / 1000.0))
            .unwrap_or_else(|| "-".into())
    };
    for (server, figures) in [("Lamina", &s["lamina"]), ("peer", &s["peer"])] {
        if !figures.is_object() {
            continue;
        }
        let name = if server == "peer" {
            s["peer_name"].as_str().unwrap_or("peer")
        } else {
            server
        };
        for size in ["4KB", "1MB"] {
            let f = &figures[size];
            println!(
                "S3 {name} {size}: PUT {}/s ({} MB/s, p99 {} ms), GET {}/s ({} MB/s, p99 {} ms), {} clients",
                num(&f["put"]["per_second"], 0),
                num(&f["put"]["mb_per_second"], 1),
                ms(&f["put"]["p99_us"]),
                num(&f["get"]["per_second"], 0),
                num(&f["get"]["mb_per_second"], 1),
                ms(&f["get"]["p99_us"]),
                f["clients"],
            );
        }
    }
    println!(
        "S3 floor: {} bare 4 KB write+sync+rename/s in the data directory's file system",
        num(&s["bare_4kb_writes"]["writes_per_second"], 0)
    );
    let l = &s["upload_to_invocation"];
    if l.is_object() {
        println!(
            "S3 upload to invocation (PUT answered to the OnSuccess record received): p50 {} ms, p99 {} ms ({} uploads)",
            ms(&l["p50_us"]),
            ms(&l["p99_us"]),
            l["n"]
        );
    }
}

/// Invocations after a pause, on a server with the default freezing policy, against the same
/// environment's warm p50 and the relay's after the same pause.
fn print_paused(r: &Value, runtimes: &[(&String, &Value)]) {
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let paused = &r["paused"];
    if !paused.is_object() {
        return;
    }
    let relay = &r["baseline"]["relay"];
    println!();
    println!(
        "after a pause of {} ms (a server's default freezing policy): p50 / p99 (us) against its warm p50; thaws",
        paused["pause_ms"]
    );
    // "p50 / p99 against warm p50 (ratio)" of a figure holding `paused` and `warm`.
    let against_warm = |v: &Value| {
        format!(
            "{:.0} / {:.0} against {:.0} ({})",
            f(&v["paused"]["p50_us"]),
            f(&v["paused"]["p99_us"]),
            f(&v["warm"]["p50_us"]),
            ratio(&v["paused"]["p50_us"], &v["warm"]["p50_us"]),
        )
    };
    for (label, _) in runtimes {
        let p = &paused[label.as_str()];
        if p.is_object() {
            println!("  {label:<9} {}; {} thaws", against_warm(p), p["thaws"]);
        }
    }
    if relay["paused"]["n"].as_u64().unwrap_or(0) > 0 {
        println!("  relay     {}, nothing to thaw", against_warm(relay));
        if paused["provided"].is_object() {
            println!(
                "  provided after the pause against the relay after the same pause: {}",
                ratio(
                    &paused["provided"]["paused"]["p50_us"],
                    &relay["paused"]["p50_us"]
                ),
            );
        }
    }
}
