//! A synthetic log file mixing many formats, as a user's export really is: syslog, ISO and
//! log4j application lines, JSON lines, web access logs, Lambda platform and runtime lines,
//! VPC Flow Logs, load balancer entries, stack trace frames, API Gateway execution lines and
//! Loghub-like system messages, interleaved line by line.
//!
//! The shapes are written for this benchmark (none is copied from a data set); every variable
//! is filled from a seeded PRNG so that the miner cannot live on exact-line cache hits and
//! runs stay comparable.

use crate::Rng;
use std::fmt::Write;

/// Line shapes, whole lines with their headers. Placeholders: `{n}` number, `{f}` decimal,
/// `{ip}` IPv4, `{h}` hex id, `{id}` UUID, `{w}` name word, `{lvl}` log level,
/// `{iso}` ISO 8601 time, `{sys}` syslog time, `{clf}` access-log time, `{ep}` epoch seconds,
/// `{path}` URL path, `{st}` HTTP status.
const SHAPES: &[&str] = &[
    // syslog
    "{sys} ip-10-0-{n}-{n} sshd[{n}]: Accepted publickey for {w} from {ip} port {n} ssh2",
    "{sys} ip-10-0-{n}-{n} sshd[{n}]: Invalid user {w} from {ip} port {n}",
    "{sys} ip-10-0-{n}-{n} kernel: [{f}] Out of memory: Killed process {n} ({w}) total-vm:{n}kB",
    "{sys} ip-10-0-{n}-{n} systemd[1]: Started Session {n} of user {w}.",
    "{sys} ip-10-0-{n}-{n} CRON[{n}]: ({w}) CMD (/usr/local/bin/{w}.sh --verbose)",
    // ISO application logs
    "{iso} {lvl} [worker-{n}] OrderService - processed order {n} for customer {w} in {n}ms",
    "{iso} {lvl} [http-nio-8080-exec-{n}] c.e.PaymentClient - call to {ip}:{n} failed after {n} retries",
    "{iso} {lvl} [main] c.e.Cache - evicted {n} entries, size now {n} ({f} MB)",
    // log4j
    "{iso} {lvl} [pool-{n}-thread-{n}] com.example.jobs.Scheduler: job {w}-{n} finished in {f}s",
    // JSON lines
    "{\"timestamp\":\"{iso}\",\"level\":\"{lvl}\",\"message\":\"payment declined for order {n}\",\"requestId\":\"{id}\"}",
    "{\"time\":{ep},\"level\":\"{lvl}\",\"msg\":\"cache miss\",\"key\":\"user:{n}\",\"latency_ms\":{f}}",
    // web access logs (common/combined)
    "{ip} - - [{clf}] \"GET {path} HTTP/1.1\" {st} {n} \"-\" \"curl/8.{n}.0\"",
    "{ip} - {w} [{clf}] \"POST {path} HTTP/1.1\" {st} {n} \"https://example.com/\" \"Mozilla/5.0\"",
    // Lambda platform and runtime lines
    "START RequestId: {id} Version: $LATEST",
    "END RequestId: {id}",
    "REPORT RequestId: {id}\tDuration: {f} ms\tBilled Duration: {n} ms\tMemory Size: 128 MB\tMax Memory Used: {n} MB",
    "{iso}\t{id}\t{lvl}\tInvoke Error: timeout calling table {w} after {n} ms",
    "{iso} {id} Task timed out after {f} seconds",
    // VPC Flow Logs (version 2 fields)
    "2 123456789012 eni-{h} {ip} {ip} {n} {n} 6 {n} {n} {ep} {ep} REJECT OK",
    "2 123456789012 eni-{h} {ip} {ip} {n} {n} 17 {n} {n} {ep} {ep} ACCEPT OK",
    // load balancer entry
    "https {iso} app/my-alb/{h} {ip}:{n} {ip}:{n} {f} {f} {f} {st} {st} {n} {n} \"GET https://shop.example.com:443{path} HTTP/1.1\" \"curl/8.0\" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2",
    // stack trace frames and exceptions
    "\tat com.example.orders.OrderRepository.save(OrderRepository.java:{n})",
    "\tat java.base/java.util.concurrent.ThreadPoolExecutor.runWorker(ThreadPoolExecutor.java:{n})",
    "java.net.SocketTimeoutException: Read timed out after {n} ms",
    "  File \"/var/task/handler.py\", line {n}, in {w}",
    // API Gateway execution log
    "{sys} : Method request path: {path}",
    "{sys} : Endpoint response status: {st}, integration latency: {n} ms",
    // Loghub-like system messages
    "Receiving block blk_{n} src: /{ip}:{n} dest: /{ip}:{n}",
    "PacketResponder {n} for block blk_{n} terminating",
    "Finished task {n}.0 in stage {n}.0 (TID {n}). {n} bytes result sent to driver",
    "Expiring session 0x{h}, timeout of {n}ms exceeded",
    "instruction cache parity error corrected",
];

