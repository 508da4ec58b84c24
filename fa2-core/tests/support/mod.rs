//! Test support: a real moto server (the AWS API emulator, installed into the workspace's
//! `.venv` by `scripts/test`) on a free loopback port, stopped when dropped; and the Logs
//! Insights stand-in that runs the query language moto does not, in front of it.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto server.
pub struct Moto {
    child: Child,
    pub port: u16,
    pub endpoint: String,
}

fn moto_binary() -> PathBuf {
    if let Ok(p) = std::env::var("FA2_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    root.join(".venv/bin/moto_server")
}

impl Moto {
    /// Starts moto on a free port and waits until it answers.
    pub fn start() -> Moto {
        let bin = moto_binary();
        assert!(
            bin.exists(),
            "moto_server not found at {}: run scripts/test (it installs moto[server] into .venv) or set FA2_MOTO_SERVER",
            bin.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let moto = Moto {
            child,
            port,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if moto.request("GET", "/moto-api/", "").0 == 200 {
                return moto;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("moto did not answer on port {port} within 30 s");
    }

    /// A plain HTTP/1.0 request to moto (its own API); returns status and body.
    pub fn request(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        http_request(self.port, method, path, body)
    }

    /// SDK configuration pointing every service at this server.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        sdk_config_for(&self.endpoint).await
    }
}

/// A plain HTTP/1.0 request to a loopback port; returns status and body.
pub fn http_request(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let req = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if s.write_all(req.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// SDK configuration pointing every service at `endpoint` with test credentials.
pub async fn sdk_config_for(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_cloudwatchlogs::config::Credentials::new(
            "AKIATESTTESTTESTTEST",
            "testsecret",
            None,
            None,
            "fa2-tests",
        ))
        .load()
        .await
}

/// The Logs Insights stand-in (`support/logs_insights_standin.py`) in front of a moto server:
/// it runs the Insights queries fa2 sends (`filter`, `stats count(*) by @log, bin()`,
/// `pattern`, ...) over the events stored in moto and forwards every other request to moto.
pub struct LogsStandin {
    child: Child,
    pub endpoint: String,
}

impl LogsStandin {
    /// Starts the stand-in on a free port in front of `moto` and waits until it answers.
    pub fn start(moto: &Moto) -> LogsStandin {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let script = root.join("tests/support/logs_insights_standin.py");
        let venv = root.join("../.venv/bin/python");
        let python = if venv.exists() {
            venv
        } else {
            PathBuf::from("python3")
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&python)
            .arg(&script)
            .args(["--port", &port.to_string(), "--upstream", &moto.endpoint])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", script.display()));
        let standin = LogsStandin {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            // Forwarded to moto: the stand-in and moto both answer.
            if http_request(port, "GET", "/moto-api/", "").0 == 200 {
                return standin;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the Logs Insights stand-in did not answer on port {port} within 30 s");
    }

    /// SDK configuration pointing every service at the stand-in (and so at moto).
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        sdk_config_for(&self.endpoint).await
    }
}

impl Drop for LogsStandin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Athena stand-in (`athena_standin.py`, beside this file): it answers the Athena API by
/// running the SQL in DuckDB over the tables and objects held by a moto server (Glue and S3),
/// and forwards every other request to that moto. Point the SDK at [`AthenaStandin::endpoint`].
pub struct AthenaStandin {
    child: Child,
    /// Keeps the stand-in alive: it exits when its stdin closes.
    _stdin: std::process::ChildStdin,
    pub port: u16,
    pub endpoint: String,
    moto_endpoint: String,
}

fn standin_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/athena_standin.py")
}

fn venv_python() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python")
}

impl AthenaStandin {
    /// Starts the stand-in in front of `moto` and waits for its `ready` line.
    pub fn start(moto: &Moto) -> AthenaStandin {
        use std::io::BufRead;
        let python = venv_python();
        assert!(
            python.exists(),
            "{} not found: run scripts/test (it installs moto, duckdb and sqlglot into .venv)",
            python.display()
        );
        let mut child = Command::new(&python)
            .arg(standin_script())
            .args(["--port", "0", "--moto", &moto.endpoint])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the Athena stand-in: {e}"));
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line
            .trim()
            .strip_prefix("ready ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the Athena stand-in said {line:?} instead of `ready PORT`"));
        AthenaStandin {
            child,
            _stdin: stdin,
            port,
            endpoint: format!("http://127.0.0.1:{port}"),
            moto_endpoint: moto.endpoint.clone(),
        }
    }

    /// Creates a documented table (`alb_projected`, `alb_hive`, `cloudtrail_projected`) in
    /// moto's Glue and uploads `files` (`(day "yyyy/MM/dd", local path)`) under its location.
    pub fn seed(
        &self,
        kind_and_name: &str,
        database: &str,
        bucket: &str,
        files: &[(&str, PathBuf)],
    ) {
        let mut cmd = Command::new(venv_python());
        cmd.arg(standin_script())
            .args([
                "--moto",
                &self.moto_endpoint,
                "seed",
                "--table",
                kind_and_name,
            ])
            .args(["--database", database, "--bucket", bucket, "--gzip"]);
        for (day, path) in files {
            cmd.arg("--file").arg(format!("{day}={}", path.display()));
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "seed failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Every query the stand-in ran, as it reports them (`GET /standin/queries`).
    pub fn queries(&self) -> Vec<serde_json::Value> {
        let fake = http_request(self.port, "GET", "/standin/queries", "");
        assert_eq!(fake.0, 200, "{}", fake.1);
        serde_json::from_str(&fake.1).unwrap()
    }

    /// Forgets the queries run so far.
    pub fn reset(&self) {
        let r = http_request(self.port, "POST", "/standin/reset", "");
        assert_eq!(r.0, 200, "{}", r.1);
    }
}

impl Drop for AthenaStandin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
