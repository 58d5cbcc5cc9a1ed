//! The load benchmark of issue 7: starts the service in-process on loopback
//! (SQLite in a temp file, then a fresh PostgreSQL database), an SMTP sink,
//! and same-run baselines, runs bounded loads and prints every figure as a
//! ratio against its baseline, plus a JSON summary. `--write-markdown`
//! writes `BENCHMARKS.md` at the repository root.

mod baseline;
mod load;
mod seed;
mod statements;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use chrono::{Datelike, Duration as Days, NaiveDate, Utc, Weekday};
use chrono_tz_free::tokyo_today;
use clinic_booking::configuration::Settings;
use clinic_booking::startup::{open_database, Application};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use serde_json::{json, Value};
use smtp_sink::SmtpSink;

use load::{LoadPlan, LoadResult};

/// The clinic's date without pulling chrono-tz in: Tokyo has no DST.
mod chrono_tz_free {
    use chrono::{Duration, NaiveDate, Utc};
    pub fn tokyo_today() -> NaiveDate {
        (Utc::now() + Duration::hours(9)).date_naive()
    }
}

struct Options {
    quick: bool,
    write_markdown: bool,
    postgres_url: Option<String>,
    connections: usize,
    duration: Duration,
    seed: u64,
    mail_wait: Duration,
    pg_scale: bool,
    sqlite: bool,
}

impl Options {
    fn parse() -> anyhow::Result<Options> {
        let mut options = Options {
            quick: false,
            write_markdown: false,
            // Loopback without TLS, as a deployment with the database on
            // the same host runs it.
            postgres_url: Some(
                "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable".into(),
            ),
            connections: 64,
            duration: Duration::from_secs(8),
            seed: 1_000_000,
            mail_wait: Duration::from_secs(30),
            pg_scale: true,
            sqlite: true,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => {
                    options.quick = true;
                    options.duration = Duration::from_secs(2);
                    options.seed = 50_000;
                    options.mail_wait = Duration::from_secs(15);
                }
                "--write-markdown" => options.write_markdown = true,
                "--no-postgres" => options.postgres_url = None,
                "--no-pg-scale" => options.pg_scale = false,
                "--no-sqlite" => options.sqlite = false,
                "--postgres" => options.postgres_url = args.next(),
                "--seconds" => {
                    options.duration =
                        Duration::from_secs_f64(args.next().context("--seconds N")?.parse()?)
                }
                "--seed" => options.seed = args.next().context("--seed N")?.parse()?,
                "--help" | "-h" => {
                    println!(
                        "clinic-booking-bench [--quick] [--write-markdown] [--seconds N] [--seed N]\n\
                         \x20                    [--postgres URL | --no-postgres] [--no-pg-scale]\n\
                         \x20                    [--no-sqlite]"
                    );
                    std::process::exit(0);
                }
                other => return Err(anyhow!("unknown argument {other:?} (try --help)")),
            }
        }
        // BENCHMARKS.md holds one run's figures for every target; a partial
        // run would drop the others from it.
        if options.write_markdown
            && (!options.sqlite || options.postgres_url.is_none() || !options.pg_scale)
        {
            return Err(anyhow!(
                "--write-markdown records every target, so it runs every phase: \
                 leave out --no-sqlite, --no-postgres and --no-pg-scale"
            ));
        }
        Ok(options)
    }
}

/// Bookable slot starts (RFC 3339, clinic time): every 30 minutes from
/// 10:00 to 18:00 on every day but Sunday, from two days ahead on, so no
/// reminder is due during the run. Each load takes slots nobody else uses.
struct SlotSupply {
    slots: Vec<String>,
    next: usize,
}

impl SlotSupply {
    fn new(window_days: i64) -> SlotSupply {
        let first = tokyo_today() + Days::days(2);
        let mut slots = Vec::new();
        for offset in 0..window_days - 3 {
            let day: NaiveDate = first + Days::days(offset);
            if day.weekday() == Weekday::Sun {
                continue;
            }
            for k in 0..17 {
                let minutes = 600 + 30 * k;
                slots.push(format!(
                    "{day}T{:02}:{:02}:00+09:00",
                    minutes / 60,
                    minutes % 60
                ));
            }
        }
        SlotSupply { slots, next: 0 }
    }

    /// One booking load's share of the slots.
    fn share(&mut self) -> Arc<Vec<String>> {
        self.take(self.slots.len() / LOAD_SHARES)
    }

    /// Half a share: a PostgreSQL booking load books a fraction of what a
    /// SQLite one does in the same time.
    fn half_share(&mut self) -> Arc<Vec<String>> {
        self.take(self.slots.len() / LOAD_SHARES / 2)
    }

    fn take(&mut self, count: usize) -> Arc<Vec<String>> {
        let end = (self.next + count).min(self.slots.len());
        let taken = self.slots[self.next..end].to_vec();
        self.next = end;
        Arc::new(taken)
    }
}

/// Seats per slot, raised so that each load's share of the slots holds
/// enough bookings for a full load (`LOAD_SHARES`).
const CAPACITY: u32 = 8;
/// A booking load takes this share of all slots (1 / LOAD_SHARES): six
/// SQLite turns, nine PostgreSQL turns of half a share and the load with
/// PostgreSQL's history, with room for the rushes.
const LOAD_SHARES: usize = 12;
/// Turns of each SQLite booking load (the one with the median rate counts):
/// within one run the same work per booking took 30 % more CPU in one 8 s
/// load than in the next (BENCHMARKS.md, ninth session), which a single
/// load cannot tell from the service.
const BOOKING_TURNS: usize = 3;
/// Turns of PostgreSQL's booking load on each `Deployment` (the one with
/// the median rate counts, as for `BOOKING_TURNS`).
const INSTANCE_TURNS: usize = 3;
/// PostgreSQL's booking-shaped baselines: how each sends the rows, its
/// name (its figures are `baseline_<name>` in the JSON, the booking's
/// rate over it `booking_one_vs_<name>`), and what the log and the tables
/// call it.
const BOOKING_SHAPED: [(baseline::Shape, &str, &str); 5] = [
    (
        baseline::Shape::PerTable,
        "booking_transaction",
        "booking-shaped transaction",
    ),
    (
        baseline::Shape::WithReads,
        "booking_transaction_with_reads",
        "the same with the booking's reads",
    ),
    (
        baseline::Shape::LockReadsRows,
        "booking_lock_reads_rows",
        "the patient's lock, the reads, the rows: a statement each",
    ),
    (
        baseline::Shape::OneStatement,
        "booking_one_statement",
        "booking-shaped rows in one statement",
    ),
    (
        baseline::Shape::OneStatementWithReads,
        "booking_one_statement_with_reads",
        "the booking's reads and rows in one statement",
    ),
];
/// Bookings a second in the paced rush: a campaign or TV mention far above
/// what one clinic sees, yet below what the service saturates at.
const RUSH_PER_S: f64 = 200.0;
const WINDOW_DAYS: i64 = 3650;
/// Runs of each read-only load (the median one counts).
const READ_RUNS: usize = 3;
/// Turns of each side of a paired read load (the median one counts): the
/// history / empty comparisons are of 1–2 ms p99s, where one scheduler
/// tick (4 ms) in one turn of three moved a side's median.
const PAIRED_TURNS: usize = 5;

fn bench_settings(url: &str, smtp_url: &str, pool_size: u32) -> anyhow::Result<Settings> {
    let mut settings = Settings::defaults()?;
    settings.server.bind = "127.0.0.1:0".into();
    settings.server.public_url = String::new();
    settings.server.workers = 2;
    settings.server.shutdown_grace_seconds = 1;
    settings.database.url = url.to_string().into();
    settings.database.pool_size = pool_size;
    settings.rate_limit.enabled = false;
    // One load generator makes every booking, from one address: as with
    // the rate limit, that is not the burst the watch is for.
    settings.booking.burst_bookings = 0;
    // The seeded history spans decades; the retention purge (a background
    // job with its own schedule) would anonymise it during the loads.
    settings.privacy.retention_days = 0;
    settings.privacy.inquiry_retention_days = 0;
    settings.privacy.open_inquiry_retention_days = 0;
    // One server key for every instance (several share a PostgreSQL
    // database, which needs one configured).
    settings.security.server_key = "bench-server-key-of-at-least-32-characters"
        .to_string()
        .into();
    settings.schedule.capacity_per_slot = CAPACITY;
    settings.schedule.booking_window_days = WINDOW_DAYS;
    settings.mail.smtp_url = smtp_url.to_string();
    // The loads send thousands of messages a minute to the bench's own
    // sink; the clinic's hourly cap on outgoing mail would hold them back.
    settings.mail.max_per_hour = 0;
    if let Some(deliveries) = std::env::var("BENCH_CONCURRENT_DELIVERIES")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        settings.mail.concurrent_deliveries = deliveries;
    }
    settings.mail.file_dir = std::env::temp_dir()
        .join("clinic-booking-bench-mail")
        .display()
        .to_string();
    Ok(settings)
}

/// One instance of the service, on its own threads and its own tokio
/// runtime as in production (`#[tokio::main]` in its own process): its mail
/// worker must not queue behind the load generator's tasks on the bench's
/// runtime.
struct Running {
    address: SocketAddr,
    handle: actix_web::dev::ServerHandle,
    thread: std::thread::JoinHandle<()>,
}

impl Running {
    async fn start(settings: Settings) -> anyhow::Result<Running> {
        let (started, ready) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("service".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .thread_name("service-rt")
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = started.send(Err(anyhow::Error::from(error)));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match Application::build(settings).await {
                        Ok(app) => {
                            let _ = started.send(Ok((app.port(), app.handle())));
                            let _ = app.run_until_stopped().await;
                        }
                        Err(error) => {
                            let _ = started.send(Err(error));
                        }
                    }
                });
            })?;
        let (port, handle) = ready.await.context("the service thread ended")??;
        Ok(Running {
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            handle,
            thread,
        })
    }

    async fn stop(self) {
        self.handle.stop(true).await;
        let _ = tokio::task::spawn_blocking(move || self.thread.join()).await;
    }
}

fn availability_path() -> String {
    let from = tokyo_today() + Days::days(3);
    format!(
        "/api/v1/availability?from={from}&to={}",
        from + Days::days(6)
    )
}

/// 7-day windows starting on every date of the booking window in turn (as
/// patients browsing different weeks ask them), of the default type or
/// `kind`: each request the next start date, so the 64 connections ask 64
/// different weeks at any moment.
fn spread_request(kind: Option<&str>) -> Arc<load::RequestFn> {
    let first = tokyo_today();
    let starts = (WINDOW_DAYS - 6).max(1) as u64;
    let kind = kind.map(|k| format!("&type={k}")).unwrap_or_default();
    Arc::new(move |seq: u64| {
        let from = first + Days::days((seq % starts) as i64);
        load::get(&format!(
            "/api/v1/availability?from={from}&to={}{kind}",
            from + Days::days(6)
        ))
    })
}

