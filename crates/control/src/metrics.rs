//! `GET /metrics`: the server's figures in the Prometheus text format (version 0.0.4), and the
//! count of API calls by method and outcome that the port keeps itself.

use crate::reply::Reply;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::Response;
use jetstream_engine::server::Metrics;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, PoisonError};

/// API calls by method and outcome (`OK` or an error code).
#[derive(Default)]
pub(crate) struct Calls(Mutex<BTreeMap<(&'static str, &'static str), u64>>);

impl Calls {
    /// Counts one call of `method` that ended with `outcome`.
    pub(crate) fn count(&self, method: &'static str, outcome: &'static str) {
        *self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((method, outcome))
            .or_default() += 1;
    }

    fn snapshot(&self) -> BTreeMap<(&'static str, &'static str), u64> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The Prometheus text of `metrics` and `calls`.
pub(crate) fn reply(metrics: &Metrics, calls: &Calls) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(render(metrics, calls))));
    reply.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    reply
}

/// Writes the text format: for each metric its `# HELP` and `# TYPE` lines, then its samples.
struct Text(String);

impl Text {
    fn metric(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            let labels: Vec<String> = labels
                .iter()
                .map(|(key, value)| format!("{key}=\"{}\"", escape(value)))
                .collect();
            let _ = write!(self.0, "{{{}}}", labels.join(","));
        }
        let _ = writeln!(self.0, " {value}");
    }

    /// A metric with one unlabelled sample.
    fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.metric(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// A label value with `\`, `"` and line feeds escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn render(m: &Metrics, calls: &Calls) -> String {
    let mut t = Text(String::new());
    t.metric(
        "jetstream_transfers",
        "gauge",
        "Transfers this server sends, kept in its store, by status.",
    );
    for (status, n) in &m.sent.by_status {
        t.sample(
            "jetstream_transfers",
            &[("status", status.as_str())],
            *n as f64,
        );
    }
    t.single(
        "jetstream_sent_bytes",
        "gauge",
        "Bytes sent by the transfers kept in the store, repairs included.",
        m.sent.bytes_sent as f64,
    );
    t.single(
        "jetstream_retransmitted_bytes",
        "gauge",
        "Bytes sent again to repair losses, by the transfers kept in the store.",
        m.sent.bytes_retransmitted as f64,
    );
    t.single(
        "jetstream_received_bytes",
        "gauge",
        "Bytes written by the received transfers kept in the store.",
        m.received.bytes_received as f64,
    );
    t.single(
        "jetstream_send_rate_bits_per_second",
        "gauge",
        "The current send rates of the transfers sending, added up.",
        m.sent.send_rate * 1000.0,
    );
    t.metric(
        "jetstream_active_sessions",
        "gauge",
        "Sessions moving data now, by direction.",
    );
    t.sample(
        "jetstream_active_sessions",
        &[("direction", "send")],
        m.sending as f64,
    );
    t.sample(
        "jetstream_active_sessions",
        &[("direction", "receive")],
        m.received.receiving as f64,
    );
    t.metric(
        "jetstream_connection_rtt_seconds",
        "gauge",
        "The last round-trip time measured on each connection.",
    );
    for c in &m.connections {
        if let Some(rtt) = c.round_trip_time_ms {
            let id = c.connection_id.to_string();
            let labels = [
                ("connection_id", id.as_str()),
                ("destination", &c.destination),
            ];
            t.sample("jetstream_connection_rtt_seconds", &labels, rtt / 1000.0);
        }
    }
    t.metric(
        "jetstream_connection_loss_ratio",
        "gauge",
        "The share of packets lost on each connection.",
    );
    for c in &m.connections {
        let id = c.connection_id.to_string();
        let labels = [
            ("connection_id", id.as_str()),
            ("destination", &c.destination),
        ];
        t.sample("jetstream_connection_loss_ratio", &labels, c.loss_rate);
    }
    let a = &m.admission;
    t.single(
        "jetstream_sessions_admitted_total",
        "counter",
        "Sessions the receiver admitted since the server started.",
        a.admitted as f64,
    );
    t.single(
        "jetstream_sessions_admitted_without_token_total",
        "counter",
        "Sessions the receiver admitted without an address token (no Retry: it was quiet) since \
         the server started; a share of jetstream_sessions_admitted_total.",
        a.admitted_unproven as f64,
    );
    t.metric(
        "jetstream_handshake_refusals_total",
        "counter",
        "Datagrams without a session the receiver did not admit, by reason, since the server \
         started.",
    );
    for (reason, n) in [
        ("retry", a.retries),
        ("bad_token", a.bad_tokens),
        ("retry_withheld", a.retries_withheld),
        ("over_limit", a.over_limit),
        ("dropped", a.dropped),
    ] {
        t.sample(
            "jetstream_handshake_refusals_total",
            &[("reason", reason)],
            n as f64,
        );
    }
    t.metric(
        "jetstream_api_calls_total",
        "counter",
        "Calls of the control port's API by method and outcome (OK or the error code), since \
         the server started.",
    );
    for ((method, outcome), n) in calls.snapshot() {
        t.sample(
            "jetstream_api_calls_total",
            &[("method", method), ("code", outcome)],
            n as f64,
        );
    }
    t.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped_and_samples_follow_their_type_line() {
        let mut t = Text(String::new());
        t.metric("m", "gauge", "Help.");
        t.sample("m", &[("a", "x\"y\\z\nw"), ("b", "c")], 1.5);
        assert_eq!(
            t.0,
            "# HELP m Help.\n# TYPE m gauge\nm{a=\"x\\\"y\\\\z\\nw\",b=\"c\"} 1.5\n"
        );
    }
}
