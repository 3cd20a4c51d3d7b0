//! Proxy edits. An [`Edit`] records patches (byte range → replacement) on
//! the original buffer; [`Edit::build`] copies the untouched spans around
//! them, so headers the proxy does not own are forwarded byte for byte.

use bytes::{BufMut, Bytes, BytesMut};
use std::fmt::Write as _;
use std::ops::Range;

use crate::message::{Key, Message};
use crate::name::{self, Known};
use crate::nameaddr::NameAddr;
use crate::text::{ListIter, ParamIter};
use crate::via::Via;

#[derive(Debug, Clone)]
struct Patch {
    start: usize,
    end: usize,
    text: Range<usize>,
}

/// A set of edits to one message. Created by [`Message::edit`].
///
/// Each method edits the *original* message, so e.g. `remove_top_via` twice
/// removes the first two Via values. `Content-Length` is owned by `build`,
/// which always writes the correct value (inserting the header if absent).
#[derive(Debug)]
pub struct Edit<'m> {
    msg: &'m Message,
    arena: String,
    patches: Vec<Patch>,
    body: Option<Bytes>,
}

impl Message {
    /// Starts editing this message.
    pub fn edit(&self) -> Edit<'_> {
        Edit {
            msg: self,
            arena: String::with_capacity(256),
            patches: Vec::with_capacity(8),
            body: None,
        }
    }
}

/// Byte ranges (relative to `value`) of each comma-separated item.
fn item_ranges(value: &str) -> impl Iterator<Item = Range<usize>> + '_ {
    let base = value.as_ptr() as usize;
    ListIter::new(value).map(move |item| {
        let s = item.as_ptr() as usize - base;
        s..s + item.len()
    })
}

impl<'m> Edit<'m> {
    fn patch(&mut self, range: Range<usize>, f: impl FnOnce(&mut String)) -> &mut Self {
        let t0 = self.arena.len();
        f(&mut self.arena);
        // Kept sorted by (start, insertion before replacement), stable for
        // equal keys, so `build` walks them in order without sorting.
        let key = (range.start, range.end != range.start);
        let pos = self
            .patches
            .partition_point(|p| (p.start, p.end != p.start) <= key);
        self.patches.insert(
            pos,
            Patch {
                start: range.start,
                end: range.end,
                text: t0..self.arena.len(),
            },
        );
        self
    }

    /// The first list item of `name` (absolute range), without allocating.
    fn first_item(&self, key: Known) -> Option<Range<usize>> {
        let is = Message::matcher(key);
        let f = self.msg.fields.iter().find(|f| is(self.msg, f))?;
        let vs = f.value.start as usize;
        let r = item_ranges(self.msg.str_at(f.value)).next()?;
        Some(vs + r.start..vs + r.end)
    }

    fn insert_line(&mut self, at: usize, name: &str, value: &str) -> &mut Self {
        self.patch(at..at, |s| {
            s.push_str(name);
            s.push_str(": ");
            s.push_str(value);
            s.push_str("\r\n");
        })
    }

    fn is_deleted(&self, r: &Range<usize>) -> bool {
        self.patches
            .iter()
            .any(|p| p.start <= r.start && r.end <= p.end && p.start < p.end)
    }

