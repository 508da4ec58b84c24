//! Deterministic synthetic telemetry for fa2's benchmarks: Loghub-like log lines, ALB entries
//! and CloudTrail records, generated from a seed so that runs are comparable; [`mixed`] makes a
//! file mixing many log formats.

use std::fmt::Write;

pub mod mixed;

/// A tiny deterministic PRNG (xorshift64*), enough for varied synthetic values.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Message shapes modelled on Loghub datasets (HDFS, BGL, Spark, Zookeeper, OpenStack-like
/// and application logs); `{n}` numbers, `{h}` hex, `{ip}` addresses, `{id}` UUIDs.
const SHAPES: &[&str] = &[
    "Receiving block blk_{n} src: /{ip}:{n} dest: /{ip}:{n}",
    "PacketResponder {n} for block blk_{n} terminating",
    "BLOCK* NameSystem.addStoredBlock: blockMap updated: {ip}:{n} is added to blk_{n} size {n}",
    "instruction cache parity error corrected",
    "generating core.{n}",
    "Found block rdd_{n}_{n} locally",
    "Finished task {n}.0 in stage {n}.0 (TID {n}). {n} bytes result sent to driver",
    "Connection broken for id {n}, my id = {n}, error =",
    "Received connection request /{ip}:{n}",
    "GET /api/products/{n} status={n} in {n}ms request_id={id}",
    "Put item into table orders in {n}ms",
    "ERROR [http-nio-8080-exec-{n}] c.e.OrderService - Failed to save order {n}: Connect timed out",
    "session {h} closed by peer {ip}",
    "user {n} logged in from {ip} with session {id}",
    "Slow query detected: SELECT * FROM orders WHERE customer_id=? took {n}ms",
    "kernel: Out of memory: Killed process {n} (java) total-vm:{n}kB",
];