fn booking_email(tag: &str, seq: u64) -> String {
    format!("p{seq}.{tag}@example.jp")
}

/// Requests a booking load may make on its slots: every seat of each, one
/// pass over the slots per seat (request `n` goes to slot `n % len`), so no
/// slot is ever asked for more seats than it has and every answer should
/// be 201.
fn seat_budget(slots: &[String]) -> u64 {
    slots.len() as u64 * u64::from(CAPACITY)
}

/// Bookings of `slots` in turn, each with its own Idempotency-Key (so each
/// stores the answer to a retry, as a client that retries safely has it).
fn booking_request(tag: &'static str, slots: Arc<Vec<String>>) -> Arc<load::RequestFn> {
    typed_booking_request(tag, slots, "consultation")
}

fn typed_booking_request(
    tag: &'static str,
    slots: Arc<Vec<String>>,
    kind: &'static str,
) -> Arc<load::RequestFn> {
    Arc::new(move |seq: u64| {
        let start = &slots[(seq as usize) % slots.len().max(1)];
        let body = json!({
            "name": "予約 太郎",
            "name_kana": "ヨヤク タロウ",
            "email": booking_email(tag, seq),
            "phone": "090-1234-5678",
            "start": start,
            "type": kind,
            "first_visit": true,
            "message": "右膝が痛みます。",
            "consent": true,
        });
        load::post_json_keyed(
            "/api/v1/bookings",
            &body.to_string(),
            &format!("{tag}-{seq}"),
        )
    })
}

/// The practitioners and rooms of `config/examples/practitioners.toml`,
/// read as the service reads it from `config/local.toml`: two doctors, a
/// counsellor and two treatment rooms; consultations need the counsellor,
/// stem-cell a doctor and a room (30 minutes' cleaning after, four a day),
/// exosome a doctor and a room.
fn with_example_resources(settings: &mut Settings) -> anyhow::Result<()> {
    let example = Settings::defaults_with(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../config/examples/practitioners.toml"
    )))?;
    settings.resources = example.resources;
    settings.schedule.consultation_types = example.schedule.consultation_types;
    Ok(())
}

/// The first Thursday `weeks_ahead` weeks ahead or later that is no one's
/// day off, 10:00: only Dr. Nakamura works on Thursdays in the example, so
/// a stem-cell treatment then needs the one doctor free.
fn one_doctor_start(settings: &Settings, weeks_ahead: i64) -> String {
    let mut day = tokyo_today() + Days::days(7 * weeks_ahead.max(1));
    let day_off = |day: NaiveDate| {
        let date = day.to_string();
        settings
            .resources
            .iter()
            .any(|r| r.days_off.contains(&date))
    };
    while day.weekday() != Weekday::Thu || day_off(day) {
        day += Days::days(1);
    }
    format!("{day}T10:00:00+09:00")
}

/// Latencies from each 201 to the SMTP sink's acceptance of that patient's
/// confirmation; waits at most `wait` after the load for stragglers.
struct MailLatency {
    delivered_us: Vec<u32>,
    /// Confirmations the sink accepted before the load's last answer.
    delivered_during_load: usize,
    undelivered: usize,
    waited: Duration,
}

impl MailLatency {
    /// Seconds; infinite when the percentile falls on a message that was
    /// not delivered within the wait.
    fn percentile_s(&self, p: f64) -> f64 {
        let mut all: Vec<u32> = self.delivered_us.clone();
        all.extend(std::iter::repeat_n(u32::MAX, self.undelivered));
        let ms = load::percentile_ms(&all, p);
        if ms >= u32::MAX as f64 / 1000.0 {
            f64::INFINITY
        } else {
            ms / 1000.0
        }
    }

    fn p99_s(&self) -> f64 {
        self.percentile_s(99.0)
    }

    fn p50_s(&self) -> f64 {
        self.percentile_s(50.0)
    }

    fn json(&self) -> Value {
        json!({
            "p50_s": finite(self.p50_s()),
            "p99_s": finite(self.p99_s()),
            "p10_s": finite(self.percentile_s(10.0)),
            "delivered": self.delivered_us.len(),
            "delivered_during_load": self.delivered_during_load,
            "undelivered_within_wait": self.undelivered,
            "waited_s": self.waited.as_secs_f64(),
        })
    }
}

fn finite(x: f64) -> Value {
    if x.is_finite() && x < 1e6 {
        json!((x * 1000.0).round() / 1000.0)
    } else {
        Value::Null
    }
}

async fn mail_latency(
    sink: &SmtpSink,
    tag: &str,
    result: &LoadResult,
    wait: Duration,
) -> MailLatency {
    let started = Instant::now();
    let deadline = started + wait;
    loop {
        let missing = result
            .completions
            .iter()
            .filter(|(seq, _)| sink.accepted_at(&booking_email(tag, *seq)).is_none())
            .count();
        if missing == 0 || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut delivered_us = Vec::new();
    let load_end = result.completions.iter().map(|(_, done)| *done).max();
    let mut delivered_during_load = 0;
    let mut undelivered = 0;
    for (seq, done) in &result.completions {
        match sink.accepted_at(&booking_email(tag, *seq)) {
            Some(at) => {
                delivered_us.push(at.saturating_duration_since(*done).as_micros() as u32);
                if load_end.is_some_and(|end| at <= end) {
                    delivered_during_load += 1;
                }
            }
            None => undelivered += 1,
        }
    }
    MailLatency {
        delivered_us,
        delivered_during_load,
        undelivered,
        waited: started.elapsed(),
    }
}

/// What `Bench::spread_against_bare` measured.
struct Spread {
    spread: LoadResult,
    bare: LoadResult,
    body_bytes: usize,
}

/// How a turn of `Bench::instances_in_turns` serves PostgreSQL's booking
/// load: instances started for the turn alone, round robin.
#[derive(Clone, Copy)]
enum Deployment {
    /// One instance with the phase's pool.
    One,
    /// Two, each with the phase's pool: twice the connections.
    TwoFullPools,
    /// Two, each with half of it: as many connections as one instance,
    /// as docs/DEPLOYMENT.md advises.
    TwoHalfPools,
}

impl Deployment {
    const ALL: [Deployment; 3] = [
        Deployment::One,
        Deployment::TwoFullPools,
        Deployment::TwoHalfPools,
    ];

    fn describe(self) -> &'static str {
        match self {
            Deployment::One => "one instance",
            Deployment::TwoFullPools => "two instances round robin, a pool each as one's",
            Deployment::TwoHalfPools => "two instances round robin, pools summing to one's",
        }
    }

    /// The instances' settings, from those of one instance.
    fn instances(self, settings: &Settings) -> Vec<Settings> {
        let mut halved = settings.clone();
        halved.database.pool_size = (settings.database.pool_size / 2).max(1);
        match self {
            Deployment::One => vec![settings.clone()],
            Deployment::TwoFullPools => vec![settings.clone(), settings.clone()],
            Deployment::TwoHalfPools => vec![halved.clone(), halved],
        }
    }
}

/// What `Bench::instances_in_turns` measured of one deployment.
#[derive(Default)]
struct DeploymentTurns {
    turns: Vec<(LoadResult, MailLatency)>,
    /// What its turns sent and wrote.
    work: TurnsWork,
}

impl DeploymentTurns {
    fn booked(&self) -> u64 {
        self.turns.iter().map(|(result, _)| result.ok).sum()
    }
}

/// Statements a kind of turn sent (the requests' own during the loads,
/// the background's and the listeners' until their mail was delivered),
/// and the write transactions PostgreSQL committed meanwhile.
#[derive(Default)]
struct TurnsWork {
    counts: statements::Counts,
    write_transactions: i64,
}

impl TurnsWork {
    /// Per booking, for the JSON summary.
    fn per_booking(&self, bookings: u64) -> Value {
        let per = |n: f64| finite(n / bookings as f64);
        json!({
            "booking_requests": per(self.counts.requests as f64),
            "mail_and_background": per(self.counts.background as f64),
            "schedule_listener": per(self.counts.listener as f64),
            "write_transactions": per(self.write_transactions as f64),
            "prepared_into_cache": self.counts.prepared,
        })
    }
}

/// Booking turns as the JSON summary keeps them.
fn turns_json(turns: &[(LoadResult, MailLatency)]) -> Value {
    json!(turns
        .iter()
        .map(|(result, mail)| {
            json!({
                "requests_per_s": finite(result.rate()),
                "ok": result.ok,
                "errors": result.errors,
                "p99_ms": finite(result.percentile_ms(99.0)),
                "mail_p99_s": finite(mail.p99_s()),
            })
        })
        .collect::<Vec<_>>())
}

/// The turn with the median rate.
fn median_rate(mut turns: Vec<(LoadResult, MailLatency)>) -> (LoadResult, MailLatency) {
    turns.sort_by(|a, b| a.0.rate().total_cmp(&b.0.rate()));
    turns.swap_remove(turns.len() / 2)
}

/// The run with the median p99 of several runs of one load.
fn median_p99(mut runs: Vec<LoadResult>) -> LoadResult {
    runs.sort_by(|a, b| a.percentile_ms(99.0).total_cmp(&b.percentile_ms(99.0)));
    runs.swap_remove(runs.len() / 2)
}

fn load_json(result: &LoadResult) -> Value {
    json!({
        "requests_per_s": finite(result.rate()),
        "ok": result.ok,
        "errors": result.errors,
        "statuses": result.statuses,
        "p50_ms": finite(result.percentile_ms(50.0)),
        "p99_ms": finite(result.percentile_ms(99.0)),
        "seconds": result.elapsed.as_secs_f64(),
        "cpu_busy_pct": finite(result.cpu_busy * 100.0),
        "cpu_cores_by_part": result.cpu_cores_by_part,
    })
}

struct Bench {
    options: Options,
    slots: SlotSupply,
    report: serde_json::Map<String, Value>,
    plans: Vec<(String, Vec<(String, String)>)>,
    notes: Vec<String>,
}

impl Bench {
    fn plan(
        &self,
        targets: Vec<SocketAddr>,
        request: Arc<load::RequestFn>,
        max: u64,
        expected: u16,
    ) -> LoadPlan {
        LoadPlan {
            targets,
            connections: self.options.connections,
            duration: self.options.duration,
            max_requests: max,
            expected_status: expected,
            request,
            rate: None,
        }
    }

