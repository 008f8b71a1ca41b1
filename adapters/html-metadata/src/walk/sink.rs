//! The walk as html5ever's tree sink: the parser's steps of building the
//! tree become the walk's events, and no tree is built.
//!
//! A node appended to an open element closes the elements opened after
//! that one, as a tree walk leaves them before reaching the node, and is
//! then entered. An element keeps its name (the parser asks for it) and
//! its attributes (a second `<html>` or `<body>` tag adds the missing
//! ones) while the parser holds it; no text stays but a script's or
//! style's until it closes.
//!
//! The parser sometimes builds out of document order: it moves a node
//! already appended (misnested formatting tags), puts stray content of a
//! table before it, or reopens `<head>` for a `<meta>` met after it. Those
//! nodes are walked where they come, in the context of the elements open
//! then; a node moved after it was walked is not walked again. The
//! contents of `<template>` are not the page's: a tree walk does not reach
//! them, and neither does this one.

use std::borrow::Cow;
use std::cell::{Cell, OnceCell, RefCell};
use std::rc::Rc;

use html5ever::tendril::StrTendril;
use html5ever::tree_builder::{ElementFlags, NodeOrText, QuirksMode, TreeSink};
use html5ever::{Attribute, ExpandedName, QualName, local_name, ns};

use super::{Reading, Walker};
use crate::collected::Collected;

/// A node as the parser holds it.
type Handle = Rc<Node>;

#[derive(Debug)]
pub(crate) struct Node {
    kind: NodeKind,
    /// An element's name; empty for other nodes, whose name the parser
    /// never asks for.
    name: QualName,
    /// Walked already: appending it again is a move, not a new node.
    walked: Cell<bool>,
    /// Its place in the stack of open elements while it is open.
    open_at: Cell<Option<usize>>,
    /// Inside a `<template>`'s contents: never walked.
    inert: Cell<bool>,
    template_contents: OnceCell<Handle>,
}

#[derive(Debug)]
enum NodeKind {
    Document,
    /// Its attributes.
    Element(RefCell<Vec<Attribute>>),
    Comment(StrTendril),
    /// A template's contents, or a processing instruction.
    Other,
}

impl Node {
    fn new(kind: NodeKind, name: QualName) -> Handle {
        Rc::new(Self {
            kind,
            name,
            walked: Cell::new(false),
            open_at: Cell::new(None),
            inert: Cell::new(false),
            template_contents: OnceCell::new(),
        })
    }

    fn unnamed(kind: NodeKind) -> Handle {
        Self::new(kind, QualName::new(None, ns!(), local_name!("")))
    }
}

/// Walks the document as the parser builds it; [`TreeSink::finish`] gives
/// what the walk collected.
#[derive(Debug)]
pub(crate) struct CollectingSink {
    document: Handle,
    walker: RefCell<Walker>,
    /// The document, then the open elements the walk is inside, innermost
    /// last; `walker`'s scopes are theirs.
    open: RefCell<Vec<Handle>>,
}

impl CollectingSink {
    pub(crate) fn new(reading: Reading) -> Self {
        let document = Node::unnamed(NodeKind::Document);
        document.open_at.set(Some(0));
        Self {
            open: RefCell::new(vec![document.clone()]),
            document,
            walker: RefCell::new(Walker::new(reading)),
        }
    }

    /// Walks `child` as the last child of `parent`: when `parent` is open,
    /// the elements opened after it close first; when it is not, or is
    /// `None` (content the parser puts out of order), `child` is walked
    /// where the walk is.
    fn append_to(&self, parent: Option<&Handle>, child: NodeOrText<Handle>) {
        if parent.is_some_and(|parent| parent.inert.get()) {
            if let NodeOrText::AppendNode(node) = child {
                node.inert.set(true);
            }
            return;
        }
        if let NodeOrText::AppendNode(node) = &child
            && (node.walked.replace(true) || node.inert.get())
        {
            return;
        }
        match parent.and_then(|parent| self.open_position(parent)) {
            Some(at) => self.close_after(at),
            // Where the walk is, but never inside a script or a style: the
            // parser closed it, and its text is complete.
            None if self.walker.borrow().raw_text.is_some() => {
                let innermost = self.open.borrow().len() - 1;
                self.close_after(innermost.saturating_sub(1));
            }
            None => {}
        }
        match child {
            NodeOrText::AppendText(text) => self.walker.borrow_mut().text(&text),
            NodeOrText::AppendNode(node) => match &node.kind {
                NodeKind::Element(attributes) => {
                    self.walker
                        .borrow_mut()
                        .enter(&node.name, &attributes.borrow());
                    let mut open = self.open.borrow_mut();
                    node.open_at.set(Some(open.len()));
                    open.push(node.clone());
                }
                NodeKind::Comment(text) => self.walker.borrow_mut().comment(text),
                NodeKind::Document | NodeKind::Other => {}
            },
        }
    }

    /// Stray content of a table, which the parser puts before it: walked
    /// where the walk is, inside the table (closing the elements open
    /// since the table's parent would leave the table's rows for good).
    fn append_beside(&self, sibling: &Handle, child: NodeOrText<Handle>) {
        self.append_to(sibling.inert.get().then_some(sibling), child);
    }

