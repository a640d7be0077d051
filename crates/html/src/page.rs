//! The skeleton every page shares.

use crate::escape;

/// The head of a self-contained HTML5 page: title, inline stylesheet and any extra head markup.
///
/// [`Page::open`] writes everything up to and including `<body>`; the caller writes the body and ends with
/// [`Page::close`]. Tags in the head are closed XHTML-style (`<meta ... />`), so the page also parses as
/// well-formed markup.
///
/// ```
/// use tastebud_html::Page;
/// let mut h = Page::new("Tastebud dashboard")
///     .style("body{margin:0}")
///     .head("<link rel=\"icon\" href=\"data:,\" />\n")
///     .open();
/// h.push_str("<main>hello</main>\n");
/// Page::close(&mut h);
/// assert!(h.contains("<title>Tastebud dashboard</title>\n<style>body{margin:0}</style>"));
/// assert!(h.ends_with("</body>\n</html>\n"));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Page<'a> {
    title: &'a str,
    style: &'a str,
    head: &'a str,
}

impl<'a> Page<'a> {
    /// A page titled `title` (plain text: it is escaped).
    pub fn new(title: &'a str) -> Page<'a> {
        Page {
            title,
            style: "",
            head: "",
        }
    }

    /// The inline stylesheet (trusted CSS, written as is). By default, none.
    pub fn style(mut self, css: &'a str) -> Page<'a> {
        self.style = css;
        self
    }

    /// Extra trusted markup for `<head>`, written before the title (a `<meta name="generator">`, an
    /// icon). By default, none.
    pub fn head(mut self, markup: &'a str) -> Page<'a> {
        self.head = markup;
        self
    }

    /// A new string holding the page from the doctype through `<body>`.
    pub fn open(&self) -> String {
        let mut h = String::with_capacity(32 * 1024);
        h.push_str(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\" />\n",
        );
        h.push_str(self.head);
        h.push_str("<title>");
        h.push_str(&escape(self.title));
        h.push_str("</title>\n");
        if !self.style.is_empty() {
            h.push_str("<style>");
            h.push_str(self.style);
            h.push_str("</style>\n");
        }
        h.push_str("</head>\n<body>\n");
        h
    }

    /// Ends a page [`open`](Page::open) began.
    pub fn close(h: &mut String) {
        h.push_str("</body>\n</html>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::Page;

    #[test]
    fn skeleton_in_order() {
        let mut h = Page::new("A & B")
            .style("p{}")
            .head("<meta name=\"x\" />\n")
            .open();
        Page::close(&mut h);
        let order = [
            "<!DOCTYPE html>",
            "<html lang=\"en\">",
            "<head>",
            "<meta charset=\"utf-8\" />",
            "<meta name=\"x\" />",
            "<title>A &amp; B</title>",
            "<style>p{}</style>",
            "</head>",
            "<body>",
            "</body>",
            "</html>",
        ];
        let mut at = 0;
        for tag in order {
            let i = h[at..]
                .find(tag)
                .unwrap_or_else(|| panic!("{tag} missing or out of order"));
            at += i + tag.len();
        }
        assert!(h.ends_with("</html>\n"));
    }

    #[test]
    fn no_style_element_without_css() {
        assert!(!Page::new("t").open().contains("<style>"));
    }
}