    /// A read-only load (GET, expecting 200) run `READ_RUNS` times; the run
    /// with the median p99 is kept. On 2 shared cores a run's p99 flips
    /// between ~1.5 ms and ~5 ms with how often a worker is preempted for a
    /// scheduler tick (the bare handler's too), which one run cannot tell
    /// from a regression.
    async fn read_load(
        &self,
        target: SocketAddr,
        request: Arc<load::RequestFn>,
    ) -> anyhow::Result<load::LoadResult> {
        let mut runs = Vec::with_capacity(READ_RUNS);
        for _ in 0..READ_RUNS {
            runs.push(load::run(self.plan(vec![target], request.clone(), u64::MAX, 200)).await?);
        }
        Ok(median_p99(runs))
    }

    /// Two read-only loads (a service and what it asks) in turns (A B,
    /// B A, A B, ...), `PAIRED_TURNS` runs each; each keeps the run with its
    /// median p99. A comparison made this way does not depend on which was
    /// measured first: measured one phase after the other, the empty
    /// database's availability came out at ~1.5 ms p99 and the later
    /// phase's at ~4.6 ms, also when that phase stored no history
    /// (`--seed 0`); in turns, the two are within a few percent.
    async fn paired_read_load(
        &self,
        loads: [(SocketAddr, Arc<load::RequestFn>); 2],
    ) -> anyhow::Result<[load::LoadResult; 2]> {
        let mut runs = [Vec::new(), Vec::new()];
        for round in 0..PAIRED_TURNS {
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for which in order {
                let (target, request) = &loads[which];
                let plan = self.plan(vec![*target], request.clone(), u64::MAX, 200);
                let run = load::run(plan).await?;
                self.say(&format!(
                    "  turn {}, {}: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
                    round + 1,
                    ["A", "B"][which],
                    run.rate(),
                    run.percentile_ms(50.0),
                    run.percentile_ms(99.0)
                ));
                runs[which].push(run);
            }
        }
        let [a, b] = runs;
        Ok([median_p99(a), median_p99(b)])
    }

    /// Availability over every start date from the service at `app`, in
    /// turns with its baseline: a bare handler serving a body of the size
    /// of the service's 7-day answer.
    async fn spread_against_bare(&self, label: &str, app: SocketAddr) -> anyhow::Result<Spread> {
        let (status, body) = load::fetch(app, &load::get(&availability_path())).await?;
        if status != 200 {
            return Err(anyhow!("availability answered {status}: {body}"));
        }
        let (bare, bare_handle) = baseline::bare_server(serde_json::from_str(&body)?, 2)?;
        self.say(&format!(
            "{label}: availability GET (7 days), windows over every start date (B), \
             in turns with a bare handler of a {} byte body (A)",
            body.len()
        ));
        let [bare_result, spread] = self
            .paired_read_load([
                (bare, Arc::new(|_: u64| load::get("/bare"))),
                (app, spread_request(None)),
            ])
            .await?;
        bare_handle.stop(true).await;
        Ok(Spread {
            spread,
            bare: bare_result,
            body_bytes: body.len(),
        })
    }

    /// Availability (7 days) from the seeded service at `seeded` and from a
    /// fresh one on an empty database (`empty_settings`), read in turns;
    /// the empty one's figures go into `phase`, the seeded one's are
    /// returned.
    async fn availability_in_turns(
        &mut self,
        label: &str,
        seeded: SocketAddr,
        empty_settings: Settings,
        phase: &mut serde_json::Map<String, Value>,
    ) -> anyhow::Result<load::LoadResult> {
        let empty = Running::start(empty_settings).await?;
        self.say(&format!(
            "{label}: availability GET (7 days), in turns with an empty database"
        ));
        let path_7d = availability_path();
        let request: Arc<load::RequestFn> = Arc::new(move |_: u64| load::get(&path_7d));
        let [history, no_history] = self
            .paired_read_load([(seeded, request.clone()), (empty.address, request)])
            .await?;
        empty.stop().await;
        phase.insert("availability_empty_in_turns".into(), load_json(&no_history));
        Ok(history)
    }

    /// The booking load `BOOKING_TURNS` times, each on fresh slots and
    /// followed by its mail; the turn with the median rate counts, with its
    /// mail latency. Every turn is printed and kept in the JSON summary.
    async fn booking_in_turns(
        &mut self,
        label: &'static str,
        target: SocketAddr,
        sink: &SmtpSink,
        phase: &mut serde_json::Map<String, Value>,
    ) -> anyhow::Result<(LoadResult, MailLatency)> {
        let mut turns = Vec::with_capacity(BOOKING_TURNS);
        for turn in 1..=BOOKING_TURNS {
            self.say(&format!("{label}: booking POST, turn {turn}"));
            // Each turn books its own patients: their confirmations are
            // told apart by address.
            let tag: &'static str = Box::leak(format!("{label}-{turn}").into_boxed_str());
            let slots = self.slots.share();
            let max = seat_budget(&slots);
            let result =
                load::run(self.plan(vec![target], booking_request(tag, slots), max, 201)).await?;
            let mail = mail_latency(sink, tag, &result, self.options.mail_wait).await;
            self.say(&format!(
                "  turn {turn}: {:.0}/s, p50 {:.1} ms, p99 {:.1} ms, mail p99 {:.3} s",
                result.rate(),
                result.percentile_ms(50.0),
                result.percentile_ms(99.0),
                mail.p99_s()
            ));
            turns.push((result, mail));
        }
        phase.insert("booking_turns".into(), turns_json(&turns));
        Ok(median_rate(turns))
    }

    /// PostgreSQL's booking load on each `Deployment`, `INSTANCE_TURNS`
    /// times, in turns whose order rotates (each deployment takes each
    /// place once in three rounds), so that the ratios do not depend on
    /// which was measured first. Every turn starts its instances afresh,
    /// runs on fresh slots and waits for its mail before they stop.
    async fn instances_in_turns(
        &mut self,
        settings: &Settings,
        url: &str,
        sink: &SmtpSink,
    ) -> anyhow::Result<[DeploymentTurns; 3]> {
        let mut measured: [DeploymentTurns; 3] = Default::default();
        for round in 0..INSTANCE_TURNS {
            for place in 0..Deployment::ALL.len() {
                let which = (round + place) % Deployment::ALL.len();
                let deployment = Deployment::ALL[which];
                // Each load starts without the previous one's mail backlog.
                clear_mail_backlog(url)?;
                let turn = round + 1;
                self.say(&format!(
                    "postgres: booking POST, {}, turn {turn}",
                    deployment.describe()
                ));
                let tag: &'static str = Box::leak(format!("pg{which}-{turn}").into_boxed_str());
                let slots = self.slots.half_share();
                let max = seat_budget(&slots);
                let mut instances = Vec::new();
                for instance in deployment.instances(settings) {
                    instances.push(Running::start(instance).await?);
                }
                let targets = instances.iter().map(|running| running.address).collect();
                let counted = statements::now();
                let xids = next_transaction_id(url)?;
                let result =
                    load::run(self.plan(targets, booking_request(tag, slots), max, 201)).await?;
                let requests = statements::now().since(counted);
                let mail = mail_latency(sink, tag, &result, self.options.mail_wait).await;
                let all = statements::now().since(counted);
                let written = next_transaction_id(url)? - xids;
                for instance in instances {
                    instance.stop().await;
                }
                self.say(&format!(
                    "  turn {turn}: {:.0}/s, p50 {:.1} ms, p99 {:.1} ms, mail p99 {:.3} s",
                    result.rate(),
                    result.percentile_ms(50.0),
                    result.percentile_ms(99.0),
                    mail.p99_s()
                ));
                let kept = &mut measured[which];
                kept.work.counts.add(&statements::Counts {
                    background: all.background,
                    listener: all.listener,
                    ..requests
                });
                kept.work.write_transactions += written;
                kept.turns.push((result, mail));
            }
        }
        Ok(measured)
    }

    /// A paced rush of `RUSH_PER_S` bookings a second for one load's
    /// duration, starting with no mail backlog: how long confirmations take
    /// when the service is busy but not saturated.
    async fn rush(
        &mut self,
        target: SocketAddr,
        url: &str,
        sink: &SmtpSink,
        tag: &'static str,
    ) -> anyhow::Result<Value> {
        clear_mail_backlog(url)?;
        self.say(&format!("{tag}: {RUSH_PER_S} bookings a second"));
        let count = (RUSH_PER_S * self.options.duration.as_secs_f64()).ceil() as usize;
        let slots = self.slots.take(count / CAPACITY as usize + 1);
        let max = seat_budget(&slots);
        let result = load::run(LoadPlan {
            rate: Some(RUSH_PER_S),
            ..self.plan(vec![target], booking_request(tag, slots), max, 201)
        })
        .await?;
        let mail = mail_latency(sink, tag, &result, self.options.mail_wait).await;
        Ok(json!({ "booking": load_json(&result), "mail": mail.json() }))
    }

    /// `RACERS` clients at once, across `instances` instances of the
    /// service configured with `settings` (practitioners and rooms), each
    /// asking for a stem-cell treatment at a time when one doctor works:
    /// exactly one may get 201.
    async fn practitioner_race(
        &mut self,
        settings: Settings,
        instances: usize,
        tag: &'static str,
    ) -> anyhow::Result<Value> {
        const RACERS: u64 = 64;
        let mut running = Vec::new();
        for _ in 0..instances {
            running.push(Running::start(settings.clone()).await?);
        }
        let start = Arc::new(vec![one_doctor_start(&settings, 2)]);
        let race = load::run(LoadPlan {
            duration: Duration::from_secs(60),
            connections: RACERS as usize,
            ..self.plan(
                running.iter().map(|r| r.address).collect(),
                typed_booking_request(tag, start, "stem-cell"),
                RACERS,
                201,
            )
        })
        .await?;
        for instance in running {
            instance.stop().await;
        }
        let conflicts = race.statuses.get("409").copied().unwrap_or(0);
        Ok(json!({
            "requests": race.ok + race.errors,
            "created": race.ok,
            "conflicts_409": conflicts,
            "other_errors": race.errors - conflicts,
            "instances": instances,
        }))
    }

