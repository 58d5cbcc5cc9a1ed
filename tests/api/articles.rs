//! The clinic's article as JSON and as a page.

use serde_json::Value;

use crate::helpers::{spawn_app, Backend};

const SLUG: &str = "knee-pain-and-cartilage-regeneration";

async fn the_article_is_served_as_json_with_its_references_and_links(backend: Backend) {
    let app = spawn_app(backend).await;
    let list: Value = app.get("/api/v1/articles").await.json().await.unwrap();
    let items = list["items"].as_array().unwrap();
    assert!(items.iter().any(|a| a["slug"] == SLUG));

    let response = app.get(&format!("/api/v1/articles/{SLUG}")).await;
    assert_eq!(response.status(), 200);
    let article: Value = response.json().await.unwrap();
    assert_eq!(article["slug"], SLUG);
    assert_eq!(article["title"], "痛みが軽くなる仕組みと軟骨再生の可能性");
    assert!(article["published"].as_str().is_some());
    let sections = article["sections"].as_array().unwrap();
    assert!(sections
        .iter()
        .any(|s| s["heading"] == "軟骨は本当に再生するの?"));
    assert!(sections
        .iter()
        .all(|s| s["heading"].is_string() && s["body"].is_string()));
    let references: Vec<&str> = article["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(
        references,
        vec![
            "Hunter DJ, N Engl J Med, 2009",
            "Song Y et al., Stem Cell Res Ther, 2018",
            "Jo CH et al., Stem Cells, 2014",
            "Zhang S et al., Theranostics, 2020",
        ]
    );
    let href = |rel: &str| {
        article["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == rel)
            .unwrap_or_else(|| panic!("link {rel}"))["href"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(href("reserve"), format!("/reserve?source={SLUG}"));
    assert_eq!(href("inquiry"), format!("/inquiry?source={SLUG}"));
    assert_eq!(href("stemcell"), "https://n2clinic-ginza.com/stemcell");
    assert_eq!(href("faq"), "https://n2clinic-ginza.com/faq");
    assert_eq!(href("doctor"), "https://n2clinic-ginza.com/doctor");
    assert_eq!(href("home"), "https://n2clinic-ginza.com/");
}

async fn an_unknown_article_is_a_404_problem_in_the_api_and_a_404_page_in_html(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/api/v1/articles/no-such-article").await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let response = app.get("/articles/no-such-article").await;
    assert_eq!(response.status(), 404);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("ページが見つかりません"));
}

async fn the_article_page_keeps_headings_lists_dialogue_and_references(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get(&format!("/articles/{SLUG}")).await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("<html lang=\"ja\">"));
    assert!(html.contains("<h1>痛みが軽くなる仕組みと軟骨再生の可能性</h1>"));
    assert!(html.contains("<h2>「痛み」はなぜ起こるのか?</h2>"));
    assert!(html.contains("<h3>脂肪由来間葉系幹細胞(MSC)の働き</h3>"));
    assert!(html.contains("<li>軟骨の摩耗</li>"));
    assert!(html.contains("<li>進行度</li>"));
    assert!(html.contains("<p class=\"speaker\">医師</p>"));
    assert!(html.contains("<strong>「再生医療等提供計画番号」</strong>"));
    assert!(html.contains("<li>Hunter DJ, N Engl J Med, 2009</li>"));
    assert!(html.contains("<li>Zhang S et al., Theranostics, 2020</li>"));
    assert!(html.contains(&format!("href=\"/reserve?source={SLUG}\"")));
    assert!(html.contains("href=\"https://n2clinic-ginza.com/stemcell\""));
    assert!(!html.contains("[link:"));
}

async fn the_home_page_lists_the_articles_and_links_to_the_forms(backend: Backend) {
    let app = spawn_app(backend).await;
    let html = app.get("/").await.text().await.unwrap();
    assert!(html.contains(&format!("href=\"/articles/{SLUG}\"")));
    assert!(html.contains("href=\"/reserve\""));
    assert!(html.contains("href=\"/inquiry\""));
}

crate::backend_tests!(
    the_article_is_served_as_json_with_its_references_and_links,
    an_unknown_article_is_a_404_problem_in_the_api_and_a_404_page_in_html,
    the_article_page_keeps_headings_lists_dialogue_and_references,
    the_home_page_lists_the_articles_and_links_to_the_forms,
);
