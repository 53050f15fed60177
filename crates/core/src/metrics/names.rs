//! Metric names: `{app}.{group}.{method}.{metric}` with each segment made statsd-safe.

/// Replaces every character other than `A-Z a-z 0-9 _ -` with `_`, so a segment can never add a
/// dot (a new Graphite level) or break the statsd line format (`:`, `|`, `@`, newlines).
pub fn sanitize(segment: &str) -> String {
    let s: String = segment
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        "_".to_string()
    } else {
        s
    }
}

/// `{app}.{group}.{method}.{metric}`, sanitised.
pub fn method_metric(app: &str, group: &str, method: &str, metric: &str) -> String {
    format!(
        "{}.{}.{}.{metric}",
        sanitize(app),
        sanitize(group),
        sanitize(method)
    )
}

/// `{app}.{group}.{metric}`, sanitised.
pub fn service_metric(app: &str, group: &str, metric: &str) -> String {
    format!("{}.{}.{metric}", sanitize(app), sanitize(group))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitises_segments() {
        assert_eq!(sanitize("getMovieById"), "getMovieById");
        assert_eq!(sanitize("a.b:c|d@e f\n"), "a_b_c_d_e_f_");
        assert_eq!(sanitize("电影"), "__");
        assert_eq!(sanitize(""), "_");
        assert_eq!(
            method_metric("movie", "q.1", "get", "latency"),
            "movie.q_1.get.latency"
        );
        assert_eq!(
            service_metric("movie", "q", "providers"),
            "movie.q.providers"
        );
    }
}