    /// Issue 22's figures on SQLite: availability of a type that needs a
    /// doctor and a room, with the example's practitioners and rooms
    /// against the same type on seats alone, read in turns; and the race
    /// for the last free doctor.
    async fn resources_phase(&mut self) -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let sink = SmtpSink::builder().discard_messages().start()?;
        let seats_url = format!("sqlite://{}", dir.path().join("seats.db").display());
        let resources_url = format!("sqlite://{}", dir.path().join("resources.db").display());
        let seats = bench_settings(&seats_url, &sink.url(), 8)?;
        let mut resources = bench_settings(&resources_url, &sink.url(), 8)?;
        with_example_resources(&mut resources)?;
        let mut phase = serde_json::Map::new();
        let plain = Running::start(seats).await?;
        let with = Running::start(resources.clone()).await?;
        // Some bookings first, so that the claims are read, not an empty
        // table: one stem-cell treatment a day for the first weeks.
        let starts: Vec<String> = (0..60)
            .map(|d| tokyo_today() + Days::days(3 + d))
            .filter(|day| day.weekday() != Weekday::Sun)
            .map(|day| format!("{day}T11:00:00+09:00"))
            .collect();
        let count = starts.len() as u64;
        let starts = Arc::new(starts);
        for target in [plain.address, with.address] {
            load::run(LoadPlan {
                connections: 4,
                duration: Duration::from_secs(60),
                ..self.plan(
                    vec![target],
                    typed_booking_request("resfill", starts.clone(), "stem-cell"),
                    count,
                    201,
                )
            })
            .await?;
        }
        self.say("resources: availability GET of stem-cell (7 days), without and with practitioners and rooms, in turns");
        let path = format!("{}&type=stem-cell", availability_path());
        let request: Arc<load::RequestFn> = Arc::new(move |_: u64| load::get(&path));
        let [without, with_result] = self
            .paired_read_load([(plain.address, request.clone()), (with.address, request)])
            .await?;
        plain.stop().await;
        with.stop().await;
        self.say("resources: race for the last free doctor");
        let race = self.practitioner_race(resources, 1, "sqlitedoctor").await?;
        phase.insert("availability_seats".into(), load_json(&without));
        phase.insert("availability_resources".into(), load_json(&with_result));
        phase.insert(
            "resources_vs_seats".into(),
            json!(with_result.rate() / without.rate()),
        );
        phase.insert("practitioner_race".into(), race);
        self.report.insert("resources".into(), Value::Object(phase));
        Ok(())
    }

    fn say(&self, line: &str) {
        eprintln!(
            "[bench {:>8.1}s] {line}",
            START.with(|s| s.elapsed().as_secs_f64())
        );
    }

    /// The SQLite figures, on an empty database or after seeding history.
    async fn sqlite_phase(&mut self, seeded: bool) -> anyhow::Result<()> {
        let label = if seeded { "sqlite_1m" } else { "sqlite_empty" };
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("clinic.db").display().to_string();
        let url = format!("sqlite://{path}");
        let sink = SmtpSink::builder().discard_messages().start()?;
        let settings = bench_settings(&url, &sink.url(), 8)?;
        let mut phase = serde_json::Map::new();
        if seeded {
            open_database(&settings).await?;
            let count = self.options.seed;
            self.say(&format!(
                "{label}: seeding {count} bookings with claims and outbox rows"
            ));
            let started = Instant::now();
            let seed_path = path.clone();
            let base = format!("{} 00:00:00", tokyo_today() - Days::days(1));
            tokio::task::spawn_blocking(move || seed::sqlite(&seed_path, count, &base)).await??;
            phase.insert("seeded_bookings".into(), json!(count));
            phase.insert(
                "seed_seconds".into(),
                json!(started.elapsed().as_secs_f64()),
            );
        }

        // Baseline 1: the durable single-row insert, no HTTP.
        let base_path = dir.path().join("baseline.db").display().to_string();
        open_database(&bench_settings(&format!("sqlite://{base_path}"), "", 1)?).await?;
        let duration = self.options.duration;
        self.say(&format!("{label}: baseline durable inserts"));
        let (insert_rate, inserts) = tokio::task::spawn_blocking(move || {
            baseline::sqlite_inserts(&base_path, "BEFORE", duration)
        })
        .await??;
        phase.insert("baseline_insert_per_s".into(), json!(insert_rate));
        phase.insert("baseline_inserts".into(), json!(inserts));
        self.say(&format!(
            "{label}: baseline durable inserts, every core busy"
        ));
        let busy_path = dir.path().join("baseline.db").display().to_string();
        let (busy_before, _) = tokio::task::spawn_blocking(move || {
            baseline::sqlite_inserts_busy(&busy_path, "BUSY", duration)
        })
        .await??;

        let app = Running::start(settings).await?;
        // Baseline 2: a bare handler with a body of the same size.
        let Spread {
            spread,
            bare: bare_result,
            body_bytes,
        } = self.spread_against_bare(label, app.address).await?;
        let path_7d = availability_path();
        let request = Arc::new(move |_: u64| load::get(&path_7d));
        let availability = if seeded {
            // History against no history, in turns in this phase: a fresh
            // empty database served beside this one, idle but for its turns.
            let empty_path = dir.path().join("empty.db").display().to_string();
            let empty_settings = bench_settings(&format!("sqlite://{empty_path}"), &sink.url(), 8)?;
            self.availability_in_turns(label, app.address, empty_settings, &mut phase)
                .await?
        } else {
            self.say(&format!("{label}: availability GET (7 days)"));
            self.read_load(app.address, request).await?
        };

        let counted = statements::now();
        let (booking, mail) = self
            .booking_in_turns(label, app.address, &sink, &mut phase)
            .await?;
        let counts = statements::now().since(counted);
        if !seeded {
            let rush = self.rush(app.address, &url, &sink, "sqlite_rush").await?;
            phase.insert("rush".into(), rush);
        }
        app.stop().await;
        // The insert baseline again, once the service is stopped (not while
        // its mail backlog drains), and the mean of both: the disk is shared.
        let base_path = dir.path().join("baseline.db").display().to_string();
        let (insert_after, _) = tokio::task::spawn_blocking(move || {
            baseline::sqlite_inserts(&base_path, "AFTER", duration)
        })
        .await??;
        let busy_path = dir.path().join("baseline.db").display().to_string();
        let (busy_after, _) = tokio::task::spawn_blocking(move || {
            baseline::sqlite_inserts_busy(&busy_path, "BUSYAFTER", duration)
        })
        .await??;
        phase.insert("baseline_insert_before_per_s".into(), json!(insert_rate));
        phase.insert("baseline_insert_after_per_s".into(), json!(insert_after));
        let insert_rate = (insert_rate + insert_after) / 2.0;
        phase.insert("baseline_insert_per_s".into(), json!(insert_rate));
        let busy_rate = (busy_before + busy_after) / 2.0;
        phase.insert(
            "baseline_insert_busy_cpus".into(),
            json!({"before_per_s": busy_before, "after_per_s": busy_after, "per_s": busy_rate}),
        );
        phase.insert(
            "booking_vs_insert_busy_cpus".into(),
            json!(booking.rate() / busy_rate),
        );
        // All turns' statements over all turns' bookings.
        let turns_ok: f64 = phase["booking_turns"]
            .as_array()
            .map(|turns| turns.iter().filter_map(|t| t["ok"].as_f64()).sum())
            .unwrap_or(f64::NAN);
        phase.insert(
            "statements_per_booking".into(),
            json!({
                "sqlite_writer": counts.sqlite_writer as f64 / turns_ok,
                "http_workers": counts.requests as f64 / turns_ok,
                "background": counts.background as f64 / turns_ok,
            }),
        );
        phase.insert("availability_spread".into(), load_json(&spread));
        phase.insert(
            "availability_spread_vs_bare".into(),
            json!(spread.rate() / bare_result.rate()),
        );

        phase.insert("body_bytes".into(), json!(body_bytes));
        phase.insert("bare_handler".into(), load_json(&bare_result));
        phase.insert("availability".into(), load_json(&availability));
        phase.insert(
            "availability_vs_bare".into(),
            json!(availability.rate() / bare_result.rate()),
        );
        phase.insert("booking".into(), load_json(&booking));
        phase.insert(
            "booking_vs_insert".into(),
            json!(booking.rate() / insert_rate),
        );
        phase.insert("mail".into(), mail.json());
        let queries = seed::hot_queries(
            &(tokyo_today() + Days::days(3)).to_string(),
            &(tokyo_today() + Days::days(10)).to_string(),
            "p1.x@example.jp",
            &Utc::now()
                .naive_utc()
                .format("%Y-%m-%d %H:%M:%S")
                .to_string(),
        );
        if seeded {
            let plan_path = path.clone();
            let plans =
                tokio::task::spawn_blocking(move || seed::sqlite_plans(&plan_path, &queries))
                    .await??;
            self.plans.push((
                format!("SQLite, {} bookings stored", self.options.seed),
                plans,
            ));
        }
        self.report.insert(label.into(), Value::Object(phase));
        Ok(())
    }

    async fn postgres_phase(&mut self, admin_url: &str) -> anyhow::Result<()> {
        let tag = format!("clinic_bench_{:08x}", rand::random::<u32>());
        // postgres://user@host:port/name?options: the bench's databases
        // replace the name and keep the options.
        let (address, options) = match admin_url.split_once('?') {
            Some((address, options)) => (address, format!("?{options}")),
            None => (admin_url, String::new()),
        };
        let (base, _) = address
            .rsplit_once('/')
            .context("a database name in the URL")?;
        let app_db = format!("{tag}_app");
        let base_db = format!("{tag}_baseline");
        let empty_db = format!("{tag}_empty");
        let mut admin = PgConnection::establish(admin_url).context("PostgreSQL")?;
        for db in [&app_db, &base_db, &empty_db] {
            diesel::sql_query(format!("CREATE DATABASE {db}")).execute(&mut admin)?;
        }
        let result = self
            .postgres_runs(
                &format!("{base}/{app_db}{options}"),
                &format!("{base}/{base_db}{options}"),
                &format!("{base}/{empty_db}{options}"),
            )
            .await;
        for db in [&app_db, &base_db, &empty_db] {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                .execute(&mut admin);
        }
        result
    }

    /// The PostgreSQL figures: the service's database at `url`, the
    /// baseline's at `base_url`, and one that stays empty at `empty_url`
    /// (the history phase's availability is read in turns with it).
    async fn postgres_runs(
        &mut self,
        url: &str,
        base_url: &str,
        empty_url: &str,
    ) -> anyhow::Result<()> {
        const POOL: u32 = 16;
        let mut phase = serde_json::Map::new();
        let sink = SmtpSink::builder().discard_messages().start()?;
        let settings = bench_settings(url, &sink.url(), POOL)?;
        open_database(&settings).await?;
        open_database(&bench_settings(base_url, "", 1)?).await?;
        let one = Running::start(settings.clone()).await?;
        // One booking made as the loads make them: the rows it wrote are
        // what the booking-shaped baseline writes.
        let template_slots = self.slots.take(1);
        // Its messages are refused until they are read: a message delivered
        // keeps no content, and the baseline writes the contents too.
        sink.reject_with_550();
        let (status, body) =
            load::fetch(one.address, &booking_request("template", template_slots)(0)).await?;
        if status != 201 {
            return Err(anyhow!("the template booking answered {status}: {body}"));
        }
        let reference = serde_json::from_str::<Value>(&body)?["reference"]
            .as_str()
            .context("the template booking's reference")?
            .to_string();
        let template = {
            let url = url.to_string();
            tokio::task::spawn_blocking(move || baseline::BookingRows::read(&url, &reference))
                .await??
        };
        sink.accept_again();
        self.say("postgres: baseline durable inserts");
        let (base_url, duration) = (base_url.to_string(), self.options.duration);
        let insert_url = base_url.clone();
        let (insert_rate, inserts) = tokio::task::spawn_blocking(move || {
            baseline::postgres_inserts(&insert_url, POOL as usize, duration)
        })
        .await??;
        phase.insert("baseline_insert_per_s".into(), json!(insert_rate));
        phase.insert("baseline_inserts".into(), json!(inserts));
        phase.insert("baseline_writers".into(), json!(POOL));
        let mut rates = Vec::new();
        for (shape, name, what) in BOOKING_SHAPED {
            self.say(&format!(
                "postgres: baseline {what} ({})",
                template.describe()
            ));
            let (shaped, url) = (template.clone(), base_url.clone());
            let (rate, count) = tokio::task::spawn_blocking(move || {
                baseline::postgres_booking_transactions(
                    &url,
                    POOL as usize,
                    duration,
                    &shaped,
                    shape,
                )
            })
            .await??;
            phase.insert(
                format!("baseline_{name}"),
                json!({
                    "per_s": rate,
                    "transactions": count,
                    "writers": POOL,
                    "statements_per_transaction": template.statements(shape),
                    "rows": template.describe(),
                }),
            );
            rates.push((name, rate));
        }

        self.say("postgres: availability GET, one instance");
        let path_7d = availability_path();
        let availability = self
            .read_load(one.address, Arc::new(move |_: u64| load::get(&path_7d)))
            .await?;
        self.say("postgres: availability GET (7 days), windows over every start date");
        let spread = self.read_load(one.address, spread_request(None)).await?;
        phase.insert("availability_spread".into(), load_json(&spread));
        one.stop().await;
        let [single_turns, double_turns, half_pool_turns] =
            self.instances_in_turns(&settings, url, &sink).await?;
        for (measured, suffix) in [
            (&single_turns, ""),
            (&double_turns, "_two_instances"),
            (&half_pool_turns, "_two_instances_half_pools"),
        ] {
            phase.insert(
                format!("statements_per_booking{suffix}"),
                measured.work.per_booking(measured.booked()),
            );
        }
        for (measured, key) in [
            (&single_turns, "booking_one_instance_turns"),
            (&double_turns, "booking_two_instances_turns"),
            (&half_pool_turns, "booking_two_instances_half_pools_turns"),
        ] {
            phase.insert(key.into(), turns_json(&measured.turns));
        }
        let all_ok = single_turns.booked() + double_turns.booked() + half_pool_turns.booked();
        let (single, mail_single) = median_rate(single_turns.turns);
        let (double, mail_double) = median_rate(double_turns.turns);
        let (half_pools, mail_half_pools) = median_rate(half_pool_turns.turns);
        let one = Running::start(settings.clone()).await?;
        // Which statements a booking sends, from the paced rush (recording
        // their text costs the bench time the measured load should not pay).
        statements::record_texts(true);
        let rush_counted = statements::now();
        let rush = self.rush(one.address, url, &sink, "pg_rush").await?;
        let rush_counts = statements::now().since(rush_counted);
        let texts = statements::record_texts(false);
        let rush_ok = rush["booking"]["ok"].as_f64().unwrap_or(f64::NAN);
        phase.insert(
            "statements_of_the_rush_bookings".into(),
            json!({
                "per_booking": rush_counts.requests as f64 / rush_ok,
                "by_text": texts
                    .iter()
                    .take(20)
                    .map(|(text, n)| json!({"statement": text, "per_booking": *n as f64 / rush_ok}))
                    .collect::<Vec<_>>(),
            }),
        );

        let two = Running::start(settings.clone()).await?;
        // A race: 256 requests for 8 slots of CAPACITY seats, across both instances.
        self.say("postgres: race for 8 slots across two instances");
        let race_slots = self.slots.take(8);
        let race = load::run(LoadPlan {
            duration: Duration::from_secs(60),
            ..self.plan(
                vec![one.address, two.address],
                booking_request("race", race_slots),
                256,
                201,
            )
        })
        .await?;
        one.stop().await;
        two.stop().await;
        // Practitioners: two instances configured with the example's
        // doctors and rooms, many clients after the one doctor free.
        self.say("postgres: race for the last free doctor across two instances");
        let mut with_resources = settings.clone();
        with_example_resources(&mut with_resources)?;
        let doctor_race = self
            .practitioner_race(with_resources, 2, "pgdoctor")
            .await?;
        let doctor_created = doctor_race["created"].as_u64().unwrap_or(0);
        phase.insert("practitioner_race".into(), doctor_race);
        let race_409 = race.statuses.get("409").copied().unwrap_or(0);
        let race_errors = race.errors - race_409;
        let check = overbooking(url)?;
        let rush_created = rush["booking"]["ok"].as_u64().unwrap_or(0);
        // Every 201 of this database: the template booking, the loads, the
        // races.
        let template_created = 1;
        let expected_confirmed =
            template_created + all_ok + race.ok + rush_created + doctor_created;

        phase.insert("availability".into(), load_json(&availability));
        phase.insert("booking_one_instance".into(), load_json(&single));
        phase.insert(
            "booking_one_vs_insert".into(),
            json!(single.rate() / insert_rate),
        );
        for (name, rate) in &rates {
            phase.insert(
                format!("booking_one_vs_{name}"),
                json!(single.rate() / rate),
            );
        }
        let rate_of = |wanted: &str| {
            rates
                .iter()
                .find(|(name, _)| *name == wanted)
                .map_or(f64::NAN, |(_, rate)| *rate)
        };
        phase.insert(
            "lock_reads_rows_vs_booking_transaction".into(),
            json!(rate_of("booking_lock_reads_rows") / rate_of("booking_transaction")),
        );
        phase.insert("mail_one_instance".into(), mail_single.json());
        phase.insert("rush".into(), rush);
        phase.insert("booking_two_instances".into(), load_json(&double));
        phase.insert("mail_two_instances".into(), mail_double.json());
        phase.insert("two_vs_one".into(), json!(double.rate() / single.rate()));
        phase.insert(
            "booking_two_instances_half_pools".into(),
            load_json(&half_pools),
        );
        phase.insert(
            "mail_two_instances_half_pools".into(),
            mail_half_pools.json(),
        );
        phase.insert(
            "two_half_pools_vs_one".into(),
            json!(half_pools.rate() / single.rate()),
        );
        phase.insert(
            "race".into(),
            json!({
                "requests": race.ok + race.errors,
                "created": race.ok,
                "conflicts_409": race_409,
                "other_errors": race_errors,
                "expected_created": 8 * CAPACITY,
            }),
        );
        phase.insert(
            "overbooking".into(),
            json!({
                "duplicate_seat_claims": check.duplicate_seats,
                "slots_over_capacity_by_claims": check.over_capacity_claims,
                "slots_over_capacity_by_bookings": check.over_capacity_bookings,
                "confirmed_bookings": check.confirmed,
                "created_201": expected_confirmed,
            }),
        );

        if self.options.pg_scale {
            let count = self.options.seed;
            self.say(&format!("postgres: seeding {count} bookings"));
            let started = Instant::now();
            let (seed_url, base) = (
                url.to_string(),
                format!("{} 00:00:00", tokyo_today() - Days::days(1)),
            );
            tokio::task::spawn_blocking(move || seed::postgres(&seed_url, count, &base)).await??;
            phase.insert(
                "seed_seconds".into(),
                json!(started.elapsed().as_secs_f64()),
            );
            clear_mail_backlog(url)?;
            let app = Running::start(settings.clone()).await?;
            // As on SQLite: history against no history in turns, in this
            // phase (after seeding, PostgreSQL's own background work
            // competes for the cores for a while).
            let empty_settings = bench_settings(empty_url, &sink.url(), POOL)?;
            let availability = self
                .availability_in_turns("postgres, seeded", app.address, empty_settings, &mut phase)
                .await?;
            let Spread {
                spread,
                bare,
                body_bytes,
            } = self
                .spread_against_bare("postgres, seeded", app.address)
                .await?;
            phase.insert("availability_spread_1m".into(), load_json(&spread));
            phase.insert("bare_handler_1m".into(), load_json(&bare));
            phase.insert("body_bytes_1m".into(), json!(body_bytes));
            phase.insert(
                "availability_spread_1m_vs_bare".into(),
                json!(spread.rate() / bare.rate()),
            );
            self.say("postgres: booking POST, one instance, seeded");
            let slots = self.slots.share();
            let max = seat_budget(&slots);
            let booking =
                load::run(self.plan(vec![app.address], booking_request("pg1m", slots), max, 201))
                    .await?;
            let mail = mail_latency(&sink, "pg1m", &booking, self.options.mail_wait).await;
            app.stop().await;
            phase.insert("availability_1m".into(), load_json(&availability));
            phase.insert("booking_1m".into(), load_json(&booking));
            phase.insert("mail_1m".into(), mail.json());
        }
        let queries = seed::hot_queries(
            &(tokyo_today() + Days::days(3)).to_string(),
            &(tokyo_today() + Days::days(10)).to_string(),
            "p1.x@example.jp",
            &Utc::now()
                .naive_utc()
                .format("%Y-%m-%d %H:%M:%S")
                .to_string(),
        );
        let plan_url = url.to_string();
        let plans = tokio::task::spawn_blocking(move || seed::postgres_plans(&plan_url, &queries))
            .await??;
        let stored = if self.options.pg_scale {
            format!("{} bookings stored", self.options.seed)
        } else {
            "after the loads".into()
        };
        self.plans.push((format!("PostgreSQL, {stored}"), plans));
        self.report.insert("postgres".into(), Value::Object(phase));
        Ok(())
    }
}