const WORDS: &[&str] = &[
    "alice", "bob", "carol", "deploy", "backup", "orders", "billing", "search", "ingest",
    "reports", "admin", "ubuntu",
];
const LEVELS: &[&str] = &["INFO", "WARN", "ERROR", "DEBUG"];
const STATUSES: &[&str] = &["200", "201", "304", "400", "404", "500", "502", "503"];
const MONTHS: &[&str] = &[
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn pick<'a>(rng: &mut Rng, xs: &[&'a str]) -> &'a str {
    xs[rng.below(xs.len() as u64) as usize]
}

/// Writes one line of a random shape into `out` (cleared first).
pub fn mixed_line(rng: &mut Rng, out: &mut String) {
    out.clear();
    let mut rest = SHAPES[rng.below(SHAPES.len() as u64) as usize];
    while let Some(i) = rest.find('{') {
        let Some(len) = rest[i..].find('}').map(|j| j + 1) else {
            break;
        };
        let ph = &rest[i..i + len];
        // JSON braces are literal text, not placeholders.
        if ph.contains('"') || ph.contains(':') {
            out.push_str(&rest[..=i]);
            rest = &rest[i + 1..];
            continue;
        }
        out.push_str(&rest[..i]);
        let _ = match ph {
            "{n}" => write!(out, "{}", rng.below(60_000)),
            "{f}" => write!(out, "{}.{:02}", rng.below(5000), rng.below(100)),
            "{ip}" => write!(
                out,
                "10.{}.{}.{}",
                rng.below(256),
                rng.below(256),
                rng.below(256)
            ),
            "{h}" => write!(out, "{:012x}", rng.next_u64() >> 16),
            "{id}" => {
                let (a, b) = (rng.next_u64(), rng.next_u64());
                write!(
                    out,
                    "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
                    a >> 32,
                    (a >> 16) & 0xffff,
                    a & 0xfff,
                    b >> 52,
                    b & 0xffff_ffff_ffff
                )
            }
            "{w}" => write!(out, "{}", pick(rng, WORDS)),
            "{lvl}" => write!(out, "{}", pick(rng, LEVELS)),
            "{st}" => write!(out, "{}", pick(rng, STATUSES)),
            "{iso}" => write!(
                out,
                "2024-08-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                1 + rng.below(28),
                rng.below(24),
                rng.below(60),
                rng.below(60),
                rng.below(1000)
            ),
            "{sys}" => write!(
                out,
                "{} {:2} {:02}:{:02}:{:02}",
                pick(rng, MONTHS),
                1 + rng.below(28),
                rng.below(24),
                rng.below(60),
                rng.below(60)
            ),
            "{clf}" => write!(
                out,
                "{:02}/{}/2024:{:02}:{:02}:{:02} +0000",
                1 + rng.below(28),
                pick(rng, MONTHS),
                rng.below(24),
                rng.below(60),
                rng.below(60)
            ),
            "{ep}" => write!(out, "{}", 1_722_000_000 + rng.below(1_000_000)),
            "{path}" => write!(
                out,
                "/api/{}/{}?page={}",
                pick(rng, WORDS),
                rng.below(100_000),
                rng.below(50)
            ),
            _ => write!(out, "{ph}"),
        };
        rest = &rest[i + len..];
    }
    out.push_str(rest);
}

/// `n` mixed-format lines, newline-terminated.
pub fn mixed_lines(seed: u64, n: usize) -> String {
    let mut rng = Rng::new(seed);
    let mut text = String::with_capacity(n * 110);
    let mut line = String::new();
    for _ in 0..n {
        mixed_line(&mut rng, &mut line);
        text.push_str(&line);
        text.push('\n');
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_filled_and_deterministic() {
        let a = mixed_lines(7, 2000);
        assert_eq!(a, mixed_lines(7, 2000));
        assert_eq!(a.lines().count(), 2000);
        assert!(!a.contains("{n}") && !a.contains("{ip}") && !a.contains("{iso}"));
        // JSON lines keep their braces.
        assert!(
            a.lines()
                .any(|l| l.starts_with("{\"timestamp\":\"2024-08-"))
        );
        // Every shape shows up in a few thousand lines.
        let starts = [
            "START RequestId: ",
            "2 123456789012 eni-",
            "\tat com.example",
        ];
        for s in starts {
            assert!(a.lines().any(|l| l.starts_with(s)), "{s}");
        }
    }
}