    fn first_line_of<'a>(&self, key: impl Into<Key<'a>>) -> Option<usize> {
        let is = Message::matcher(key);
        self.msg
            .fields
            .iter()
            .find(|f| is(self.msg, f))
            .map(|f| f.line.start as usize)
    }

    fn end_of_headers(&self) -> usize {
        self.msg.headers_end as usize
    }

    /// Absolute ranges of the list items of `name`, each with its field's
    /// line range.
    fn items(&self, key: Known) -> Vec<(Range<usize>, Range<usize>)> {
        let is = Message::matcher(key);
        let mut out = Vec::new();
        for f in self.msg.fields.iter().filter(|f| is(self.msg, f)) {
            let vs = f.value.start as usize;
            for r in item_ranges(self.msg.str_at(f.value)) {
                out.push((vs + r.start..vs + r.end, f.line.range()));
            }
        }
        out
    }

    /// Removes the first not-yet-removed item of a list header: the whole
    /// field when no other item of it remains, else the item and its comma.
    fn remove_first_item(&mut self, key: Known) -> &mut Self {
        let items = self.items(key);
        let Some((item, line)) = items.iter().find(|(r, _)| !self.is_deleted(r)).cloned() else {
            return self;
        };
        let next = items
            .iter()
            .find(|(r, l)| *l == line && r.start > item.start && !self.is_deleted(r))
            .map(|(r, _)| r.start);
        match next {
            Some(next) => self.patch(item.start..next, |_| {}),
            None => {
                // Earlier item deletions inside this line merge into one.
                self.patches
                    .retain(|p| !(p.start >= line.start && p.end <= line.end && p.start < p.end));
                self.patch(line, |_| {})
            }
        }
    }

    /// Prepends a Via value (e.g. `SIP/2.0/UDP gw.example.com;branch=z9hG4bK…`)
    /// as a new field above the existing ones.
    pub fn push_via(&mut self, value: &str) -> &mut Self {
        let at = self
            .first_line_of(name::VIA)
            .unwrap_or(self.msg.headers_start as usize);
        self.insert_line(at, "Via", value)
    }

    /// Removes the topmost Via value (a proxy forwarding a response).
    pub fn remove_top_via(&mut self) -> &mut Self {
        self.remove_first_item(name::VIA)
    }

    /// Sets `received` and fills a valueless `rport` on the top Via
    /// (RFC 3261 §18.2.1, RFC 3581 §4). `received: None` leaves an existing
    /// `received` alone; `rport` is only written when the client asked for
    /// it with a bare `;rport`.
    pub fn set_via_received(&mut self, received: Option<&str>, rport: Option<u16>) -> &mut Self {
        let Some(item) = self.first_item(name::VIA) else {
            return self;
        };
        let value = &self.msg.str_at(crate::message::Span {
            start: item.start as u32,
            end: item.end as u32,
        });
        let Ok(via) = Via::parse(value) else {
            return self;
        };
        let params_at = value.len() - via.params.len();
        let head = &value[..params_at];
        let params = ParamIter::new(via.params).map_while(Result::ok);
        self.patch(item, |s| {
            s.push_str(head);
            for p in params {
                let is_received = p.name.eq_ignore_ascii_case("received");
                if is_received && received.is_some() {
                    continue;
                }
                s.push(';');
                s.push_str(p.name);
                if p.name.eq_ignore_ascii_case("rport")
                    && p.value.is_none()
                    && let Some(port) = rport
                {
                    let _ = write!(s, "={port}");
                } else if let Some(v) = p.value {
                    s.push('=');
                    s.push_str(v);
                }
            }
            if let Some(r) = received {
                s.push_str(";received=");
                s.push_str(r);
            }
        })
    }

    /// Prepends a Record-Route value (e.g. `<sip:gw.example.com;lr>`).
    pub fn push_record_route(&mut self, value: &str) -> &mut Self {
        let at = self
            .first_line_of(name::RECORD_ROUTE)
            .unwrap_or(self.msg.headers_start as usize);
        self.insert_line(at, "Record-Route", value)
    }

    /// Prepends a Path value (RFC 3327, REGISTER through an edge proxy).
    pub fn push_path(&mut self, value: &str) -> &mut Self {
        let at = self
            .first_line_of(name::PATH)
            .unwrap_or(self.msg.headers_start as usize);
        self.insert_line(at, "Path", value)
    }

    /// Removes the topmost Route value (the proxy's own loose-route entry).
    pub fn remove_top_route(&mut self) -> &mut Self {
        self.remove_first_item(name::ROUTE)
    }

    /// Replaces the whole Route set with these values (top first); an empty
    /// slice just removes all Route fields.
    pub fn set_routes(&mut self, values: &[&str]) -> &mut Self {
        let at = self
            .first_line_of(name::ROUTE)
            .unwrap_or(self.end_of_headers());
        self.remove_all(name::ROUTE);
        if !values.is_empty() {
            self.patch(at..at, |s| {
                s.push_str("Route: ");
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        s.push_str(", ");
                    }
                    s.push_str(v);
                }
                s.push_str("\r\n");
            });
        }
        self
    }

    /// Decrements Max-Forwards, or inserts `Max-Forwards: 70` when absent
    /// (RFC 3261 §16.6 step 3). Zero stays zero: check for 483 before.
    pub fn decrement_max_forwards(&mut self) -> &mut Self {
        let is = Message::matcher(name::MAX_FORWARDS);
        match self.msg.fields.iter().find(|f| is(self.msg, f)) {
            Some(f) => {
                let n = self
                    .msg
                    .max_forwards()
                    .ok()
                    .flatten()
                    .unwrap_or(71)
                    .min(256);
                let range = f.value.range();
                self.patch(range, |s| {
                    let _ = write!(s, "{}", n.saturating_sub(1));
                })
            }
            None => {
                let at = self.end_of_headers();
                self.insert_line(at, "Max-Forwards", "70")
            }
        }
    }

    /// Replaces the Request-URI (no-op on responses).
    pub fn set_request_uri(&mut self, uri: &str) -> &mut Self {
        match self.msg.request_uri_span() {
            Some(r) => self.patch(r, |s| s.push_str(uri)),
            None => self,
        }
    }

    /// Replaces the URI of the `index`-th Contact value (0 = first), keeping
    /// display name and parameters. An addr-spec form gets `<>` so header
    /// parameters stay header parameters.
    pub fn set_contact_uri(&mut self, index: usize, uri: &str) -> &mut Self {
        let Some((item, _)) = self.items(name::CONTACT).into_iter().nth(index) else {
            return self;
        };
        let value = self.msg.str_at(crate::message::Span {
            start: item.start as u32,
            end: item.end as u32,
        });
        let Ok(na) = NameAddr::parse(value, "Contact") else {
            return self;
        };
        let r = item.start + na.uri_range.0..item.start + na.uri_range.1;
        let angle = na.angle;
        self.patch(r, |s| {
            if !angle {
                s.push('<');
            }
            s.push_str(uri);
            if !angle {
                s.push('>');
            }
        })
    }

    /// Appends a header field at the end of the header section.
    pub fn add_header(&mut self, name: &str, value: &str) -> &mut Self {
        let at = self.end_of_headers();
        self.insert_line(at, name, value)
    }

    /// Removes every field with this name (Content-Length is ignored: it is
    /// managed by `build`).
    pub fn remove_header(&mut self, name: &str) -> &mut Self {
        if name::known_index(name) == Some(name::CONTENT_LENGTH.idx) {
            return self;
        }
        self.remove_all(name);
        self
    }

    fn remove_all<'a>(&mut self, key: impl Into<Key<'a>>) {
        let is = Message::matcher(key);
        let lines: Vec<_> = self
            .msg
            .fields
            .iter()
            .filter(|f| is(self.msg, f))
            .map(|f| f.line.range())
            .collect();
        for l in lines {
            self.patches
                .retain(|p| !(p.start >= l.start && p.end <= l.end && p.start < p.end));
            self.patch(l, |_| {});
        }
    }

    /// Replaces all fields of this name by one field with this value, where
    /// the first one was (or at the end).
    pub fn set_header(&mut self, name: &str, value: &str) -> &mut Self {
        if name::known_index(name) == Some(name::CONTENT_LENGTH.idx) {
            return self;
        }
        let at = self.first_line_of(name).unwrap_or(self.end_of_headers());
        self.remove_all(name);
        self.insert_line(at, name, value)
    }

    /// Replaces the body (Content-Length follows).
    pub fn set_body(&mut self, body: Bytes) -> &mut Self {
        self.body = Some(body);
        self
    }

    /// Emits the edited message.
    pub fn build(&self) -> Bytes {
        let msg = self.msg;
        let raw = msg.raw();
        let body = self.body.clone().unwrap_or_else(|| msg.body());
        // Content-Length: rewrite the (first) field if the value differs, or
        // add it (streams require it; it is cheap everywhere).
        let mut digits_buf = [0u8; 20];
        let digits = decimal(body.len(), &mut digits_buf);
        let is_cl = Message::matcher(name::CONTENT_LENGTH);
        let cl = match msg.fields.iter().find(|f| is_cl(msg, f)) {
            Some(f) if msg.str_at(f.value).as_bytes() == digits => None,
            Some(f) => Some((f.value.start as usize, f.value.end as usize, false)),
            None => Some((msg.headers_end as usize, msg.headers_end as usize, true)),
        };
        let extra: usize = self.patches.iter().map(|p| p.text.len()).sum::<usize>() + 40;
        let head_end = msg.body_start as usize;
        let mut out = BytesMut::with_capacity(head_end + extra + body.len());
        let mut cursor = 0;
        // Copies the untouched bytes up to `start`, then the replacement.
        // A patch overlapping an earlier one is skipped.
        let mut emit = |out: &mut BytesMut, start: usize, end: usize, parts: &[&[u8]]| {
            if start < cursor {
                return;
            }
            out.put_slice(&raw[cursor..start]);
            for p in parts {
                out.put_slice(p);
            }
            cursor = end;
        };
        let mut cl = cl;
        for p in &self.patches {
            if let Some((s, e, line)) = cl
                && (s, e != s) < (p.start, p.end != p.start)
            {
                emit_cl(&mut out, &mut emit, s, e, line, digits);
                cl = None;
            }
            emit(
                &mut out,
                p.start,
                p.end,
                &[&self.arena.as_bytes()[p.text.clone()]],
            );
        }
        if let Some((s, e, line)) = cl {
            emit_cl(&mut out, &mut emit, s, e, line, digits);
        }
        out.put_slice(&raw[cursor.min(head_end)..head_end]);
        // A datagram whose header section lacked the empty line gets one.
        if msg.headers_unterminated() {
            out.put_slice(b"\r\n");
        }
        out.put_slice(&body);
        out.freeze()
    }
}

/// Writes the Content-Length edit: a whole new field or just the value.
fn emit_cl(
    out: &mut BytesMut,
    emit: &mut impl FnMut(&mut BytesMut, usize, usize, &[&[u8]]),
    start: usize,
    end: usize,
    whole_line: bool,
    digits: &[u8],
) {
    if whole_line {
        emit(out, start, end, &[b"Content-Length: ", digits, b"\r\n"]);
    } else {
        emit(out, start, end, &[digits]);
    }
}

/// `n` in decimal, formatted into `buf` without allocating.
fn decimal(mut n: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}