struct Overbooking {
    duplicate_seats: i64,
    over_capacity_claims: i64,
    over_capacity_bookings: i64,
    confirmed: i64,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// The next transaction id PostgreSQL will hand out. Every transaction
/// that writes takes one (reads take none), so the difference over a
/// load counts the write transactions committed or aborted meanwhile, in
/// every database of the server (the bench's others are idle then). Read
/// from a snapshot, unlike `pg_stat_database`, whose counts an idle
/// backend may report seconds late.
fn next_transaction_id(url: &str) -> anyhow::Result<i64> {
    let next: Count =
        diesel::sql_query("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS n")
            .get_result(&mut PgConnection::establish(url)?)?;
    Ok(next.n)
}

/// Withdraws the messages a previous load left unsent, so that their
/// delivery does not compete with the next load.
fn clear_mail_backlog(url: &str) -> anyhow::Result<()> {
    let clear = "UPDATE outbox SET status = 'cancelled' WHERE status = 'pending'";
    match url.strip_prefix("sqlite://") {
        Some(path) => {
            let mut conn = diesel::SqliteConnection::establish(path)?;
            diesel::connection::SimpleConnection::batch_execute(
                &mut conn,
                "PRAGMA busy_timeout = 10000;",
            )?;
            diesel::sql_query(clear).execute(&mut conn)?;
        }
        None => {
            diesel::sql_query(clear).execute(&mut PgConnection::establish(url)?)?;
        }
    }
    Ok(())
}

fn overbooking(url: &str) -> anyhow::Result<Overbooking> {
    let mut conn = PgConnection::establish(url)?;
    let mut count = |sql: &str| -> anyhow::Result<i64> {
        let rows: Vec<Count> = diesel::sql_query(sql).load(&mut conn)?;
        Ok(rows.first().map(|r| r.n).unwrap_or(0))
    };
    Ok(Overbooking {
        duplicate_seats: count(
            "SELECT COUNT(*) AS n FROM (SELECT slot_start, seat FROM slot_claims \
             GROUP BY slot_start, seat HAVING COUNT(*) > 1) d",
        )?,
        over_capacity_claims: count(&format!(
            "SELECT COUNT(*) AS n FROM (SELECT slot_start FROM slot_claims \
             GROUP BY slot_start HAVING COUNT(*) > {CAPACITY} OR MAX(seat) > {CAPACITY}) d"
        ))?,
        over_capacity_bookings: count(&format!(
            "SELECT COUNT(*) AS n FROM (SELECT start_at FROM bookings WHERE status = 'confirmed' \
             GROUP BY start_at HAVING COUNT(*) > {CAPACITY}) d"
        ))?,
        confirmed: count("SELECT COUNT(*) AS n FROM bookings WHERE status = 'confirmed'")?,
    })
}

thread_local! {
    static START: Instant = Instant::now();
}

fn machine() -> Value {
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string())
        })
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0))
        .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    json!({
        "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "memory": memory,
        "loadavg_at_start": load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    })
}

