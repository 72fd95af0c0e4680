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
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    for (label, c) in cost.iter().filter(|(_, c)| c.is_object()) {
        let mut line = format!("  {label:<9}");
        for (i, (x, b, words)) in std::iter::once((a, b, ""))
            .chain(others.iter().copied())
            .enumerate()
        {
            let ratio = |x: &str, figure: &str| paired_ratio(&c[x][figure], &c[b][figure]);
            if i > 0 {
                line.push_str(&format!("; {words}:"));
            }
            line.push_str(&format!(
                " warm {:.0} / {:.0} ({}), {:.0} / {:.0}/s ({}), CPU {:.0} / {:.0} ({}), all processes {:.0} / {:.0} ({})",
                f(&c[x]["warm_p50_us"]),
                f(&c[b]["warm_p50_us"]),
                ratio(x, "warm_p50_us_each"),
                f(&c[x]["per_second_8"]),
                f(&c[b]["per_second_8"]),
                ratio(x, "per_second_8_each"),
                f(&c[x]["server_cpu_us_8"]),
                f(&c[b]["server_cpu_us_8"]),
                ratio(x, "server_cpu_us_8_each"),
                f(&c[x]["tree_cpu_us_8"]),
                f(&c[b]["tree_cpu_us_8"]),
                ratio(x, "tree_cpu_us_8_each"),
            ));
        }
        println!("{line}");
    }
}

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
}