/// One synthetic message.
pub fn message(rng: &mut Rng, out: &mut String) {
    out.clear();
    let shape = SHAPES[rng.below(SHAPES.len() as u64) as usize];
    let mut rest = shape;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let end = rest[i..].find('}').map_or(rest.len(), |j| i + j + 1);
        match &rest[i..end] {
            "{n}" => {
                let _ = write!(out, "{}", rng.below(100_000));
            }
            "{h}" => {
                let _ = write!(out, "0x{:x}", rng.next_u64() >> 16);
            }
            "{ip}" => {
                let _ = write!(
                    out,
                    "10.{}.{}.{}",
                    rng.below(256),
                    rng.below(256),
                    rng.below(256)
                );
            }
            "{id}" => {
                let a = rng.next_u64();
                let b = rng.next_u64();
                let _ = write!(
                    out,
                    "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
                    a >> 32,
                    (a >> 16) & 0xffff,
                    a & 0xffff,
                    b >> 48,
                    b & 0xffff_ffff_ffff
                );
            }
            other => out.push_str(other),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
}

/// `n` synthetic messages, one per line.
pub fn messages(seed: u64, n: usize) -> String {
    let mut rng = Rng::new(seed);
    let mut buf = String::new();
    let mut out = String::with_capacity(n * 80);
    for _ in 0..n {
        message(&mut rng, &mut buf);
        out.push_str(&buf);
        out.push('\n');
    }
    out
}

/// A plain application log with leading timestamps spanning `[start_epoch, +minutes)`.
pub fn plain_log(seed: u64, n: usize, start_epoch: i64, minutes: i64) -> String {
    let mut rng = Rng::new(seed);
    let mut buf = String::new();
    let mut out = String::with_capacity(n * 110);
    for i in 0..n {
        let t = start_epoch + (i as i64 * minutes * 60) / n.max(1) as i64;
        let ts = fa2_core::time::rfc3339(fa2_core::time::from_millis(t * 1000).unwrap_or_default());
        message(&mut rng, &mut buf);
        let _ = writeln!(out, "{ts} {buf}");
    }
    out
}

/// ALB access log entries spanning `[start_epoch, +minutes)`.
pub fn alb_log(seed: u64, n: usize, start_epoch: i64, minutes: i64) -> String {
    let mut rng = Rng::new(seed);
    let mut out = String::with_capacity(n * 420);
    for i in 0..n {
        let t = start_epoch + (i as i64 * minutes * 60) / n.max(1) as i64;
        let ts = fa2_core::time::rfc3339(fa2_core::time::from_millis(t * 1000).unwrap_or_default());
        let code = match rng.below(100) {
            0..=2 => 502,
            3..=6 => 404,
            _ => 200,
        };
        let _ = writeln!(
            out,
            "https {ts} app/prod-alb/50dc6c495c0c9188 203.0.113.{}:{} 10.0.1.{}:8080 0.000 0.{:03} 0.000 {code} {code} {} {} \"GET https://shop.example.com:443/api/products/{} HTTP/1.1\" \"Mozilla/5.0\" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:targetgroup/checkout-tg/73e2d6bc24d8a067 \"Root=1-66bf2794-{:024x}\" \"shop.example.com\" \"-\" 0 {ts} \"forward\" \"-\" \"-\" \"10.0.1.17:8080\" \"{code}\" \"-\" \"-\"",
            rng.below(256),
            rng.below(65_535),
            rng.below(64),
            rng.below(999),
            rng.below(4000),
            rng.below(90_000),
            rng.below(1000),
            rng.next_u64() as u128
        );
    }
    out
}

/// `aws logs filter-log-events` output with `n` events.
pub fn filter_log_events(seed: u64, n: usize, start_ms: i64) -> String {
    let mut rng = Rng::new(seed);
    let mut buf = String::new();
    let mut out = String::from("{\"events\": [");
    for i in 0..n {
        message(&mut rng, &mut buf);
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(
            out,
            "{{\"logStreamName\": \"s/{}\", \"timestamp\": {}, \"message\": {}, \"eventId\": \"{i}\"}}",
            i % 8,
            start_ms + i as i64 * 100,
            serde_json::to_string(&buf).unwrap_or_default()
        );
    }
    out.push_str("]}");
    out
}

/// CloudTrail `{"Records": [...]}` with `n` records, 1 in 50 mutating.
pub fn cloudtrail(seed: u64, n: usize, start_epoch: i64) -> String {
    let mut rng = Rng::new(seed);
    let mut out = String::from("{\"Records\": [");
    for i in 0..n {
        if i > 0 {
            out.push_str(", ");
        }
        let mutating = rng.below(50) == 0;
        let name = if mutating {
            "UpdateTable"
        } else {
            "DescribeTable"
        };
        let ts = fa2_core::time::rfc3339(
            fa2_core::time::from_millis((start_epoch + i as i64) * 1000).unwrap_or_default(),
        );
        let _ = write!(
            out,
            "{{\"eventVersion\": \"1.09\", \"userIdentity\": {{\"type\": \"IAMUser\", \"arn\": \"arn:aws:iam::123456789012:user/u{}\", \"userName\": \"u{}\"}}, \"eventTime\": \"{ts}\", \"eventSource\": \"dynamodb.amazonaws.com\", \"eventName\": \"{name}\", \"awsRegion\": \"ap-northeast-1\", \"sourceIPAddress\": \"203.0.113.{}\", \"userAgent\": \"console.amazonaws.com\", \"requestParameters\": {{\"tableName\": \"t{}\"}}, \"responseElements\": null, \"eventID\": \"{i}\", \"readOnly\": {}}}",
            rng.below(5),
            rng.below(5),
            rng.below(255),
            rng.below(20),
            !mutating
        );
    }
    out.push_str("]}");
    out
}

/// `aws logs get-query-results` output with `n` rows of JSON-structured messages.
pub fn insights_results(seed: u64, n: usize, start_ms: i64) -> String {
    let mut rng = Rng::new(seed);
    let mut out = String::from("{\"results\": [");
    for i in 0..n {
        if i > 0 {
            out.push_str(", ");
        }
        let t = fa2_core::time::from_millis(start_ms + i as i64 * 100).unwrap_or_default();
        let msg = format!(
            "{{\"level\": \"info\", \"msg\": \"payment authorized\", \"orderId\": {}, \"latencyMs\": {}}}",
            rng.below(90_000),
            rng.below(500)
        );
        let _ = write!(
            out,
            "[{{\"field\": \"@timestamp\", \"value\": \"{}\"}}, {{\"field\": \"@message\", \"value\": {}}}, {{\"field\": \"@log\", \"value\": \"123456789012:/ecs/payments\"}}, {{\"field\": \"@logStream\", \"value\": \"payments/{}\"}}]",
            t.format("%Y-%m-%d %H:%M:%S%.3f"),
            serde_json::to_string(&msg).unwrap_or_default(),
            i % 4
        );
    }
    out.push_str("], \"status\": \"Complete\"}");
    out
}

/// Firehose-delivered CloudWatch Logs subscription records, 100 events per record.
pub fn firehose(seed: u64, n: usize, start_ms: i64) -> String {
    let mut rng = Rng::new(seed);
    let mut buf = String::new();
    let mut out = String::new();
    let mut i = 0;
    while i < n {
        out.push_str("{\"messageType\": \"DATA_MESSAGE\", \"owner\": \"123456789012\", \"logGroup\": \"/ecs/checkout-api\", \"logStream\": \"checkout/1\", \"subscriptionFilters\": [\"to-s3\"], \"logEvents\": [");
        for j in 0..100.min(n - i) {
            message(&mut rng, &mut buf);
            if j > 0 {
                out.push_str(", ");
            }
            let _ = write!(
                out,
                "{{\"id\": \"{i}\", \"timestamp\": {}, \"message\": {}}}",
                start_ms + i as i64 * 100,
                serde_json::to_string(&buf).unwrap_or_default()
            );
            i += 1;
        }
        out.push_str("]}");
    }
    out
}

/// `aws xray get-trace-summaries` output with `n` summaries, 1 in 10 with a fault root cause.
pub fn trace_summaries(seed: u64, n: usize, start_epoch: i64) -> String {
    let mut rng = Rng::new(seed);
    let mut out = String::from("{\"TraceSummaries\": [");
    for i in 0..n {
        if i > 0 {
            out.push_str(", ");
        }
        let fault = rng.below(10) == 0;
        let causes = if fault {
            "[{\"Services\": [{\"Name\": \"DynamoDB\", \"Type\": \"remote\", \"EntityPath\": [{\"Name\": \"orders-fn\", \"Exceptions\": [], \"Remote\": false}, {\"Name\": \"DynamoDB\", \"Exceptions\": [{\"Name\": \"ProvisionedThroughputExceededException\", \"Message\": \"exceeded\"}], \"Remote\": true}]}], \"ClientImpacting\": true}]"
        } else {
            "[]"
        };
        let _ = write!(
            out,
            "{{\"Id\": \"1-{:08x}-{:024x}\", \"StartTime\": {}.{:03}, \"Duration\": 0.0{}, \"ResponseTime\": 0.0{}, \"HasFault\": {fault}, \"HasError\": false, \"HasThrottle\": false, \"Http\": {{\"HttpURL\": \"https://shop.example.com/api/orders\", \"HttpStatus\": {}, \"HttpMethod\": \"POST\"}}, \"ServiceIds\": [{{\"Name\": \"orders-fn\"}}], \"EntryPoint\": {{\"Name\": \"orders-fn\"}}, \"FaultRootCauses\": {causes}, \"ErrorRootCauses\": []}}",
            start_epoch + i as i64,
            rng.next_u64() as u128,
            start_epoch + i as i64,
            rng.below(1000),
            rng.below(100),
            rng.below(100),
            if fault { 500 } else { 200 }
        );
    }
    out.push_str("]}");
    out
}

/// `aws cloudwatch get-metric-data` output: `series` series of `points` one-minute points.
pub fn metric_data(seed: u64, series: usize, points: usize, start_epoch: i64) -> String {
    let mut rng = Rng::new(seed);
    let mut out = String::from("{\"MetricDataResults\": [");
    for s in 0..series {
        if s > 0 {
            out.push_str(", ");
        }
        let stamps: Vec<String> = (0..points)
            .map(|p| {
                format!(
                    "\"{}\"",
                    fa2_core::time::rfc3339(
                        fa2_core::time::from_millis((start_epoch + p as i64 * 60) * 1000)
                            .unwrap_or_default()
                    )
                )
            })
            .collect();
        let values: Vec<String> = (0..points)
            .map(|_| format!("{}.5", rng.below(100)))
            .collect();
        let _ = write!(
            out,
            "{{\"Id\": \"m{s}\", \"Label\": \"Metric{s}\", \"Timestamps\": [{}], \"Values\": [{}], \"StatusCode\": \"Complete\"}}",
            stamps.join(", "),
            values.join(", ")
        );
    }
    out.push_str("], \"Messages\": []}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generators_are_deterministic_and_parseable() {
        assert_eq!(messages(7, 50), messages(7, 50));
        assert_eq!(messages(7, 50).lines().count(), 50);
        let alb = alb_log(1, 3, 1_723_807_140, 1);
        assert_eq!(alb.lines().count(), 3);
        assert!(alb.starts_with("https 2024-08-16T11:19:00.000Z"));
        assert!(filter_log_events(1, 3, 0).ends_with("]}"));
    }
}