    /// Where `node` is in the stack of open elements, if it is open.
    fn open_position(&self, node: &Handle) -> Option<usize> {
        let at = node.open_at.get()?;
        let open = self.open.borrow();
        open.get(at)
            .is_some_and(|open_node| Rc::ptr_eq(open_node, node))
            .then_some(at)
    }

    /// Leaves every element opened after the one at `at`.
    fn close_after(&self, at: usize) {
        let mut open = self.open.borrow_mut();
        let mut walker = self.walker.borrow_mut();
        while open.len() > at + 1 {
            if let Some(node) = open.pop() {
                node.open_at.set(None);
            }
            walker.leave();
        }
    }
}

impl TreeSink for CollectingSink {
    type Handle = Handle;
    type Output = Collected;
    type ElemName<'a> = ExpandedName<'a>;

    fn finish(self) -> Collected {
        self.close_after(0);
        self.walker.into_inner().collected
    }

    fn parse_error(&self, _message: Cow<'static, str>) {}

    fn get_document(&self) -> Handle {
        self.document.clone()
    }

    fn elem_name<'a>(&'a self, target: &'a Handle) -> ExpandedName<'a> {
        target.name.expanded()
    }

    fn create_element(
        &self,
        name: QualName,
        attributes: Vec<Attribute>,
        _flags: ElementFlags,
    ) -> Handle {
        Node::new(NodeKind::Element(RefCell::new(attributes)), name)
    }

    fn create_comment(&self, text: StrTendril) -> Handle {
        Node::unnamed(NodeKind::Comment(text))
    }

    fn create_pi(&self, _target: StrTendril, _data: StrTendril) -> Handle {
        Node::unnamed(NodeKind::Other)
    }

    fn append(&self, parent: &Handle, child: NodeOrText<Handle>) {
        self.append_to(Some(parent), child);
    }

    fn append_based_on_parent_node(
        &self,
        element: &Handle,
        _previous_element: &Handle,
        child: NodeOrText<Handle>,
    ) {
        self.append_beside(element, child);
    }

    fn append_doctype_to_document(
        &self,
        _name: StrTendril,
        _public_id: StrTendril,
        _system_id: StrTendril,
    ) {
    }

    fn get_template_contents(&self, target: &Handle) -> Handle {
        target
            .template_contents
            .get_or_init(|| {
                let contents = Node::unnamed(NodeKind::Other);
                contents.inert.set(true);
                contents
            })
            .clone()
    }

    fn same_node(&self, x: &Handle, y: &Handle) -> bool {
        Rc::ptr_eq(x, y)
    }

    fn set_quirks_mode(&self, _mode: QuirksMode) {}

    fn append_before_sibling(&self, sibling: &Handle, child: NodeOrText<Handle>) {
        self.append_beside(sibling, child);
    }

    fn add_attrs_if_missing(&self, target: &Handle, attributes: Vec<Attribute>) {
        // A second `<html>` or `<body>` tag: the attributes the first
        // lacked count as the element's.
        let NodeKind::Element(own) = &target.kind else {
            return;
        };
        if target.inert.get() {
            return;
        }
        let mut own = own.borrow_mut();
        let missing: Vec<Attribute> = attributes
            .into_iter()
            .filter(|attribute| !own.iter().any(|present| present.name == attribute.name))
            .collect();
        if target.walked.get() {
            self.walker
                .borrow_mut()
                .late_attributes(&target.name, &missing);
        }
        own.extend(missing);
    }

    fn remove_from_parent(&self, _target: &Handle) {}

    fn reparent_children(&self, _node: &Handle, _new_parent: &Handle) {}
}

#[cfg(test)]
mod tests {
    use crate::collected::Collected;
    use crate::parse;
    use crate::walk::Reading;

    fn walked(html: &str) -> Collected {
        parse::document(html, Reading::Everything)
    }

    fn hrefs(collected: &Collected) -> Vec<&str> {
        collected
            .anchors
            .iter()
            .map(|anchor| anchor.href.as_str())
            .collect()
    }

    fn assert_each_visible_once(collected: &Collected, texts: &[&str]) {
        for text in texts {
            assert_eq!(
                collected.visible_text.matches(text).count(),
                1,
                "{text} in {:?}",
                collected.visible_text
            );
        }
    }

    #[test]
    fn an_element_closes_where_the_parser_closes_it() {
        let collected = walked("<div><a href=/a>one</a> two<p>three<p>four</div>five");
        assert_eq!(collected.anchors[0].text, "one");
        let texts: Vec<&str> = collected
            .paragraphs
            .iter()
            .map(|paragraph| paragraph.text.as_str())
            .collect();
        assert_eq!(texts, ["three", "four"]);
        assert_eq!(collected.visible_text.trim(), "one two\nthree\nfour\nfive");
    }

