//! A small closed-loop HTTP/1.1 load generator: a fixed number of kept-alive
//! connections, each sending its next request as soon as the previous answer
//! is read, until a deadline or a request budget runs out.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Builds request number `seq` (raw bytes of one HTTP/1.1 request).
pub type RequestFn = dyn Fn(u64) -> Vec<u8> + Send + Sync;

/// How one load ran.
#[derive(Debug, Default)]
pub struct LoadResult {
    pub elapsed: Duration,
    /// Answers with the expected status.
    pub ok: u64,
    /// Anything else: another status, or a broken connection.
    pub errors: u64,
    pub statuses: BTreeMap<String, u64>,
    /// Latency of every answered request, in microseconds.
    pub latencies_us: Vec<u32>,
    /// (request number, when its expected answer was read).
    pub completions: Vec<(u64, Instant)>,
    /// Share of the machine's CPU time (all cores, every process) that was
    /// busy during the load, 0..=1; NaN where /proc/stat cannot be read.
    pub cpu_busy: f64,
    /// CPU used during the load by each kind of thread of this process (by
    /// thread name), and by `other processes` (PostgreSQL, anything else),
    /// in cores (1.0 = one core all the time).
    pub cpu_cores_by_part: BTreeMap<String, f64>,
}

/// Clock ticks per second of /proc (USER_HZ; 100 on Linux).
const TICKS_PER_S: f64 = 100.0;

/// CPU ticks used so far by the threads of this process, by thread name
/// (numbered names counted together).
fn thread_ticks() -> BTreeMap<String, u64> {
    let mut ticks = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return ticks;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ... utime stime: fields 14 and 15, counted after
        // the name, which may itself hold spaces.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close]
            .trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '#')
            .to_string();
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let used: u64 = [11, 12]
            .iter()
            .filter_map(|i| fields.get(*i)?.parse::<u64>().ok())
            .sum();
        *ticks.entry(name).or_default() += used;
    }
    ticks
}

/// What `cpu_cores_by_part` reports: the threads' use between two readings
/// and, from the machine's busy time, what other processes used.
fn cores_by_part(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
    machine_busy_ticks: Option<u64>,
    elapsed: Duration,
) -> BTreeMap<String, f64> {
    let seconds = elapsed.as_secs_f64().max(1e-9);
    let mut parts = BTreeMap::new();
    let mut own = 0;
    for (name, ticks) in after {
        let used = ticks.saturating_sub(*before.get(name).unwrap_or(&0));
        own += used;
        if used > 0 {
            parts.insert(name.clone(), used as f64 / TICKS_PER_S / seconds);
        }
    }
    if let Some(busy) = machine_busy_ticks {
        parts.insert(
            "other processes".to_string(),
            busy.saturating_sub(own) as f64 / TICKS_PER_S / seconds,
        );
    }
    parts
}

/// (busy, total) CPU time of the whole machine so far, in clock ticks.
fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    let total: u64 = ticks.iter().take(8).sum();
    // idle and iowait are the 4th and 5th fields.
    let idle = ticks.get(3)? + ticks.get(4).unwrap_or(&0);
    Some((total - idle, total))
}

impl LoadResult {
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `p`-th percentile latency in milliseconds (`p` in 0..=100).
    pub fn percentile_ms(&self, p: f64) -> f64 {
        percentile_ms(&self.latencies_us, p)
    }
}

pub fn percentile_ms(samples_us: &[u32], p: f64) -> f64 {
    if samples_us.is_empty() {
        return f64::NAN;
    }
    let mut sorted = samples_us.to_vec();
    sorted.sort_unstable();
    let rank = ((p / 100.0) * (sorted.len() as f64)).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    sorted[index] as f64 / 1000.0
}

/// What a load does.
pub struct LoadPlan {
    /// Servers; connection `i` goes to `targets[i % len]` (round robin).
    pub targets: Vec<SocketAddr>,
    pub connections: usize,
    pub duration: Duration,
    pub max_requests: u64,
    pub expected_status: u16,
    pub request: Arc<RequestFn>,
    /// `Some(rate)`: an open-loop load of `rate` requests per second in all
    /// (each connection sends on its own fixed schedule) instead of as fast
    /// as answers come back.
    pub rate: Option<f64>,
}

struct ConnectionResult {
    ok: u64,
    errors: u64,
    statuses: BTreeMap<String, u64>,
    latencies_us: Vec<u32>,
    completions: Vec<(u64, Instant)>,
}

