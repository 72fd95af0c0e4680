//! The leaf operators that need more than equality: prefixes and suffixes (optionally
//! ignoring case), wildcards, numeric ranges and CIDR blocks.

use std::net::IpAddr;

/// Case-insensitive equality, by Unicode lower case; `lower` is already lower case.
pub(crate) fn eq_ignore_case(s: &str, lower: &str) -> bool {
    s.chars().flat_map(char::to_lowercase).eq(lower.chars())
}

/// A prefix or suffix, kept lower case when case is to be ignored.
#[derive(Debug, Clone)]
pub(crate) struct Affix {
    pub(crate) text: String,
    pub(crate) ignore_case: bool,
}

impl Affix {
    pub(crate) fn new(text: &str, ignore_case: bool) -> Affix {
        Affix {
            text: if ignore_case {
                text.to_lowercase()
            } else {
                text.to_string()
            },
            ignore_case,
        }
    }

    pub(crate) fn is_prefix_of(&self, s: &str) -> bool {
        if !self.ignore_case {
            return s.starts_with(&self.text);
        }
        let mut lowered = s.chars().flat_map(char::to_lowercase);
        self.text.chars().all(|c| lowered.next() == Some(c))
    }

    pub(crate) fn is_suffix_of(&self, s: &str) -> bool {
        if self.ignore_case {
            s.to_lowercase().ends_with(&self.text)
        } else {
            s.ends_with(&self.text)
        }
    }
}

/// A wildcard pattern: literal pieces separated by `*`.
#[derive(Debug, Clone)]
pub(crate) struct Wildcard {
    pieces: Vec<String>,
}

impl Wildcard {
    /// Parses `*` (any run), `\*` (a star) and `\\` (a backslash); two stars in a row and
    /// any other escape are refused, as EventBridge refuses them.
    pub(crate) fn parse(pattern: &str) -> Result<Wildcard, String> {
        let mut pieces = Vec::new();
        let mut current = String::new();
        let mut chars = pattern.chars();
        let mut after_star = false;
        while let Some(c) = chars.next() {
            match c {
                '*' if after_star => {
                    return Err(format!("Consecutive wildcard characters in {pattern}"));
                }
                '*' => {
                    pieces.push(std::mem::take(&mut current));
                    after_star = true;
                    continue;
                }
                '\\' => match chars.next() {
                    Some(e @ ('*' | '\\')) => current.push(e),
                    _ => return Err(format!("Invalid escape character in wildcard {pattern}")),
                },
                c => current.push(c),
            }
            after_star = false;
        }
        pieces.push(current);
        Ok(Wildcard { pieces })
    }

    /// Whether `s` matches: the first piece starts it, the last ends it, and the middle
    /// ones appear in order between (leftmost first, which is enough when `*` is the only
    /// wildcard).
    pub(crate) fn matches(&self, s: &str) -> bool {
        let (first, rest) = match self.pieces.split_first() {
            Some(split) => split,
            None => return s.is_empty(),
        };
        let Some((last, middle)) = rest.split_last() else {
            return s == first;
        };
        // Both ends are char boundaries once the checks hold, so the slice cannot panic.
        if s.len() < first.len() + last.len()
            || !s.starts_with(first.as_str())
            || !s.ends_with(last.as_str())
        {
            return false;
        }
        let mut tail = &s[first.len()..s.len() - last.len()];
        for piece in middle {
            match tail.find(piece.as_str()) {
                Some(at) => tail = &tail[at + piece.len()..],
                None => return false,
            }
        }
        true
    }
}

/// A numeric range: an equality, or a lower and/or an upper bound.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Range {
    pub(crate) lower: Option<(f64, bool)>,
    pub(crate) upper: Option<(f64, bool)>,
}

impl Range {
    pub(crate) fn contains(&self, n: f64) -> bool {
        let above = match self.lower {
            Some((bound, inclusive)) => n > bound || (inclusive && n == bound),
            None => true,
        };
        let below = match self.upper {
            Some((bound, inclusive)) => n < bound || (inclusive && n == bound),
            None => true,
        };
        above && below
    }
}

/// An IPv4 or IPv6 block.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cidr {
    network: IpAddr,
    bits: u32,
}

impl Cidr {
    pub(crate) fn parse(text: &str) -> Result<Cidr, String> {
        let bad = || format!("Nonstandard IP address: {text}");
        let (address, bits) = match text.split_once('/') {
            Some((address, bits)) => (address, Some(bits)),
            None => (text, None),
        };
        let network: IpAddr = address.parse().map_err(|_| bad())?;
        let width = if network.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            Some(bits) => bits
                .parse::<u32>()
                .ok()
                .filter(|b| *b <= width)
                .ok_or_else(bad)?,
            None => width,
        };
        Ok(Cidr { network, bits })
    }

    pub(crate) fn contains(&self, address: &str) -> bool {
        let Ok(address) = address.parse::<IpAddr>() else {
            return false;
        };
        let (a, n, width) = match (address, self.network) {
            (IpAddr::V4(a), IpAddr::V4(n)) => (u32::from(a) as u128, u32::from(n) as u128, 32),
            (IpAddr::V6(a), IpAddr::V6(n)) => (u128::from(a), u128::from(n), 128),
            _ => return false,
        };
        let shift = width - self.bits;
        shift >= 128 || (a >> shift) == (n >> shift)
    }
}
