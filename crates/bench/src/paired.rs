//! The comparisons of alternating rounds as the table prints them: each variant's figures
//! against another's, and the median of the rounds' own ratios with their quartiles, which
//! tell a real cost from the machine's noise.

use serde_json::Value;

/// One scenario of alternating rounds: each runtime's variant `a` against `b` (warm p50,
/// throughput and the server's CPU per invocation at 8 clients, with their ratios), then each
/// of `others`: a variant against another. A ratio is the median of the rounds' own ratios: each round
/// measures the variants back to back, so the machine's drift between rounds cancels out.
pub(crate) fn alternating(
    cost: &Value,
    title: &str,
    (a, b): (&str, &str),
    others: &[(&str, &str, &str)],
) {
    let Some(cost) = cost.as_object() else {
        return;
    };
    println!();
    println!(
        "{title} (medians of {} alternating rounds; ratios: median of each round's, and their quartiles; warm p50 us; inv/s, and CPU us per invocation of the server and of all its processes, at 8 clients):",
        cost.get("rounds")
            .and_then(Value::as_u64)
            .unwrap_or_default()
    );
    for (label, c) in cost.iter().filter(|(_, c)| c.is_object()) {
        println!("{}", line(label, c, (a, b), others));
    }
}

/// One runtime's line: `a` against `b`, then each of `others` (a variant against another,
/// and the words that say what that tells).
fn line(label: &str, c: &Value, (a, b): (&str, &str), others: &[(&str, &str, &str)]) -> String {
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let mut line = format!("  {label:<9}");
    for (i, (x, b, words)) in std::iter::once((a, b, ""))
        .chain(others.iter().copied())
        .enumerate()
    {
        if i > 0 {
            line.push_str(&format!("; {words}:"));
        }
        // Each figure as "name x / b (ratio)", its rounds' values under `<key>_each`.
        let figures = FIGURES.iter().map(|(name, key, unit)| {
            format!(
                "{name}{:.0} / {:.0}{unit} ({})",
                f(&c[x][key]),
                f(&c[b][key]),
                paired_ratio(&c[x][format!("{key}_each")], &c[b][format!("{key}_each")]),
            )
        });
        line.push(' ');
        line.push_str(&figures.collect::<Vec<_>>().join(", "));
    }
    line
}

/// The figures of each variant the comparisons print: a name, the key of its median (its
/// rounds' values under `<key>_each`), and its unit.
const FIGURES: [(&str, &str, &str); 4] = [
    ("warm ", "warm_p50_us", ""),
    ("", "per_second_8", "/s"),
    ("CPU ", "server_cpu_us_8", ""),
    ("all processes ", "tree_cpu_us_8", ""),
];

/// The median of `a[i] / b[i]` over the rounds, with their quartiles: how far one round's
/// ratio strays tells a real cost from the machine's noise.
fn paired_ratio(a: &Value, b: &Value) -> Spread {
    let values = |v: &Value| -> Vec<f64> {
        v.as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default()
    };
    let mut ratios: Vec<f64> = values(a)
        .iter()
        .zip(values(b))
        .map(|(a, b)| a / b)
        .collect();
    ratios.sort_by(f64::total_cmp);
    if ratios.is_empty() {
        ratios.push(f64::NAN);
    }
    let at = |q: usize| {
        ratios
            .get((ratios.len().saturating_sub(1) * q).div_ceil(4))
            .copied()
            .unwrap_or(f64::NAN)
    };
    Spread {
        low: at(1),
        median: crate::metrics_cost::median(ratios.clone()),
        high: at(3),
    }
}

/// A ratio over alternating rounds: its median and quartiles.
struct Spread {
    low: f64,
    median: f64,
    high: f64,
}

impl std::fmt::Display for Spread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.median.is_nan() {
            return write!(f, "-");
        }
        write!(f, "{:.2}x, {:.2}-{:.2}", self.median, self.low, self.high)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_paired_ratio_is_the_median_of_the_rounds_own_with_their_quartiles() {
        // Each round's a is 0.8, 0.9, ... 1.6 times its b, out of order; b drifts.
        let factors = [1.2, 0.8, 1.6, 1.0, 1.4, 0.9, 1.5, 1.1, 1.3];
        let b: Vec<f64> = (0..9).map(|i| 100.0 + 10.0 * f64::from(i)).collect();
        let a: Vec<f64> = b.iter().zip(factors).map(|(b, f)| b * f).collect();
        let s = paired_ratio(&json!(a), &json!(b));
        assert!((s.median - 1.2).abs() < 1e-9, "{}", s.median);
        assert!((s.low - 1.0).abs() < 1e-9, "{}", s.low);
        assert!((s.high - 1.4).abs() < 1e-9, "{}", s.high);
        assert_eq!(s.to_string(), "1.20x, 1.00-1.40");
        assert_eq!(paired_ratio(&json!([]), &json!([])).to_string(), "-");
    }

    #[test]
    fn a_line_gives_each_figure_of_each_pair_with_its_ratio() {
        let variant = |scale: f64| {
            let mut v = json!({});
            for (_, key, _) in FIGURES {
                v[key] = json!(100.0 * scale);
                v[format!("{key}_each")] = json!([100.0 * scale, 100.0 * scale]);
            }
            v
        };
        let c = json!({"on": variant(1.1), "off": variant(1.0), "again": variant(1.0)});
        assert_eq!(
            line("python", &c, ("on", "off"), &[("again", "off", "noise")]),
            "  python    warm 110 / 100 (1.10x, 1.10-1.10), 110 / 100/s (1.10x, 1.10-1.10), \
             CPU 110 / 100 (1.10x, 1.10-1.10), all processes 110 / 100 (1.10x, 1.10-1.10); \
             noise: warm 100 / 100 (1.00x, 1.00-1.00), 100 / 100/s (1.00x, 1.00-1.00), \
             CPU 100 / 100 (1.00x, 1.00-1.00), all processes 100 / 100 (1.00x, 1.00-1.00)"
        );
    }
}
