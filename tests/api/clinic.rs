use crate::helpers::{spawn_app, Backend};
use serde_json::Value;

async fn the_clinic_describes_its_hours_types_and_zone(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/api/v1/clinic").await;
    assert_eq!(response.status(), 200);
    let clinic: Value = response.json().await.unwrap();
    assert_eq!(clinic["name"], "N2クリニック銀座本院");
    assert_eq!(clinic["timezone"], "Asia/Tokyo");
    assert_eq!(clinic["hours"]["open"], "10:00");
    assert_eq!(clinic["hours"]["close"], "18:30");
    assert_eq!(clinic["closed_weekdays"], serde_json::json!(["sunday"]));
    assert_eq!(clinic["slot_minutes"], 30);
    let types = clinic["consultation_types"].as_array().unwrap();
    let durations: Vec<(String, u64)> = types
        .iter()
        .map(|t| {
            (
                t["code"].as_str().unwrap().to_string(),
                t["duration_minutes"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        durations,
        vec![
            ("consultation".to_string(), 30),
            ("stem-cell".to_string(), 60),
            ("exosome".to_string(), 30),
            ("follow-up".to_string(), 30)
        ]
    );
    assert!(
        types
            .iter()
            .all(|t| !t["label"].as_str().unwrap().is_ascii()),
        "labels are Japanese"
    );
}

crate::backend_tests!(the_clinic_describes_its_hours_types_and_zone);