fn get<'a>(report: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(report, |v, k| v.get(k))
}

fn num(report: &Value, path: &[&str]) -> f64 {
    get(report, path)
        .and_then(Value::as_f64)
        .unwrap_or(f64::NAN)
}

/// The errors of every turn of a booking load (NaN when a turn does not
/// say), not only of the turn that counts.
fn turn_errors(report: &Value, path: &[&str]) -> f64 {
    get(report, path)
        .and_then(Value::as_array)
        .map_or(f64::NAN, |turns| {
            turns
                .iter()
                .map(|turn| turn["errors"].as_f64().unwrap_or(f64::NAN))
                .sum()
        })
}

/// One line per target: (what, measured, target, met).
/// A mail p99 for the targets table (NaN: some mail never arrived).
fn mail_p99_text(p99_s: f64) -> String {
    if p99_s.is_nan() {
        "not all delivered in the wait".into()
    } else {
        format!("{p99_s:.3} s")
    }
}

fn targets(report: &Value) -> Vec<(String, String, String, bool)> {
    let mut rows = Vec::new();
    let mut add = |what: &str, measured: String, target: &str, met: bool| {
        rows.push((what.to_string(), measured, target.to_string(), met));
    };
    if report.get("sqlite_empty").is_some() {
        let r = num(report, &["sqlite_empty", "booking_vs_insert"]);
        add(
            "SQLite booking POST / durable insert",
            format!("{r:.2}×"),
            "≥ 0.8×",
            r >= 0.8,
        );
        let r = num(report, &["sqlite_empty", "booking_vs_insert_busy_cpus"]);
        add(
            "SQLite booking POST / durable insert with every core busy",
            format!("{r:.2}×"),
            "≥ 0.8×",
            r >= 0.8,
        );
        let p = num(report, &["sqlite_empty", "booking", "p99_ms"]);
        add(
            "SQLite booking p99 at 64 connections",
            format!("{p:.1} ms"),
            "≤ 50 ms",
            p <= 50.0,
        );
        let errors = turn_errors(report, &["sqlite_empty", "booking_turns"])
            + num(report, &["sqlite_empty", "availability", "errors"]);
        add(
            "errors (SQLite, empty)",
            format!("{errors}"),
            "0",
            errors == 0.0,
        );
        let r = num(report, &["sqlite_empty", "availability_vs_bare"]);
        add(
            "availability GET / bare handler",
            format!("{r:.2}×"),
            "≥ 0.5×",
            r >= 0.5,
        );
        let m = num(report, &["sqlite_empty", "mail", "p99_s"]);
        add(
            "mail p99, 201 → SMTP accepted (SQLite)",
            if m.is_nan() {
                format!(
                    "> {:.0} s wait (not all delivered)",
                    num(report, &["sqlite_empty", "mail", "waited_s"])
                )
            } else {
                format!("{m:.3} s")
            },
            "≤ 2 s",
            m <= 2.0,
        );
        let m = num(report, &["sqlite_empty", "rush", "mail", "p99_s"]);
        add(
            "mail p99, paced rush of 200 bookings/s (SQLite)",
            mail_p99_text(m),
            "≤ 2 s",
            m <= 2.0,
        );
    }
    if report.get("sqlite_1m").is_some() {
        // Availability is compared with the empty database measured in
        // turns with it (see `paired_read_load`); booking with the empty
        // phase's own load (bookings fill the database they measure).
        for (what, key, empty_at) in [
            ("booking", "booking", ["sqlite_empty", "booking"]),
            (
                "availability",
                "availability",
                ["sqlite_1m", "availability_empty_in_turns"],
            ),
        ] {
            for p in ["p50_ms", "p99_ms"] {
                let full = num(report, &["sqlite_1m", key, p]);
                let empty = num(report, &[&empty_at[..], &[p]].concat());
                let r = full / empty;
                add(
                    &format!("SQLite {what} {} with history / empty", &p[..3]),
                    format!("{r:.2}× ({full:.1} vs {empty:.1} ms)"),
                    "≤ 1.5×",
                    r <= 1.5,
                );
            }
        }
        let r = num(report, &["sqlite_1m", "availability_spread_vs_bare"]);
        add(
            "availability GET, windows over every start date, with history / bare handler",
            format!("{r:.2}×"),
            "≥ 0.8×",
            r >= 0.8,
        );
        let p = num(report, &["sqlite_1m", "availability_spread", "p99_ms"]);
        add(
            "availability p99, windows over every start date, with history",
            format!("{p:.1} ms"),
            "≤ 10 ms",
            p <= 10.0,
        );
        let errors = turn_errors(report, &["sqlite_1m", "booking_turns"])
            + num(report, &["sqlite_1m", "availability", "errors"])
            + num(report, &["sqlite_1m", "availability_spread", "errors"]);
        add(
            "errors (SQLite, with history)",
            format!("{errors}"),
            "0",
            errors == 0.0,
        );
    }
    if report.get("resources").is_some() {
        let r = num(report, &["resources", "resources_vs_seats"]);
        add(
            "availability with practitioners and rooms / without (stem-cell, 7 d)",
            format!("{r:.2}×"),
            "≥ 0.8×",
            r >= 0.8,
        );
        let created = num(report, &["resources", "practitioner_race", "created"]);
        let others = num(report, &["resources", "practitioner_race", "other_errors"]);
        add(
            "SQLite race: 64 clients for the last free doctor",
            format!("{created} created, {others} other errors"),
            "1, 0",
            created == 1.0 && others == 0.0,
        );
    }
    if report.get("postgres").is_some() {
        let r = num(report, &["postgres", "booking_one_vs_insert"]);
        add(
            "PostgreSQL booking POST / durable insert",
            format!("{r:.2}×"),
            "≥ 0.25×",
            r >= 0.25,
        );
        let r = num(report, &["postgres", "booking_one_vs_booking_transaction"]);
        add(
            "PostgreSQL booking POST / booking-shaped transaction",
            format!("{r:.2}×"),
            "≥ 0.8×",
            r >= 0.8,
        );
        let p = num(report, &["postgres", "booking_one_instance", "p99_ms"]);
        add(
            "PostgreSQL booking p99 at 64 connections",
            format!("{p:.1} ms"),
            "≤ 50 ms",
            p <= 50.0,
        );
        for (pools, key) in [
            ("a pool each as one's", "two_vs_one"),
            ("pools summing to one's", "two_half_pools_vs_one"),
        ] {
            let r = num(report, &["postgres", key]);
            add(
                &format!("PostgreSQL two instances / one (2 shared cores), {pools}"),
                format!("{r:.2}×"),
                "≥ 0.95×",
                r >= 0.95,
            );
        }
        let created = num(report, &["postgres", "practitioner_race", "created"]);
        let others = num(report, &["postgres", "practitioner_race", "other_errors"]);
        add(
            "PostgreSQL race: 64 clients for the last free doctor, two instances",
            format!("{created} created, {others} other errors"),
            "1, 0",
            created == 1.0 && others == 0.0,
        );
        let over = num(
            report,
            &["postgres", "overbooking", "duplicate_seat_claims"],
        ) + num(
            report,
            &["postgres", "overbooking", "slots_over_capacity_by_claims"],
        ) + num(
            report,
            &["postgres", "overbooking", "slots_over_capacity_by_bookings"],
        );
        let consistent = num(report, &["postgres", "overbooking", "confirmed_bookings"])
            == num(report, &["postgres", "overbooking", "created_201"]);
        add(
            "PostgreSQL overbooked slots (and 201s = stored)",
            format!("{over} ({})", if consistent { "equal" } else { "differ" }),
            "0",
            over == 0.0 && consistent,
        );
        let race = num(report, &["postgres", "race", "created"]);
        add(
            &format!("PostgreSQL race: 256 requests for 8×{CAPACITY} seats"),
            format!("{race} created"),
            &format!("{}", 8 * CAPACITY),
            race == f64::from(8 * CAPACITY),
        );
        let errors = turn_errors(report, &["postgres", "booking_one_instance_turns"])
            + turn_errors(report, &["postgres", "booking_two_instances_turns"])
            + turn_errors(
                report,
                &["postgres", "booking_two_instances_half_pools_turns"],
            )
            + num(report, &["postgres", "race", "other_errors"]);
        add(
            "errors (PostgreSQL)",
            format!("{errors}"),
            "0",
            errors == 0.0,
        );
        let m = num(report, &["postgres", "mail_one_instance", "p99_s"]);
        add(
            "mail p99 (PostgreSQL, one instance)",
            mail_p99_text(m),
            "≤ 2 s",
            m <= 2.0,
        );
        let m = num(report, &["postgres", "rush", "mail", "p99_s"]);
        add(
            "mail p99, paced rush of 200 bookings/s (PostgreSQL)",
            mail_p99_text(m),
            "≤ 2 s",
            m <= 2.0,
        );
        if report
            .get("postgres")
            .and_then(|p| p.get("booking_1m"))
            .is_some()
        {
            for (what, key, key_1m) in [
                ("booking", "booking_one_instance", "booking_1m"),
                (
                    "availability",
                    "availability_empty_in_turns",
                    "availability_1m",
                ),
            ] {
                let full = num(report, &["postgres", key_1m, "p99_ms"]);
                let empty = num(report, &["postgres", key, "p99_ms"]);
                let r = full / empty;
                add(
                    &format!("PostgreSQL {what} p99 with history / empty"),
                    format!("{r:.2}× ({full:.1} vs {empty:.1} ms)"),
                    "≤ 1.5×",
                    r <= 1.5,
                );
            }
            let r = num(report, &["postgres", "availability_spread_1m_vs_bare"]);
            if r.is_finite() {
                add(
                    "PostgreSQL availability GET, windows over every start date, with history / bare handler",
                    format!("{r:.2}×"),
                    "≥ 0.8×",
                    r >= 0.8,
                );
                let p = num(report, &["postgres", "availability_spread_1m", "p99_ms"]);
                add(
                    "PostgreSQL availability p99, windows over every start date, with history",
                    format!("{p:.1} ms"),
                    "≤ 10 ms",
                    p <= 10.0,
                );
            }
        }
    }
    rows
}

