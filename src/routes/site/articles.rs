//! The clinic's articles as JSON (`/api/v1/articles[/{slug}]`) and as pages
//! (`/articles/{slug}`).

use actix_web::http::header::CACHE_CONTROL;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Serialize;

use super::{date_ja, error_page, Layout, Privacy};
use crate::articles::{self, Article, Block, Inline};
use crate::error::ApiError;
use crate::state::AppState;

fn find(slug: &str) -> Result<&'static Article, ApiError> {
    articles::library()?.find(slug).ok_or(ApiError::NotFound)
}

/// Every article, newest first, in the staff lists' shape (one page).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ArticleList {
    pub items: &'static [Article],
    /// Always null: every article fits on one page.
    pub next: Option<String>,
}

/// `GET /api/v1/articles`
#[utoipa::path(get, path = "/api/v1/articles", operation_id = "listArticles", tag = "public",
    responses((status = 200, description = "Every article, newest first", body = ArticleList)))]
pub async fn list() -> Result<HttpResponse, ApiError> {
    let items = articles::library()?.all();
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "public, max-age=300"))
        .json(ArticleList { items, next: None }))
}

/// `GET /api/v1/articles/{slug}`
#[utoipa::path(get, path = "/api/v1/articles/{slug}", operation_id = "getArticle", tag = "public",
    params(("slug" = String, Path, description = "e.g. knee-pain-and-cartilage-regeneration")),
    responses(
        (status = 200, description = "The article", body = Article),
        (status = 404, description = "No article has this slug", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn show(slug: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let article = find(&slug)?;
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "public, max-age=300"))
        .json(article))
}

#[derive(Template)]
#[template(path = "article.html")]
pub struct ArticlePage {
    pub layout: Layout,
    pub article: &'static Article,
    pub published: String,
}

/// `GET /articles/{slug}`
pub async fn page(slug: web::Path<String>, state: web::Data<AppState>) -> HttpResponse {
    match find(&slug) {
        Ok(article) => super::page(
            StatusCode::OK,
            Privacy::Public,
            &ArticlePage {
                layout: Layout::of(&state),
                article,
                published: date_ja(article.published),
            },
        ),
        Err(error) => error_page(&state, &error),
    }
}
