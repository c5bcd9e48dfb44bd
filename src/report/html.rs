//! A self-contained HTML page: plain CSS in the head, pictures embedded as base64 PNG data
//! URLs (or inline SVG), no scripts and no links outside the file, so it opens anywhere,
//! offline, and can be mailed or archived as one file.

use base64::Engine;
use std::fmt::Write as _;

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body { font-family: 'DejaVu Sans', 'Helvetica Neue', Arial, sans-serif; color: #1e1e1e; margin: 0; background: #f6f6f4; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 28px 60px; background: #fff; }
h1 { font-size: 28px; margin: 8px 0 4px; }
h2 { font-size: 21px; margin: 36px 0 10px; padding-top: 10px; border-top: 1px solid #ddd; }
p.lead { color: #555; margin: 0 0 12px; }
nav a { margin-right: 14px; color: #1f77b4; text-decoration: none; font-size: 14px; }
table { border-collapse: collapse; font-size: 14px; margin: 8px 0 16px; }
th, td { border-bottom: 1px solid #e4e4e4; padding: 4px 12px; text-align: right; }
th { background: #f2f2f2; }
td.l, th.l { text-align: left; }
table.kv th { background: none; font-weight: normal; color: #555; }
tr.total td { font-weight: bold; border-top: 2px solid #bbb; }
figure { margin: 12px 0 20px; }
figure img, figure svg { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 14px; margin-top: 4px; }
.note { color: #777; font-style: italic; }
";

/// An HTML page under construction: sections with headings, tables and figures.
pub struct Page {
    title: String,
    nav: Vec<(String, String)>,
    body: String,
}

impl Page {
    pub fn new(title: &str) -> Self {
        Page { title: title.to_string(), nav: Vec::new(), body: String::new() }
    }

    /// A line under the page title.
    pub fn lead(&mut self, text: &str) {
        let _ = writeln!(self.body, "<p class=\"lead\">{}</p>", escape(text));
    }

    /// Starts a section: an `<h2>` with an anchor, listed in the navigation bar.
    pub fn section(&mut self, id: &str, title: &str) {
        self.nav.push((id.to_string(), title.to_string()));
        let _ = writeln!(self.body, "<h2 id=\"{}\">{}</h2>", escape(id), escape(title));
    }

    pub fn paragraph(&mut self, text: &str) {
        let _ = writeln!(self.body, "<p>{}</p>", escape(text));
    }

    pub fn note(&mut self, text: &str) {
        let _ = writeln!(self.body, "<p class=\"note\">{}</p>", escape(text));
    }

    /// A table; the first column is left-aligned (names), the others right-aligned (numbers).
    /// Rows whose first cell starts with `=` are drawn as totals (the `=` is dropped).
    pub fn table(&mut self, headers: &[&str], rows: &[Vec<String>]) {
        self.body.push_str("<table>\n<tr>");
        for (i, h) in headers.iter().enumerate() {
            let _ = write!(self.body, "<th{}>{}</th>", if i == 0 { " class=\"l\"" } else { "" }, escape(h));
        }
        self.body.push_str("</tr>\n");
        for row in rows {
            let total = row.first().is_some_and(|c| c.starts_with('='));
            self.body.push_str(if total { "<tr class=\"total\">" } else { "<tr>" });
            for (i, cell) in row.iter().enumerate() {
                let cell = if i == 0 && total { &cell[1..] } else { cell.as_str() };
                let _ = write!(self.body, "<td{}>{}</td>", if i == 0 { " class=\"l\"" } else { "" }, escape(cell));
            }
            self.body.push_str("</tr>\n");
        }
        self.body.push_str("</table>\n");
    }

    /// A two-column table of settings: names and values, both left-aligned (values are text).
    pub fn key_values(&mut self, rows: &[(String, String)]) {
        self.body.push_str("<table class=\"kv\">\n");
        for (k, v) in rows {
            let _ =
                writeln!(self.body, "<tr><th class=\"l\">{}</th><td class=\"l\">{}</td></tr>", escape(k), escape(v));
        }
        self.body.push_str("</table>\n");
    }

    /// A PNG embedded as a data URL, with a caption.
    pub fn png(&mut self, png: &[u8], alt: &str, caption: &str) {
        let data = base64::engine::general_purpose::STANDARD.encode(png);
        let _ = writeln!(
            self.body,
            "<figure><img alt=\"{}\" src=\"data:image/png;base64,{data}\"><figcaption>{}</figcaption></figure>",
            escape(alt),
            escape(caption)
        );
    }

    /// An SVG document inlined into the page, with a caption.
    pub fn svg(&mut self, svg: &str, caption: &str) {
        // Drop an XML declaration if present: it is not allowed inside HTML.
        let svg = svg.trim_start();
        let svg =
            if svg.starts_with("<?xml") { svg.split_once("?>").map_or(svg, |(_, r)| r.trim_start()) } else { svg };
        let _ = writeln!(self.body, "<figure>{svg}<figcaption>{}</figcaption></figure>", escape(caption));
    }

    /// The whole document.
    pub fn finish(&self) -> String {
        let mut out = String::with_capacity(self.body.len() + 4096);
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n<h1>{}</h1>\n",
            escape(&self.title),
            escape(&self.title)
        );
        out.push_str("<nav>");
        for (id, title) in &self.nav {
            let _ = write!(out, "<a href=\"#{}\">{}</a>", escape(id), escape(title));
        }
        out.push_str("</nav>\n");
        out.push_str(&self.body);
        out.push_str("</main>\n</body>\n</html>\n");
        out
    }
}