/// What a thread name in `cpu_cores_by_part` stands for.
fn part_label(name: &str) -> &str {
    match name {
        "sqlite-writer" => "SQLite writer",
        "sqlite-checkpoi" => "SQLite checkpointer",
        "sqlite-sync" => "SQLite syncer (WAL fsync)",
        "actix-server wo" => "HTTP workers",
        "service-rt" => "service runtime (mail worker, pool waits)",
        "smtp-sink" => "SMTP sink (bench)",
        "load-generator" => "load generator (bench)",
        "tokio-rt-worker" => "HTTP workers' database calls (blocking threads)",
        "other processes" => "other processes (PostgreSQL, system)",
        other => other,
    }
}

/// Where the CPU went during the booking loads, in cores.
fn cpu_table(report: &Value) -> String {
    let loads: Vec<(&str, Vec<&str>)> = vec![
        ("SQLite, empty", vec!["sqlite_empty", "booking"]),
        ("SQLite, with history", vec!["sqlite_1m", "booking"]),
        (
            "PostgreSQL, 1 instance",
            vec!["postgres", "booking_one_instance"],
        ),
        (
            "PostgreSQL, 2 instances",
            vec!["postgres", "booking_two_instances"],
        ),
        (
            "PostgreSQL, 2 instances, pools summing to one's",
            vec!["postgres", "booking_two_instances_half_pools"],
        ),
    ];
    let parts: Vec<(&str, &serde_json::Map<String, Value>)> = loads
        .iter()
        .filter_map(|(label, key)| {
            let mut path = key.clone();
            path.push("cpu_cores_by_part");
            Some((*label, get(report, &path)?.as_object()?))
        })
        .collect();
    if parts.is_empty() {
        return String::new();
    }
    // Parts that used at least 2 % of a core somewhere, busiest first.
    let mut names: Vec<(String, f64)> = Vec::new();
    for (_, by_part) in &parts {
        for (name, cores) in *by_part {
            let cores = cores.as_f64().unwrap_or(0.0);
            match names.iter_mut().find(|(n, _)| n == name) {
                Some((_, most)) => *most = most.max(cores),
                None => names.push((name.clone(), cores)),
            }
        }
    }
    names.retain(|(_, most)| *most >= 0.02);
    names.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut out = String::from("| booking load |");
    for (name, _) in &names {
        let _ = write!(out, " {} |", part_label(name));
    }
    out.push_str(" all |\n|---|");
    out.push_str(&"---:|".repeat(names.len() + 1));
    out.push('\n');
    for (label, by_part) in &parts {
        let _ = write!(out, "| {label} |");
        for (name, _) in &names {
            let cores = by_part.get(name).and_then(Value::as_f64).unwrap_or(0.0);
            let _ = write!(out, " {cores:.2} |");
        }
        let all: f64 = by_part.values().filter_map(Value::as_f64).sum();
        let _ = writeln!(out, " {all:.2} |");
    }
    out
}

fn figures_table(report: &Value) -> String {
    let mut out = String::from("| run | load | req/s | p50 ms | p99 ms | ok | errors | CPU busy | baseline | ratio |\n|---|---|---:|---:|---:|---:|---:|---:|---|---:|\n");
    let mut row = |run: &str, load: &str, key: &[&str], baseline: String, ratio: f64| {
        let _ = writeln!(
            out,
            "| {run} | {load} | {:.0} | {:.1} | {:.1} | {} | {} | {:.0} % | {baseline} | {} |",
            num(report, &[key, &["requests_per_s"]].concat()),
            num(report, &[key, &["p50_ms"]].concat()),
            num(report, &[key, &["p99_ms"]].concat()),
            num(report, &[key, &["ok"]].concat()),
            num(report, &[key, &["errors"]].concat()),
            num(report, &[key, &["cpu_busy_pct"]].concat()),
            if ratio.is_nan() {
                "".to_string()
            } else {
                format!("{ratio:.2}×")
            },
        );
    };
    for phase in ["sqlite_empty", "sqlite_1m"] {
        if report.get(phase).is_none() {
            continue;
        }
        let ins = num(report, &[phase, "baseline_insert_per_s"]);
        let busy = num(report, &[phase, "baseline_insert_busy_cpus", "per_s"]);
        let bare = num(report, &[phase, "bare_handler", "requests_per_s"]);
        row(
            phase,
            "booking POST",
            &[phase, "booking"],
            format!("durable insert {ins:.0}/s"),
            num(report, &[phase, "booking_vs_insert"]),
        );
        row(
            phase,
            "booking POST (the same load)",
            &[phase, "booking"],
            format!("durable insert, every core busy, {busy:.0}/s"),
            num(report, &[phase, "booking_vs_insert_busy_cpus"]),
        );
        row(
            phase,
            "availability GET 7 d, windows over every start date",
            &[phase, "availability_spread"],
            format!("bare handler {bare:.0}/s, in turns"),
            num(report, &[phase, "availability_spread_vs_bare"]),
        );
        row(
            phase,
            "availability GET 7 d",
            &[phase, "availability"],
            format!("bare handler {bare:.0}/s"),
            num(report, &[phase, "availability_vs_bare"]),
        );
        if get(report, &[phase, "availability_empty_in_turns"]).is_some() {
            row(
                phase,
                "availability GET 7 d, empty database, in turns with the above",
                &[phase, "availability_empty_in_turns"],
                String::new(),
                f64::NAN,
            );
        }
        row(
            phase,
            "bare handler",
            &[phase, "bare_handler"],
            String::new(),
            f64::NAN,
        );
        if get(report, &[phase, "rush"]).is_some() {
            row(
                phase,
                "booking POST, paced 200/s",
                &[phase, "rush", "booking"],
                String::new(),
                f64::NAN,
            );
        }
    }
    if report.get("postgres").is_some() {
        let ins = num(report, &["postgres", "baseline_insert_per_s"]);
        row(
            "postgres",
            "booking POST, 1 instance",
            &["postgres", "booking_one_instance"],
            format!("durable insert {ins:.0}/s"),
            num(report, &["postgres", "booking_one_vs_insert"]),
        );
        for (_, name, what) in BOOKING_SHAPED {
            let rate = num(report, &["postgres", &format!("baseline_{name}"), "per_s"]);
            row(
                "postgres",
                "booking POST, 1 instance (the same load)",
                &["postgres", "booking_one_instance"],
                format!("{what} {rate:.0}/s"),
                num(report, &["postgres", &format!("booking_one_vs_{name}")]),
            );
        }
        let one = num(
            report,
            &["postgres", "booking_one_instance", "requests_per_s"],
        );
        row(
            "postgres",
            "booking POST, 2 instances, a pool each as one's",
            &["postgres", "booking_two_instances"],
            format!("1 instance {one:.0}/s"),
            num(report, &["postgres", "two_vs_one"]),
        );
        row(
            "postgres",
            "booking POST, 2 instances, pools summing to one's",
            &["postgres", "booking_two_instances_half_pools"],
            format!("1 instance {one:.0}/s"),
            num(report, &["postgres", "two_half_pools_vs_one"]),
        );
        row(
            "postgres",
            "availability GET 7 d",
            &["postgres", "availability"],
            String::new(),
            f64::NAN,
        );
        if get(report, &["postgres", "availability_spread"]).is_some() {
            row(
                "postgres",
                "availability GET 7 d, windows over every start date",
                &["postgres", "availability_spread"],
                String::new(),
                f64::NAN,
            );
        }
        if get(report, &["postgres", "rush"]).is_some() {
            row(
                "postgres",
                "booking POST, paced 200/s",
                &["postgres", "rush", "booking"],
                String::new(),
                f64::NAN,
            );
        }
        if report
            .get("postgres")
            .and_then(|p| p.get("booking_1m"))
            .is_some()
        {
            row(
                "postgres_1m",
                "booking POST, 1 instance",
                &["postgres", "booking_1m"],
                String::new(),
                f64::NAN,
            );
            row(
                "postgres_1m",
                "availability GET 7 d",
                &["postgres", "availability_1m"],
                String::new(),
                f64::NAN,
            );
            row(
                "postgres_1m",
                "availability GET 7 d, empty database, in turns with the above",
                &["postgres", "availability_empty_in_turns"],
                String::new(),
                f64::NAN,
            );
            if get(report, &["postgres", "availability_spread_1m"]).is_some() {
                let bare = num(report, &["postgres", "bare_handler_1m", "requests_per_s"]);
                row(
                    "postgres_1m",
                    "availability GET 7 d, windows over every start date",
                    &["postgres", "availability_spread_1m"],
                    format!("bare handler {bare:.0}/s, in turns"),
                    num(report, &["postgres", "availability_spread_1m_vs_bare"]),
                );
                row(
                    "postgres_1m",
                    "bare handler",
                    &["postgres", "bare_handler_1m"],
                    String::new(),
                    f64::NAN,
                );
            }
        }
    }
    if report.get("resources").is_some() {
        let seats = num(
            report,
            &["resources", "availability_seats", "requests_per_s"],
        );
        row(
            "resources",
            "availability GET 7 d of stem-cell, seats only",
            &["resources", "availability_seats"],
            String::new(),
            f64::NAN,
        );
        row(
            "resources",
            "availability GET 7 d of stem-cell, 2 doctors, a counsellor, 2 rooms (in turns)",
            &["resources", "availability_resources"],
            format!("seats only {seats:.0}/s"),
            num(report, &["resources", "resources_vs_seats"]),
        );
    }
    let mut mail = String::from("\n| mail (201 → SMTP accepted) | p50 s | p99 s | delivered | not delivered in wait |\n|---|---:|---:|---:|---:|\n");
    for (name, path) in [
        ("SQLite, empty", vec!["sqlite_empty", "mail"]),
        ("SQLite, with history", vec!["sqlite_1m", "mail"]),
        (
            "SQLite, paced rush of 200 bookings/s",
            vec!["sqlite_empty", "rush", "mail"],
        ),
        (
            "PostgreSQL, 1 instance",
            vec!["postgres", "mail_one_instance"],
        ),
        (
            "PostgreSQL, 2 instances",
            vec!["postgres", "mail_two_instances"],
        ),
        (
            "PostgreSQL, 2 instances, pools summing to one's",
            vec!["postgres", "mail_two_instances_half_pools"],
        ),
        ("PostgreSQL, with history", vec!["postgres", "mail_1m"]),
        (
            "PostgreSQL, paced rush of 200 bookings/s",
            vec!["postgres", "rush", "mail"],
        ),
    ] {
        if let Some(m) = get(report, &path) {
            let f = |k: &str| {
                m.get(k)
                    .and_then(Value::as_f64)
                    .map(|x| format!("{x:.3}"))
                    .unwrap_or("—".into())
            };
            let _ = writeln!(
                mail,
                "| {name} | {} | {} | {} | {} |",
                f("p50_s"),
                f("p99_s"),
                m["delivered"],
                m["undelivered_within_wait"]
            );
        }
    }
    let mut statements =
        String::from("\n| statements (one round trip each) per booking | measured |\n|---|---:|\n");
    let mut any = false;
    let mut counted: Vec<(String, Vec<&str>)> = Vec::new();
    for (deployment, key) in [
        ("", "statements_per_booking"),
        (", two instances", "statements_per_booking_two_instances"),
        (
            ", two instances with pools summing to one's",
            "statements_per_booking_two_instances_half_pools",
        ),
    ] {
        for (what, field) in [
            (
                "the booking requests' own (transaction included)",
                "booking_requests",
            ),
            ("the mail workers', per booking", "mail_and_background"),
            (
                "the schedule listeners' (their NOTIFYs), per booking",
                "schedule_listener",
            ),
            (
                "write transactions (transaction ids taken), per booking",
                "write_transactions",
            ),
        ] {
            counted.push((
                format!("PostgreSQL{deployment}: {what}"),
                vec!["postgres", key, field],
            ));
        }
    }
    let shaped_keys = BOOKING_SHAPED.map(|(_, name, _)| format!("baseline_{name}"));
    for ((_, _, what), key) in BOOKING_SHAPED.iter().zip(&shaped_keys) {
        counted.push((
            format!("PostgreSQL: {what}"),
            vec!["postgres", key, "statements_per_transaction"],
        ));
    }
    for (name, path) in counted.into_iter().chain(
        [
            (
                "SQLite: the writer's (booking and mail), per booking",
                vec!["sqlite_empty", "statements_per_booking", "sqlite_writer"],
            ),
            (
                "SQLite: the HTTP workers' reads, per booking",
                vec!["sqlite_empty", "statements_per_booking", "http_workers"],
            ),
        ]
        .map(|(name, path)| (name.to_string(), path)),
    ) {
        let n = num(report, &path);
        if !n.is_nan() {
            any = true;
            let _ = writeln!(statements, "| {name} | {n:.2} |");
        }
    }
    if let Some(texts) = get(
        report,
        &["postgres", "statements_of_the_rush_bookings", "by_text"],
    )
    .and_then(Value::as_array)
    {
        statements.push_str("\nPostgreSQL, what one booking request sends (the paced rush, by the statement's first words):\n\n| statement | per booking |\n|---|---:|\n");
        for text in texts {
            let _ = writeln!(
                statements,
                "| `{}` | {:.2} |",
                text["statement"]
                    .as_str()
                    .unwrap_or("")
                    .replace('|', "\\|")
                    .replace('`', "'"),
                text["per_booking"].as_f64().unwrap_or(f64::NAN)
            );
        }
    }
    let resources_race = get(report, &["resources", "practitioner_race"]).is_some()
        || get(report, &["postgres", "practitioner_race"]).is_some();
    let mut races = String::new();
    if resources_race {
        races.push_str("\n| race for the last free doctor (stem-cell, one doctor working) | requests | 201 | 409 | other |\n|---|---:|---:|---:|---:|\n");
        for (name, key) in [
            ("SQLite, one instance", "resources"),
            ("PostgreSQL, two instances", "postgres"),
        ] {
            if let Some(race) = get(report, &[key, "practitioner_race"]) {
                let _ = writeln!(
                    races,
                    "| {name} | {} | {} | {} | {} |",
                    race["requests"], race["created"], race["conflicts_409"], race["other_errors"]
                );
            }
        }
    }
    out + &mail + if any { statements.as_str() } else { "" } + &races
}

