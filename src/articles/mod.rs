//! The clinic's articles: Markdown files with TOML front matter under
//! `content/articles/`, built into the binary and parsed once at start.
//!
//! A file is `+++`, TOML front matter (`slug`, `title`, `published`,
//! `references`, `[[links]]`), `+++`, then the body: `## ` starts a section,
//! `### ` a sub-heading, lines starting with `・`, `✔` or `→` form lists, a
//! speaker line (`医師`, `患者様`) followed by its words is a dialogue line,
//! `[link:REL]` stands for the front matter's link of that `rel`, and
//! `**text**` is emphasis. Everything else is paragraphs.

mod render;

use std::sync::OnceLock;

use anyhow::{anyhow, Context};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub use render::{Block, Inline};

/// `(file name, contents)` of every file in `content/articles/`.
const SOURCES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/articles.rs"));

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Link {
    /// `reserve`, `inquiry`, `stemcell`, `faq`, `doctor`, `home`, ...
    pub rel: String,
    pub label: String,
    pub href: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Section {
    pub heading: String,
    /// The section's text as Markdown, links written out.
    pub body: String,
    #[serde(skip)]
    pub blocks: Vec<Block>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Article {
    pub slug: String,
    pub title: String,
    pub published: NaiveDate,
    /// The greeting before the first section, if any.
    pub lead: String,
    pub sections: Vec<Section>,
    pub references: Vec<String>,
    pub links: Vec<Link>,
    #[serde(skip)]
    pub lead_blocks: Vec<Block>,
}

impl Article {
    pub fn link(&self, rel: &str) -> Option<&Link> {
        self.links.iter().find(|link| link.rel == rel)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    slug: String,
    title: String,
    published: NaiveDate,
    #[serde(default)]
    references: Vec<String>,
    #[serde(default)]
    links: Vec<Link>,
}

/// Every article, newest first.
#[derive(Debug)]
pub struct Library {
    articles: Vec<Article>,
}

impl Library {
    pub fn all(&self) -> &[Article] {
        &self.articles
    }

    pub fn find(&self, slug: &str) -> Option<&Article> {
        self.articles.iter().find(|article| article.slug == slug)
    }
}

static LIBRARY: OnceLock<Result<Library, String>> = OnceLock::new();

/// The built-in articles. Start-up calls this first, so a broken article
/// file stops the service at once with a clear message instead of a 500
/// later.
pub fn library() -> anyhow::Result<&'static Library> {
    LIBRARY
        .get_or_init(|| parse_all(SOURCES).map_err(|error| format!("{error:#}")))
        .as_ref()
        .map_err(|error| anyhow!("{error}"))
}

fn parse_all(sources: &[(&str, &str)]) -> anyhow::Result<Library> {
    let mut articles = Vec::new();
    for (file, text) in sources {
        let article = parse(text).with_context(|| format!("content/articles/{file}"))?;
        if articles.iter().any(|a: &Article| a.slug == article.slug) {
            return Err(anyhow!(
                "duplicate article slug {:?} in {file}",
                article.slug
            ));
        }
        articles.push(article);
    }
    articles.sort_by(|a, b| b.published.cmp(&a.published).then(a.slug.cmp(&b.slug)));
    Ok(Library { articles })
}

/// Parses one article file.
pub fn parse(text: &str) -> anyhow::Result<Article> {
    let text = text.replace("\r\n", "\n");
    let rest = text
        .strip_prefix("+++\n")
        .ok_or_else(|| anyhow!("the file must start with a +++ line (TOML front matter)"))?;
    let (front, body) = rest
        .split_once("\n+++\n")
        .ok_or_else(|| anyhow!("the front matter is not closed by a +++ line"))?;
    let front: FrontMatter = toml::from_str(front).context("invalid front matter")?;
    let slug_ok = !front.slug.is_empty()
        && front
            .slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !slug_ok {
        return Err(anyhow!("slug {:?}: use a-z, 0-9 and -", front.slug));
    }
    let links: Vec<Link> = front
        .links
        .into_iter()
        .map(|link| Link {
            href: link.href.replace("{source}", &front.slug),
            ..link
        })
        .collect();
    let (lead, raw_sections) = split_sections(body);
    let lead = expand_links(&lead, &links)?;
    let mut sections = Vec::new();
    for (heading, raw) in raw_sections {
        let body = expand_links(&raw, &links)?;
        sections.push(Section {
            blocks: render::blocks(&body),
            heading,
            body,
        });
    }
    Ok(Article {
        slug: front.slug,
        title: front.title,
        published: front.published,
        lead_blocks: render::blocks(&lead),
        lead,
        sections,
        references: front.references,
        links,
    })
}

/// The text before the first `## ` heading, and each section's heading and
/// text.
fn split_sections(body: &str) -> (String, Vec<(String, String)>) {
    let mut lead = String::new();
    let mut sections: Vec<(String, String)> = Vec::new();
    for line in body.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            sections.push((heading.trim().to_string(), String::new()));
            continue;
        }
        let target = match sections.last_mut() {
            Some((_, text)) => text,
            None => &mut lead,
        };
        target.push_str(line);
        target.push('\n');
    }
    let tidy = |text: &str| text.trim().to_string();
    (
        tidy(&lead),
        sections
            .into_iter()
            .map(|(heading, text)| (heading, tidy(&text)))
            .collect(),
    )
}

/// Replaces each `[link:REL]` with a Markdown link to the front matter's
/// link of that `rel`; an unknown `rel` is an error in the file.
fn expand_links(text: &str, links: &[Link]) -> anyhow::Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("[link:") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "[link:".len()..];
        let end = after
            .find(']')
            .ok_or_else(|| anyhow!("unclosed [link:...]"))?;
        let rel = &after[..end];
        let link = links
            .iter()
            .find(|link| link.rel == rel)
            .ok_or_else(|| anyhow!("[link:{rel}] has no [[links]] entry with rel = {rel:?}"))?;
        out.push_str(&format!("[{}]({})", link.label, link.href));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_article_parses() {
        let library = library().unwrap();
        let article = library
            .find("knee-pain-and-cartilage-regeneration")
            .unwrap();
        assert_eq!(article.title, "痛みが軽くなる仕組みと軟骨再生の可能性");
        assert_eq!(article.references.len(), 4);
        assert_eq!(
            article.link("reserve").unwrap().href,
            "/reserve?source=knee-pain-and-cartilage-regeneration"
        );
        assert!(article.sections.len() >= 8);
    }

    #[test]
    fn an_unknown_link_rel_is_an_error() {
        let text = "+++\nslug = \"a\"\ntitle = \"t\"\npublished = \"2026-01-01\"\n+++\n## h\n[link:nope]\n";
        let error = parse(text).unwrap_err();
        assert!(format!("{error:#}").contains("nope"));
    }
}