pub async fn run(plan: LoadPlan) -> anyhow::Result<LoadResult> {
    let next = Arc::new(AtomicU64::new(0));
    let ticks_before = cpu_ticks();
    let threads_before = thread_ticks();
    let start = Instant::now();
    let deadline = start + plan.duration;
    let mut tasks = Vec::with_capacity(plan.connections);
    for index in 0..plan.connections {
        let target = plan.targets[index % plan.targets.len()];
        let next = next.clone();
        let request = plan.request.clone();
        let max = plan.max_requests;
        let expected = plan.expected_status;
        // Connection i sends at start + offset_i + k * interval.
        let pace = plan.rate.filter(|r| *r > 0.0).map(|rate| {
            let interval = Duration::from_secs_f64(plan.connections as f64 / rate);
            (
                interval,
                interval.mul_f64(index as f64 / plan.connections as f64),
            )
        });
        tasks.push(tokio::spawn(async move {
            drive(target, next, request, max, expected, deadline, start, pace).await
        }));
    }
    let mut result = LoadResult::default();
    for task in tasks {
        let one = task.await?;
        result.ok += one.ok;
        result.errors += one.errors;
        for (status, count) in one.statuses {
            *result.statuses.entry(status).or_default() += count;
        }
        result.latencies_us.extend(one.latencies_us);
        result.completions.extend(one.completions);
    }
    result.elapsed = start.elapsed();
    let ticks_after = cpu_ticks();
    let threads_after = thread_ticks();
    result.cpu_busy = match (ticks_before, ticks_after) {
        (Some((busy0, total0)), Some((busy1, total1))) if total1 > total0 => {
            (busy1 - busy0) as f64 / (total1 - total0) as f64
        }
        _ => f64::NAN,
    };
    let machine_busy = match (ticks_before, ticks_after) {
        (Some((busy0, _)), Some((busy1, _))) => Some(busy1.saturating_sub(busy0)),
        _ => None,
    };
    result.cpu_cores_by_part = cores_by_part(
        &threads_before,
        &threads_after,
        machine_busy,
        result.elapsed,
    );
    Ok(result)
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    target: SocketAddr,
    next: Arc<AtomicU64>,
    request: Arc<RequestFn>,
    max: u64,
    expected: u16,
    deadline: Instant,
    start: Instant,
    pace: Option<(Duration, Duration)>,
) -> ConnectionResult {
    let mut out = ConnectionResult {
        ok: 0,
        errors: 0,
        statuses: BTreeMap::new(),
        latencies_us: Vec::new(),
        completions: Vec::new(),
    };
    let mut stream: Option<TcpStream> = None;
    let mut buffer = Vec::with_capacity(64 * 1024);
    let mut sends = 0u32;
    while Instant::now() < deadline {
        if let Some((interval, offset)) = pace {
            let due = start + offset + interval * sends;
            sends += 1;
            if due >= deadline {
                break;
            }
            tokio::time::sleep_until(due.into()).await;
        }
        let seq = next.fetch_add(1, Ordering::Relaxed);
        if seq >= max {
            break;
        }
        let bytes = request(seq);
        if stream.is_none() {
            match TcpStream::connect(target).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    stream = Some(s);
                }
                Err(_) => {
                    out.errors += 1;
                    *out.statuses.entry("connect".into()).or_default() += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        let Some(conn) = stream.as_mut() else {
            continue;
        };
        let sent = Instant::now();
        match exchange(conn, &bytes, &mut buffer).await {
            Ok((status, keep_alive)) => {
                let done = Instant::now();
                out.latencies_us
                    .push((done - sent).as_micros().min(u32::MAX as u128) as u32);
                *out.statuses.entry(status.to_string()).or_default() += 1;
                if status == expected {
                    out.ok += 1;
                    out.completions.push((seq, done));
                } else {
                    out.errors += 1;
                }
                if !keep_alive {
                    stream = None;
                }
            }
            Err(_) => {
                out.errors += 1;
                *out.statuses.entry("io".into()).or_default() += 1;
                stream = None;
            }
        }
    }
    out
}

/// Sends one request and reads its whole answer; (status, keep-alive).
async fn exchange(
    stream: &mut TcpStream,
    request: &[u8],
    buffer: &mut Vec<u8>,
) -> std::io::Result<(u16, bool)> {
    stream.write_all(request).await?;
    buffer.clear();
    let head_end = loop {
        if let Some(end) = find(buffer, b"\r\n\r\n") {
            break end + 4;
        }
        read_more(stream, buffer).await?;
    };
    let head = std::str::from_utf8(&buffer[..head_end])
        .map_err(|_| std::io::Error::other("non-UTF-8 head"))?
        .to_ascii_lowercase();
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status"))?;
    let keep_alive = !head.contains("\r\nconnection: close");
    let header = |name: &str| {
        head.split("\r\n")
            .find_map(|line| line.strip_prefix(name).map(|v| v.trim().to_string()))
    };
    if let Some(length) = header("content-length:").and_then(|v| v.parse::<usize>().ok()) {
        while buffer.len() < head_end + length {
            read_more(stream, buffer).await?;
        }
    } else if header("transfer-encoding:").is_some_and(|v| v.contains("chunked")) {
        while find(&buffer[head_end..], b"0\r\n\r\n").is_none() {
            read_more(stream, buffer).await?;
        }
    }
    Ok((status, keep_alive))
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> std::io::Result<()> {
    let mut chunk = [0u8; 16 * 1024];
    let n = stream.read(&mut chunk).await?;
    if n == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    buffer.extend_from_slice(&chunk[..n]);
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// One GET request.
pub fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n")
        .into_bytes()
}

/// One POST request with a JSON body and an `Idempotency-Key`, as a client
/// that retries safely sends it.
pub fn post_json_keyed(path: &str, body: &str, key: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Accept: application/json\r\nIdempotency-Key: {key}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// One request on a fresh connection, returning (status, body).
pub async fn fetch(target: SocketAddr, request: &[u8]) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect(target).await?;
    let mut buffer = Vec::new();
    let (status, _) = exchange(&mut stream, request, &mut buffer).await?;
    let head_end = find(&buffer, b"\r\n\r\n").map(|e| e + 4).unwrap_or(0);
    Ok((
        status,
        String::from_utf8_lossy(&buffer[head_end..]).into_owned(),
    ))
}