    #[test]
    fn elements_left_open_at_the_end_are_closed() {
        let collected = walked("<title>Acme <p>Widgets and more");
        assert_eq!(collected.title.as_deref(), Some("Acme <p>Widgets and more"));
        let collected = walked("<h1>Acme<p>Widgets");
        assert_eq!(collected.first_h1.as_deref(), Some("AcmeWidgets"));
        assert_eq!(collected.paragraphs[0].text, "Widgets");
    }

    #[test]
    fn template_contents_are_not_walked() {
        let collected = walked(
            "<template><a href=/t>t</a><script src=/t.js></script>\
             <template><img src=/t.png></template></template><a href=/v>v</a>",
        );
        assert_eq!(hrefs(&collected), ["/v"]);
        assert!(collected.script_srcs.is_empty());
        assert!(collected.content_images.is_empty());
        assert_eq!(collected.visible_text.trim(), "v");
    }

    #[test]
    fn head_elements_met_after_the_head_are_read() {
        let collected = walked(
            "<head><title>Acme</title></head>\n<meta name=description content=Widgets>\
             <link rel=icon href=/f.ico><body><p>Hi",
        );
        assert!(
            collected
                .metas
                .contains(&("description".to_owned(), "Widgets".to_owned()))
        );
        assert_eq!(collected.links[0].href, "/f.ico");
        assert_eq!(collected.visible_text.trim(), "Hi");
    }

    #[test]
    fn stray_table_text_is_visible_and_never_a_script() {
        let collected = walked(
            "<table><script>var a;</script>Call 030 1234<tr><td>cell</td></tr>\
             <b>bold</b><tr><td>second</td></tr></table>",
        );
        assert_eq!(collected.inline_scripts, ["var a;"]);
        assert_each_visible_once(&collected, &["Call 030 1234", "cell", "bold", "second"]);
    }

    #[test]
    fn a_node_the_parser_moves_is_walked_once() {
        let collected = walked("<b><p>para</b>rest</p><a href=/x><div>in</a>out</div>");
        assert_each_visible_once(&collected, &["para", "rest", "in", "out"]);
    }

    #[test]
    fn a_second_html_tag_adds_what_the_first_lacked() {
        let collected = walked("<html><body><p>Hi<html lang=fr data-theme=dark>");
        assert_eq!(collected.html_lang.as_deref(), Some("fr"));
        assert!(
            collected
                .dom_markers
                .contains(&"data-theme=dark".to_owned())
        );
        let collected = walked("<html lang=de><body><p>Hi<html lang=fr>");
        assert_eq!(collected.html_lang.as_deref(), Some("de"));
    }

    #[test]
    fn a_script_longer_than_a_parse_chunk_is_read_whole() {
        let script = format!("var s = '{}';", "x".repeat(150 * 1024));
        let collected = walked(&format!("<p>a<script>{script}</script>b"));
        assert_eq!(collected.inline_scripts, [script]);
        assert_eq!(collected.visible_text.trim(), "ab");
    }

    #[test]
    fn svg_elements_are_not_the_page_s() {
        let collected = walked(
            "<svg><title>icon</title><script>svg()</script><a href=/s>s</a></svg>\
             <title>Acme</title><a href=/h>h</a>",
        );
        assert_eq!(collected.title.as_deref(), Some("Acme"));
        assert!(collected.inline_scripts.is_empty());
        assert_eq!(hrefs(&collected), ["/h"]);
    }

    #[test]
    fn a_reading_for_contacts_keeps_what_contacts_read_and_skips_the_rest() {
        let page = "<html lang=de><head><meta name=twitter:site content=@acme>\
            <link rel=icon href=/f.ico><script src=/a.js></script><script>var a;</script>\
            <script type=application/ld+json>{\"sameAs\":[]}</script><style>.x{}</style>\
            </head><body class=home data-x=1><!-- built by hand --><img src=/logo.png>\
            <a href=/kontakt>Kontakt</a> <a href=mailto:info@acme.de>Mail</a> Tel. 030 1234";
        let everything = parse::document(page, Reading::Everything);
        let contacts = parse::document(page, Reading::Contacts);
        for collected in [&everything, &contacts] {
            assert_eq!(collected.html_lang.as_deref(), Some("de"));
            assert_eq!(collected.metas.len(), 1);
            assert_eq!(collected.json_ld.len(), 1);
            assert_eq!(hrefs(collected), ["/kontakt"]);
            assert_eq!(collected.contact_links.len(), 1);
            assert_eq!(collected.visible_text, everything.visible_text);
        }
        assert!(!everything.links.is_empty());
        assert!(contacts.links.is_empty());
        assert!(!everything.script_srcs.is_empty() && !everything.inline_scripts.is_empty());
        assert!(contacts.script_srcs.is_empty() && contacts.inline_scripts.is_empty());
        assert!(!everything.inline_styles.is_empty() && contacts.inline_styles.is_empty());
        assert!(!everything.class_names.is_empty() && contacts.class_names.is_empty());
        assert!(!everything.dom_markers.is_empty() && contacts.dom_markers.is_empty());
        assert!(!everything.comments.is_empty() && contacts.comments.is_empty());
        assert!(!everything.content_images.is_empty() && contacts.content_images.is_empty());
    }
}