fn targets_table(report: &Value) -> String {
    let mut out = String::from("| target | measured | wanted | met |\n|---|---|---|---|\n");
    for (what, measured, target, met) in targets(report) {
        let _ = writeln!(
            out,
            "| {what} | {measured} | {target} | {} |",
            if met { "yes" } else { "**no**" }
        );
    }
    out
}

fn main() -> anyhow::Result<()> {
    // Before any connection opens: every statement is counted.
    statements::install();
    // SQLite set up as the service sets it, before the baselines open
    // their connections.
    clinic_booking::db::sqlite_memory::configure();
    // Named, so that the CPU table tells the load generator's threads from
    // the blocking threads of the service's HTTP workers (tokio's default
    // name).
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("load-generator")
        .on_thread_start(clients_yield_to_the_service)
        .enable_all()
        .build()?
        .block_on(run())
}

/// The load generator stands in for clients on other machines, yet here it
/// shares the 2 cores with the service. As a batch thread (`SCHED_BATCH`)
/// it does not preempt the service's threads when it wakes. Without this a
/// service thread was now and then put aside for a whole scheduler tick
/// (4 ms) in the middle of requests: every read load's p99 was either
/// ~1.5 ms or ~4.5 ms from one run to the next, the bare handler's too,
/// whatever was measured. Measured (`--no-postgres --seed 20000`, two runs
/// each): without, 10 of the 20 read-load p99s printed were 4.4–4.6 ms
/// (the bare handler's in all four); with, none (1.1–2.2 ms, one 3.8).
fn clients_yield_to_the_service() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid sched_param; pid 0 names the calling
    // thread. Where it fails, the threads stay as they were.
    unsafe {
        libc::sched_setscheduler(0, libc::SCHED_BATCH, &param);
    }
}

async fn run() -> anyhow::Result<()> {
    START.with(|_| ());
    let options = Options::parse()?;
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let mut bench = Bench {
        slots: SlotSupply::new(WINDOW_DAYS),
        options,
        report: serde_json::Map::new(),
        plans: Vec::new(),
        notes: Vec::new(),
    };
    let started = Utc::now();
    bench.report.insert("machine".into(), machine());
    if bench.options.sqlite {
        bench.sqlite_phase(false).await?;
        bench.sqlite_phase(true).await?;
        bench.resources_phase().await?;
    }
    if let Some(url) = bench.options.postgres_url.clone() {
        if let Err(error) = bench.postgres_phase(&url).await {
            bench
                .notes
                .push(format!("PostgreSQL figures missing: {error:#}"));
            eprintln!("PostgreSQL phase failed: {error:#}");
        }
    }
    bench.report.insert(
        "settings".into(),
        json!({
            "connections": bench.options.connections,
            "seconds_per_load": bench.options.duration.as_secs_f64(),
            "seeded_bookings": bench.options.seed,
            "quick": bench.options.quick,
            "capacity_per_slot": CAPACITY,
            "http_workers": 2,
            "read_runs": READ_RUNS,
            "paired_turns": PAIRED_TURNS,
        }),
    );
    let report = Value::Object(bench.report.clone());
    let mut table = figures_table(&report);
    table.push('\n');
    table.push_str(&cpu_table(&report));
    table.push('\n');
    table.push_str(&targets_table(&report));
    println!("{table}");
    for (title, plans) in &bench.plans {
        println!("Query plans, {title}:");
        for (name, plan) in plans {
            println!("  {name}:\n    {}", plan.replace('\n', "\n    "));
        }
    }
    for note in &bench.notes {
        println!("note: {note}");
    }
    let summary = serde_json::to_string_pretty(&report)?;
    println!("JSON summary:\n{summary}");
    if bench.options.write_markdown {
        let mut md = String::new();
        let _ = writeln!(md, "# Benchmarks\n");
        let _ = writeln!(md, "Written by the benchmark (`bench/`, issue 7); the figures below are from one run, each ratio against a baseline measured in the same run.\n");
        let _ = writeln!(md, "- date: {}", started.format("%Y-%m-%d %H:%M UTC"));
        let _ = writeln!(md, "- machine: {} CPU cores (nproc), {} memory, load average at start {} (the cores are shared with other builds, hence ratios)", report["machine"]["nproc"], report["machine"]["memory"].as_str().unwrap_or(""), report["machine"]["loadavg_at_start"].as_str().unwrap_or(""));
        let _ = writeln!(
            md,
            "- command: `cd bench && cargo run --release -- {}`",
            command.split_once(' ').map(|(_, a)| a).unwrap_or("")
        );
        let _ = writeln!(md, "- {} connections, {} s per load, capacity {CAPACITY} per slot, 2 HTTP workers, rate limits off; each read-only load runs {READ_RUNS} times ({PAIRED_TURNS} turns each where two are compared in turns: history and an empty database, the windows over every start date and the bare handler) and the run with the median p99 counts; each SQLite booking load runs {BOOKING_TURNS} times on fresh slots, PostgreSQL's on one instance, on two with a pool each as one's and on two with pools summing to one's {INSTANCE_TURNS} times each, in turns whose order rotates and on instances started for the turn, and the turn with the median rate counts\n", bench.options.connections, bench.options.duration.as_secs_f64());
        let _ = writeln!(
            md,
            "## Figures\n\n{}\n### Where the CPU went during the booking loads (cores; 2 in all)\n\n{}\n## Targets\n\n{}",
            figures_table(&report),
            cpu_table(&report),
            targets_table(&report)
        );
        for note in &bench.notes {
            let _ = writeln!(md, "- note: {note}");
        }
        let _ = writeln!(md, "## Query plans of the hot queries\n");
        for (title, plans) in &bench.plans {
            let _ = writeln!(md, "### {title}\n");
            for (name, plan) in plans {
                let _ = writeln!(md, "{name}:\n\n```\n{plan}\n```\n");
            }
        }
        let _ = writeln!(md, "## JSON summary\n\n```json\n{summary}\n```");
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../BENCHMARKS.md");
        // Hand-written analysis (from "## Analysis" on) survives a rewrite.
        if let Ok(old) = std::fs::read_to_string(path) {
            if let Some(at) = old.find("\n## Analysis") {
                md.push_str(&old[at..]);
            }
        }
        std::fs::write(path, md).with_context(|| format!("cannot write {path}"))?;
        eprintln!("wrote {path}");
    }
    Ok(())
}
