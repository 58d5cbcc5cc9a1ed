//! An article body turned into blocks a template can show: paragraphs,
//! lists, dialogue lines, sub-headings and links. Text stays text: the
//! templates escape it, so an article can never inject markup.

/// A run of text inside a paragraph or list item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inline {
    Text(String),
    Strong(String),
    LineBreak,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    Paragraph(Vec<Inline>),
    SubHeading(String),
    /// `・` items.
    Bullets(Vec<Vec<Inline>>),
    /// `✔` items: points to check.
    Checks(Vec<Vec<Inline>>),
    /// `→` items: steps that follow one another.
    Steps(Vec<Vec<Inline>>),
    /// Who speaks and what they say.
    Dialogue {
        speaker: String,
        words: Vec<Inline>,
    },
    Link {
        label: String,
        href: String,
    },
}

const SPEAKERS: [&str; 2] = ["医師", "患者様"];

/// Splits `body` at blank lines and reads each part as a block.
pub fn blocks(body: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut lines: Vec<&str> = Vec::new();
    for line in body.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            if !lines.is_empty() {
                read_block(&lines, &mut blocks);
                lines.clear();
            }
        } else {
            lines.push(line.trim_end());
        }
    }
    blocks
}

fn read_block(lines: &[&str], blocks: &mut Vec<Block>) {
    let first = lines[0];
    if let Some(heading) = first.strip_prefix("### ") {
        blocks.push(Block::SubHeading(heading.trim().to_string()));
        if lines.len() > 1 {
            read_block(&lines[1..], blocks);
        }
        return;
    }
    if SPEAKERS.contains(&first.trim()) && lines.len() > 1 {
        blocks.push(Block::Dialogue {
            speaker: first.trim().to_string(),
            words: inlines(&lines[1..]),
        });
        return;
    }
    for (marker, make) in [
        ("・", Block::Bullets as fn(Vec<Vec<Inline>>) -> Block),
        ("✔", Block::Checks),
        ("→", Block::Steps),
    ] {
        if lines.iter().all(|line| line.starts_with(marker)) {
            let items = lines
                .iter()
                .map(|line| inlines(&[line.trim_start_matches(marker).trim()]))
                .collect();
            blocks.push(make(items));
            return;
        }
    }
    if let [line] = lines {
        if let Some((label, href)) = markdown_link(line) {
            blocks.push(Block::Link { label, href });
            return;
        }
    }
    blocks.push(Block::Paragraph(inlines(lines)));
}

/// `[label](href)` filling a whole line.
fn markdown_link(line: &str) -> Option<(String, String)> {
    let inner = line.trim().strip_prefix('[')?.strip_suffix(')')?;
    let (label, href) = inner.split_once("](")?;
    Some((label.to_string(), href.to_string()))
}

/// Lines joined by line breaks, `**text**` as emphasis.
fn inlines(lines: &[&str]) -> Vec<Inline> {
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.push(Inline::LineBreak);
        }
        for (j, part) in line.split("**").enumerate() {
            if part.is_empty() {
                continue;
            }
            // Odd parts sit between a pair of `**`.
            out.push(if j % 2 == 1 {
                Inline::Strong(part.to_string())
            } else {
                Inline::Text(part.to_string())
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_dialogue_links_and_emphasis_are_recognised() {
        let body =
            "医師\n「こんにちは。」\n\n・一\n・二\n\n[予約](/reserve)\n\n**強調**です。\n二行目";
        let blocks = blocks(body);
        assert_eq!(
            blocks,
            vec![
                Block::Dialogue {
                    speaker: "医師".into(),
                    words: vec![Inline::Text("「こんにちは。」".into())]
                },
                Block::Bullets(vec![
                    vec![Inline::Text("一".into())],
                    vec![Inline::Text("二".into())]
                ]),
                Block::Link {
                    label: "予約".into(),
                    href: "/reserve".into()
                },
                Block::Paragraph(vec![
                    Inline::Strong("強調".into()),
                    Inline::Text("です。".into()),
                    Inline::LineBreak,
                    Inline::Text("二行目".into())
                ]),
            ]
        );
    }
}
