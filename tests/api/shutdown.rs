//! Graceful shutdown of the real binary: SIGTERM stops accepting, lets
//! in-flight requests finish, and loses no acknowledged booking.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{booking_body, local, manage_token, open_day};

/// Starts the binary in `dir` on a free port and returns it with its URL,
/// read from the "listening on" log line.
fn start(dir: &std::path::Path) -> (Child, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_clinic-booking"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("CLINIC__")) {
        command.env_remove(key);
    }
    let mut child = command
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env("CLINIC__SERVER__BIND", "127.0.0.1:0")
        .env("CLINIC__SERVER__PUBLIC_URL", "http://127.0.0.1")
        .env("CLINIC__SCHEDULE__CAPACITY_PER_SLOT", "100")
        .env("CLINIC__RATE_LIMIT__ENABLED", "false")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start clinic-booking");
    let stderr = child.stderr.take().expect("stderr");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let url: String = rest
                        .chars()
                        .take_while(|c| !c.is_whitespace() && *c != '"')
                        .collect();
                    let _ = sender.send(url);
                    sent = true;
                }
            }
        }
    });
    let url = receiver
        .recv_timeout(Duration::from_secs(30))
        .expect("the server says where it listens");
    (child, url)
}

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_loses_no_acknowledged_booking_and_gives_no_5xx() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, url) = start(dir.path());
    let client = reqwest::Client::new();
    let day = open_day(3);
    let times: Vec<String> = (0..17)
        .map(|i| format!("{:02}:{:02}", 10 + i / 2, (i % 2) * 30))
        .collect();

    // A slow stream of bookings from four clients; SIGTERM part-way through.
    let mut streams = Vec::new();
    for worker in 0..4 {
        let (client, url, times) = (client.clone(), url.clone(), times.clone());
        streams.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            let mut server_errors = 0;
            for round in 0..200 {
                let start = local(day, &times[(round * 4 + worker) % times.len()]);
                match client
                    .post(format!("{url}/api/v1/bookings"))
                    .json(&booking_body(&start))
                    .send()
                    .await
                {
                    Ok(response) if response.status() == 201 => {
                        acknowledged.push(response.json::<Value>().await.expect("booking body"))
                    }
                    Ok(response) if response.status().is_server_error() => server_errors += 1,
                    Ok(_) => {}
                    Err(_) => break, // refused: the server has stopped accepting
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (acknowledged, server_errors)
        }));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    terminate(&server);
    let mut acknowledged = Vec::new();
    for stream in streams {
        let (made, server_errors) = stream.await.unwrap();
        assert_eq!(server_errors, 0, "no 5xx during shutdown");
        acknowledged.extend(made);
    }
    let status = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "clean exit after SIGTERM: {status:?}");
    assert!(
        !acknowledged.is_empty(),
        "some bookings were made before the signal"
    );

    // Every acknowledged booking is there after a restart.
    let (mut again, url) = start(dir.path());
    for booking in &acknowledged {
        let reference = booking["reference"].as_str().unwrap();
        let response = client
            .get(format!(
                "{url}/api/v1/bookings/{reference}?token={}",
                manage_token(booking)
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "{reference} was acknowledged, so it must be stored"
        );
    }
    terminate(&again);
    let _ = again.wait();
}
