//! Validation and inspection of a Wasm binary that arrives in pieces (a registry reading
//! a layer from its blob store), in memory bounded by the largest section rather than the
//! binary.
//!
//! The bytes go through wasmparser's incremental [`Parser`] and [`Validator`] as they come
//! (function bodies one at a time, as `wasm-tools validate` does), and what inspection
//! needs is kept as a *reduced* binary: every section copied, except that function bodies
//! become `unreachable`, data segments are emptied, `.debug*` custom sections keep only
//! their name and `name`/`component-name` sections only their module or component name.
//! The reduced binary has the original's kind, types, imports, exports, metadata sections
//! and custom-section names, so [`crate::inspect`] and [`crate::component_wit`] read the
//! same answers from it (tests compare both on real components and modules). Only what a
//! section being parsed holds is buffered: a code section is consumed body by body, any
//! other section whole.

use wasm_encoder::Encode as _;
use wasm_encoder::reencode::{Reencode as _, RoundtripReencoder};
use wasmparser::{
    Chunk, FuncValidatorAllocations, Parser, Payload, ValidPayload, Validator, WasmFeatures,
};
use wharf_oci::Digest;

use crate::Result;
use crate::error::ComponentError;
use crate::inspect::{Inspection, WasmKind, not_wasm};

/// Section id of a core module inside a component.
const MODULE_SECTION: u8 = 1;
/// Section id of a nested component.
const COMPONENT_SECTION: u8 = 4;
/// Section ids in a core module.
const CODE_SECTION: u8 = 10;
const DATA_SECTION: u8 = 11;

/// Validates and inspects a Wasm binary fed in pieces ([`StreamingInspector::feed`]), then
/// answers like [`crate::inspect_known`] and [`crate::component_wit`] would for the whole
/// binary ([`StreamingInspector::finish`]).
pub struct StreamingInspector {
    what: String,
    /// Bytes received and not yet parsed start at `buf[start]`; `buf[0]` is at stream
    /// offset `base`.
    buf: Vec<u8>,
    start: usize,
    base: usize,
    /// Bytes fed in all.
    size: u64,
    parser: Parser,
    /// Parsers of the enclosing modules and components.
    parsers: Vec<Parser>,
    validator: Validator,
    allocations: Option<FuncValidatorAllocations>,
    /// The reduced binary of each open module or component, outermost first, with the
    /// section id it takes in its parent.
    levels: Vec<(u8, Vec<u8>)>,
    /// Whether each open level is a core module (else a component).
    core: Vec<bool>,
    /// A large data section being read past the parser (see [`DataRewrite`]).
    rewrite: Option<DataRewrite>,
    /// Padding sections are going through the parser: not part of the reduced binary.
    padding: bool,
    /// The stubbed code section being built, and how many bodies it still expects.
    code: Option<(wasm_encoder::CodeSection, u32)>,
    /// The top-level `End` was seen.
    done: bool,
    /// The most bytes buffered at once (for measurements and tests).
    high_water: usize,
}

impl StreamingInspector {
    /// A fresh inspector; `what` names the input in errors (`wasm layer sha256:…`).
    pub fn new(what: &str) -> Self {
        StreamingInspector {
            what: what.to_owned(),
            buf: Vec::new(),
            start: 0,
            base: 0,
            size: 0,
            parser: Parser::new(0),
            parsers: Vec::new(),
            validator: Validator::new_with_features(WasmFeatures::all()),
            allocations: Some(FuncValidatorAllocations::default()),
            levels: vec![(0, Vec::new())],
            core: Vec::new(),
            rewrite: None,
            padding: false,
            code: None,
            done: false,
            high_water: 0,
        }
    }

    /// The next piece of the binary.
    ///
    /// # Errors
    /// [`ComponentError::NotWasm`] or [`ComponentError::Invalid`] as soon as the bytes so
    /// far cannot be the start of a valid binary (including bytes after its end).
    pub fn feed(&mut self, bytes: &[u8]) -> Result<()> {
        self.size += bytes.len() as u64;
        if self.done {
            if bytes.is_empty() {
                return Ok(());
            }
            return Err(self.invalid("unexpected bytes after the end of the binary"));
        }
        self.buf.extend_from_slice(bytes);
        self.high_water = self.high_water.max(self.buf.len());
        self.parse(false)
    }

    /// The most bytes held at once so far: the largest section (or function body) plus
    /// one read.
    pub fn high_water(&self) -> usize {
        self.high_water
    }

    /// End of input: the inspection of the whole binary (its size is the bytes fed; its
    /// digest is `digest`, which the caller checked) and, for a component, the WIT it was
    /// built against (`None` for a core module, or when it cannot be decoded).
    ///
    /// # Errors
    /// [`ComponentError::NotWasm`] or [`ComponentError::Invalid`] for a binary that does not
    /// validate, including one that ends early.
    pub fn finish(self, digest: Digest) -> Result<(Inspection, Option<String>)> {
        let what = self.what.clone();
        let (inspection, reduced) = self.finish_reduced(digest)?;
        let wit = match inspection.kind {
            WasmKind::CoreModule => None,
            _ => crate::wit::component_wit(&reduced, &what).ok(),
        };
        Ok((inspection, wit))
    }

    /// End of input, without the WIT decode: the inspection of the whole binary (as
    /// [`StreamingInspector::finish`]) and the reduced binary it was read from, which
    /// answers for the binary's types, imports, exports and custom sections (a cargo-auditable
    /// `.dep-v0` section included) but holds no function bodies or data.
    ///
    /// # Errors
    /// As [`StreamingInspector::finish`].
    pub fn finish_reduced(mut self, digest: Digest) -> Result<(Inspection, Vec<u8>)> {
        self.parse(true)?;
        if !self.done {
            return Err(self.invalid("the binary ends early"));
        }
        let (_, reduced) = self.levels.pop().unwrap_or_default();
        let mut inspection = crate::inspect::inspect_known(&reduced, &self.what, Some(digest))?;
        inspection.size = self.size;
        Ok((inspection, reduced))
    }

    fn invalid(&self, reason: impl Into<String>) -> ComponentError {
        ComponentError::Invalid {
            what: self.what.clone(),
            reason: reason.into(),
        }
    }

    /// Parse, validate and reduce the next payload in the buffer; false when the parser
    /// needs more bytes first.
    fn step(&mut self, eof: bool) -> Result<bool> {
        let data = &self.buf[self.start..];
        // a parser waiting for the rest of a section has already noted its order: keep the
        // state from before, so a rewritten data section is not "out of order"
        let before = self.parser.clone();
        let (consumed, payload) = match self.parser.parse(data, eof) {
            Ok(Chunk::NeedMoreData(_)) => {
                self.parser = before;
                return Ok(false);
            }
            Ok(Chunk::Parsed { consumed, payload }) => (consumed, payload),
            Err(e) => {
                return Err(ComponentError::Invalid {
                    what: self.what.clone(),
                    reason: e.to_string(),
                });
            }
        };
        let invalid = |e: wasmparser::BinaryReaderError| ComponentError::Invalid {
            what: self.what.clone(),
            reason: e.to_string(),
        };
        match self.validator.payload(&payload).map_err(invalid)? {
            ValidPayload::Ok => {}
            ValidPayload::Parser(nested) => {
                self.parsers
                    .push(std::mem::replace(&mut self.parser, nested));
            }
            ValidPayload::Func(func, body) => {
                let mut v = func.into_validator(self.allocations.take().unwrap_or_default());
                v.validate(&body).map_err(invalid)?;
                self.allocations = Some(v.into_allocations());
            }
            ValidPayload::End(_) => match self.parsers.pop() {
                Some(parent) => self.parser = parent,
                None => self.done = true,
            },
        }
        match &payload {
            Payload::ModuleSection { .. } => self.core.push(true),
            Payload::ComponentSection { .. } => self.core.push(false),
            Payload::End(_) => {
                self.core.pop();
            }
            _ => {}
        }
        if !(self.padding && matches!(payload, Payload::CustomSection(_))) {
            reduce(
                &mut self.levels,
                &mut self.code,
                &payload,
                &self.buf,
                self.base,
            )
            .map_err(|reason| ComponentError::Invalid {
                what: self.what.clone(),
                reason,
            })?;
        }
        self.start += consumed;
        Ok(true)
    }

    /// When the parser waits for a data section of a core module larger than
    /// [`REWRITE_ABOVE`], read it here instead: see [`DataRewrite`]. True when started.
    fn enter_rewrite(&mut self) -> Result<bool> {
        let at_section = self.core.last() == Some(&true)
            && self.code.is_none()
            && self.levels.last().is_some_and(|(_, out)| !out.is_empty());
        let data = &self.buf[self.start..];
        if !at_section || data.first() != Some(&DATA_SECTION) {
            return Ok(false);
        }
        let mut reader = wasmparser::BinaryReader::new(&data[1..], 0);
        let Ok(size) = reader.read_var_u32() else {
            return Ok(false);
        };
        if (size as usize) < REWRITE_ABOVE {
            return Ok(false);
        }
        let header = 1 + reader.current_position();
        self.rewrite = Some(DataRewrite {
            at: self.base + self.start,
            header,
            size: size as usize,
            read: 0,
            count: None,
            segments: 0,
            data_left: 0,
            reduced: wasm_encoder::DataSection::new(),
        });
        self.start += header;
        Ok(true)
    }

    /// Read what the buffer holds of the data section being rewritten; once it is all
    /// read, run the padding and the reduced section through the parser in its place.
    /// False when more bytes are needed.
    fn rewrite_step(&mut self, eof: bool) -> Result<bool> {
        let Some(rw) = self.rewrite.as_mut() else {
            return Ok(true);
        };
        let available = &self.buf[self.start..];
        let used = rw
            .read_from(available, eof)
            .map_err(|reason| ComponentError::Invalid {
                what: self.what.clone(),
                reason: format!("data section at offset {}: {reason}", rw.at),
            })?;
        self.start += used;
        if !rw.finished() {
            if eof {
                return Err(self.invalid("the binary ends inside its data section"));
            }
            return Ok(false);
        }
        let Some(rw) = self.rewrite.take() else {
            return Ok(true);
        };
        // the bytes after the section wait while the replacement goes through
        let rest = self.buf.split_off(self.start);
        let total = rw.header + rw.size;
        let mut content = Vec::new();
        rw.reduced.encode(&mut content);
        // `content` is the size then the segments; a gap of 1 or 2 bytes (too small for a
        // padding section) is taken up by writing the size in a longer LEB128
        let mut sized = wasmparser::BinaryReader::new(&content, 0);
        let inner = sized.read_var_u32().unwrap_or(0);
        let width = sized.current_position();
        let body = &content[width..];
        let gap = total
            .checked_sub(1 + content.len())
            .ok_or_else(|| self.invalid("a data section's segment headers do not fit in it"))?;
        let extra = if (1..=2).contains(&gap) && width + gap <= 5 {
            gap
        } else {
            0
        };
        let mut reduced = vec![DATA_SECTION];
        let mut size = leb_wide(inner, width + extra);
        reduced.append(&mut size);
        reduced.extend_from_slice(body);
        let gap = gap - extra;
        if (1..=2).contains(&gap) {
            return Err(self.invalid("a data section could not be rewritten"));
        }
        let mut offset = rw.at;
        self.padding = true;
        for piece in padding(total.saturating_sub(reduced.len())).chain(std::iter::once(reduced)) {
            let len = piece.len();
            self.buf = piece;
            self.start = 0;
            self.base = offset;
            while self.start < self.buf.len() {
                if !self.step(false)? {
                    return Err(self.invalid("a rewritten data section did not parse"));
                }
            }
            offset += len;
        }
        self.padding = false;
        self.buf = rest;
        self.start = 0;
        self.base = rw.at + total;
        Ok(true)
    }

    /// Parse, validate and reduce every payload the buffered bytes hold.
    fn parse(&mut self, eof: bool) -> Result<()> {
        // the header first, for a clear "not wasm"
        if self.base == 0 && self.start == 0 {
            let head = &self.buf[..self.buf.len().min(8)];
            let magic = &head[..head.len().min(4)];
            if !b"\0asm".starts_with(magic) {
                return Err(not_wasm(head, &self.what));
            }
            if head.len() < 8 && !eof {
                return Ok(());
            }
            if !(Parser::is_core_wasm(head) || Parser::is_component(head)) {
                return Err(not_wasm(head, &self.what));
            }
        }
        if self.core.is_empty() && self.buf.len() >= 8 {
            self.core.push(Parser::is_core_wasm(&self.buf[..8]));
        }
        while !self.done {
            if self.rewrite.is_some() {
                if self.rewrite_step(eof)? {
                    continue;
                }
                break;
            }
            if self.step(eof)? {
                continue;
            }
            if !self.enter_rewrite()? {
                break;
            }
        }
        // drop what was parsed; what is left is part of one section
        self.buf.drain(..self.start);
        self.base += self.start;
        self.start = 0;
        Ok(())
    }
}

/// Data sections larger than this are read past the parser ([`DataRewrite`]) instead of
/// being buffered whole.
const REWRITE_ABOVE: usize = 1 << 20;

/// The longest data segment header (flags, memory index, offset expression, length) read
/// before giving up on it as malformed.
const MAX_SEGMENT_HEADER: usize = 64 * 1024;

/// A large data section of a core module, read here rather than by the parser (which needs
/// a whole section in memory): segment headers are parsed and kept, segment bytes skipped
/// as they arrive. Once it is all read, the parser and validator are given in its place
/// custom sections of padding (one at a time, 64 KiB each, left out of the reduced binary)
/// and then the section with its segments emptied, together exactly as long as the
/// original, so every later offset is the original's and the validator judges the same
/// segments (data bytes are not validated, only their headers are).
struct DataRewrite {
    /// Stream offset of the section's id byte.
    at: usize,
    /// Bytes of the id and the size.
    header: usize,
    /// The size the section declares.
    size: usize,
    /// Content bytes read so far.
    read: usize,
    /// The segment count, once read.
    count: Option<u32>,
    /// Segment headers read.
    segments: u32,
    /// Bytes of the current segment still to skip.
    data_left: usize,
    /// The segments, emptied.
    reduced: wasm_encoder::DataSection,
}

impl DataRewrite {
    fn finished(&self) -> bool {
        self.read == self.size && self.data_left == 0
    }

    /// Read from `bytes` (what the buffer holds); how many were used.
    fn read_from(&mut self, bytes: &[u8], eof: bool) -> std::result::Result<usize, String> {
        let mut used = 0;
        loop {
            let left = self.size - self.read;
            let count = self.count.unwrap_or(0);
            if left == 0 {
                if self.data_left > 0 || self.count.is_none() || self.segments != count {
                    return Err(format!(
                        "the section ends inside segment {} of {count}",
                        self.segments
                    ));
                }
                return Ok(used);
            }
            let avail = &bytes[used..bytes.len().min(used + left)];
            if avail.is_empty() {
                return Ok(used);
            }
            if self.data_left > 0 {
                let n = avail.len().min(self.data_left);
                self.data_left -= n;
                self.read += n;
                used += n;
                continue;
            }
            if self.count.is_some() && self.segments == count {
                return Err(format!("{left} bytes after its {count} segments"));
            }
            let mut r = wasmparser::BinaryReader::new(avail, self.at + self.header + self.read);
            let parsed = match self.count {
                None => r
                    .read_var_u32()
                    .map(|c| self.count = Some(c))
                    .map_err(|e| (false, e.to_string())),
                Some(_) => segment_header(&mut r, &mut self.reduced).map(|len| {
                    self.segments += 1;
                    self.data_left = len as usize;
                }),
            };
            match parsed {
                Ok(()) => {
                    let n = r.current_position();
                    self.read += n;
                    used += n;
                }
                // a header cut by the end of the buffer: wait for more
                Err((false, _))
                    if !eof && avail.len() < left && avail.len() < MAX_SEGMENT_HEADER =>
                {
                    return Ok(used);
                }
                Err((_, reason)) => return Err(reason),
            }
        }
    }
}

/// Read one data segment header (wasm core spec §5.5.14) into `reduced`, emptied; returns
/// the length of its bytes. An error is `(malformed, reason)`: `malformed` when more bytes
/// cannot help, else the header may only be cut short.
fn segment_header(
    r: &mut wasmparser::BinaryReader<'_>,
    reduced: &mut wasm_encoder::DataSection,
) -> std::result::Result<u32, (bool, String)> {
    let short = |e: wasmparser::BinaryReaderError| (false, e.to_string());
    let flags = r.read_var_u32().map_err(short)?;
    let memory = match flags {
        0 => Some(0),
        1 => None,
        2 => Some(r.read_var_u32().map_err(short)?),
        _ => return Err((true, format!("invalid data segment flags {flags}"))),
    };
    if let Some(memory) = memory {
        let expr: wasmparser::ConstExpr<'_> = r.read().map_err(short)?;
        let expr = RoundtripReencoder
            .const_expr(expr)
            .map_err(|e| (true, format!("data segment offset: {e}")))?;
        reduced.active(memory, &expr, []);
    } else {
        reduced.passive([]);
    }
    r.read_var_u32().map_err(short)
}

/// Custom sections with an empty name, `len` bytes in all, in pieces of at most 64 KiB.
/// `len` is 0 or at least 3 (the smallest custom section).
fn padding(len: usize) -> impl Iterator<Item = Vec<u8>> {
    /// One section of exactly `len` bytes, when that length can be written.
    fn piece(len: usize) -> Option<Vec<u8>> {
        (1..=5).find_map(|width| {
            let filler = len.checked_sub(2 + width)?;
            let size = (filler + 1) as u32;
            let mut head = Vec::new();
            size.encode(&mut head);
            (head.len() == width).then(|| {
                let mut out = Vec::with_capacity(len);
                out.push(0);
                out.extend_from_slice(&head);
                out.push(0);
                out.resize(len, 0);
                out
            })
        })
    }
    let mut left = len;
    std::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        // a length that cannot be written alone is split off its last few bytes
        let take = match left {
            n if n > 65536 + 16 => 65536,
            n if piece(n).is_some() => n,
            n => (3..16)
                .map(|tail| n - tail)
                .find(|head| piece(*head).is_some() && piece(n - head).is_some())
                .unwrap_or(n),
        };
        left -= take;
        piece(take)
    })
}

/// Append a section with id `id` and content `content` to `out`.
fn section(out: &mut Vec<u8>, id: u8, content: &[u8]) {
    out.push(id);
    (content.len() as u32).encode(out);
    out.extend_from_slice(content);
}

/// `n` as LEB128 in exactly `width` bytes (1..=5; non-minimal when wider than needed,
/// which the binary format allows).
fn leb_wide(n: u32, width: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(width);
    let mut v = n;
    for i in 0..width {
        let more = i + 1 < width;
        out.push((v & 0x7f) as u8 | if more { 0x80 } else { 0 });
        v >>= 7;
    }
    out
}

/// Only the subsection with id 0 (the module's or component's own name) of a `name` or
/// `component-name` section's data; the rest (function, local and type names) can be
/// megabytes and says nothing about the package.
fn own_name(data: &[u8]) -> Vec<u8> {
    let mut reader = wasmparser::BinaryReader::new(data, 0);
    while !reader.eof() {
        let Ok(id) = reader.read_u8() else { break };
        let Ok(len) = reader.read_var_u32() else {
            break;
        };
        let at = reader.current_position();
        let Ok(_) = reader.read_bytes(len as usize) else {
            break;
        };
        if id == 0 {
            let mut out = vec![0];
            len.encode(&mut out);
            out.extend_from_slice(&data[at..at + len as usize]);
            return out;
        }
    }
    Vec::new()
}

/// Add what `payload` contributes to the reduced binary. `buf[0]` is at stream offset
/// `base`.
fn reduce(
    levels: &mut Vec<(u8, Vec<u8>)>,
    code: &mut Option<(wasm_encoder::CodeSection, u32)>,
    payload: &Payload<'_>,
    buf: &[u8],
    base: usize,
) -> std::result::Result<(), String> {
    let bytes = |range: std::ops::Range<usize>| &buf[range.start - base..range.end - base];
    match payload {
        Payload::ModuleSection { .. } => {
            levels.push((MODULE_SECTION, Vec::new()));
            return Ok(());
        }
        Payload::ComponentSection { .. } => {
            levels.push((COMPONENT_SECTION, Vec::new()));
            return Ok(());
        }
        Payload::End(_) => {
            if levels.len() > 1 {
                let (id, inner) = levels.pop().unwrap_or_default();
                if let Some((_, parent)) = levels.last_mut() {
                    section(parent, id, &inner);
                }
            }
            return Ok(());
        }
        _ => {}
    }
    let out = &mut levels
        .last_mut()
        .ok_or("a payload after the end of the binary")?
        .1;
    match payload {
        Payload::Version { range, .. } => out.extend_from_slice(bytes(range.clone())),
        Payload::CodeSectionStart { count, .. } => {
            *code = Some((wasm_encoder::CodeSection::new(), *count));
            if *count == 0 {
                section(out, CODE_SECTION, &[0]);
                *code = None;
            }
        }
        Payload::CodeSectionEntry(_) => {
            let (section_so_far, left) = code
                .as_mut()
                .ok_or("a function body outside a code section")?;
            let mut f = wasm_encoder::Function::new([]);
            f.instructions().unreachable().end();
            section_so_far.function(&f);
            *left -= 1;
            if *left == 0 {
                out.push(CODE_SECTION);
                section_so_far.encode(out);
                *code = None;
            }
        }
        Payload::DataSection(reader) => {
            let mut data = wasm_encoder::DataSection::new();
            for datum in reader.clone() {
                let datum = datum.map_err(|e| e.to_string())?;
                match datum.kind {
                    wasmparser::DataKind::Active {
                        memory_index,
                        offset_expr,
                    } => {
                        let offset = RoundtripReencoder
                            .const_expr(offset_expr)
                            .map_err(|e| e.to_string())?;
                        data.active(memory_index, &offset, []);
                    }
                    wasmparser::DataKind::Passive => {
                        data.passive([]);
                    }
                }
            }
            out.push(DATA_SECTION);
            data.encode(out);
        }
        Payload::CustomSection(c) => {
            let kept = match c.name() {
                "name" | "component-name" => Some(own_name(c.data())),
                n if n.starts_with(".debug") => Some(Vec::new()),
                _ => None,
            };
            match kept {
                None => section(out, 0, bytes(c.range())),
                Some(data) => {
                    let mut content = Vec::new();
                    c.name().encode(&mut content);
                    content.extend_from_slice(&data);
                    section(out, 0, &content);
                }
            }
        }
        other => {
            if let Some((id, range)) = other.as_section() {
                section(out, id, bytes(range));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::StreamingInspector;

    fn streamed(bytes: &[u8], piece: usize) -> crate::Result<(crate::Inspection, Option<String>)> {
        let mut s = StreamingInspector::new("test.wasm");
        for chunk in bytes.chunks(piece) {
            s.feed(chunk)?;
        }
        s.finish(wharf_oci::Digest::sha256_of(bytes))
    }

    #[test]
    fn a_module_streams_to_the_same_inspection() {
        let module = wat::parse_str(
            r#"(module
                (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
                (memory (export "memory") 1)
                (data (i32.const 0) "some data")
                (data "passive")
                (func (export "_start") i32.const 0 call 0)
                (func (param i32) (result i32) local.get 0))"#,
        )
        .unwrap();
        let whole = crate::inspect(&module, "test.wasm").unwrap();
        for piece in [1, 3, 7, 64, 1 << 20] {
            let (inspection, wit) = streamed(&module, piece).unwrap();
            assert_eq!(
                format!("{inspection:?}"),
                format!("{whole:?}"),
                "pieces of {piece}"
            );
            assert!(wit.is_none());
        }
    }

    #[test]
    fn broken_and_truncated_binaries_are_refused() {
        let module =
            wat::parse_str(r#"(module (func (export "f") (result i32) i32.const 1))"#).unwrap();
        let err = streamed(&module[..module.len() - 2], 4).unwrap_err();
        assert!(err.to_string().contains("not valid WebAssembly"), "{err}");
        let err = streamed(b"PK\x03\x04 a zip file", 4).unwrap_err();
        assert!(
            matches!(err, crate::ComponentError::NotWasm { .. }),
            "{err}"
        );
        // a function body that does not type-check is found while streaming
        let mut bad = module.clone();
        // the body is `i32.const 1 end`: `drop nop end` pops from an empty stack
        let at = bad.len() - 3;
        assert_eq!(bad[at], 0x41);
        bad[at] = 0x1a;
        let err = streamed(&bad, 5).unwrap_err();
        assert!(err.to_string().contains("type mismatch"), "{err}");
        // bytes after the end
        let mut longer = module.clone();
        longer.extend_from_slice(b"\0asm");
        assert!(streamed(&longer, 3).is_err());
    }

    /// A core module whose data section is larger than the rewrite threshold: one large
    /// active segment in memory 0, one in memory 1 (flags 2), one passive, a data count.
    fn module_with_large_data(len: usize) -> Vec<u8> {
        use wasm_encoder::{ConstExpr, DataCountSection, DataSection, MemorySection, MemoryType};
        let mut m = wasm_encoder::Module::new();
        let mut memories = MemorySection::new();
        let memory = MemoryType {
            minimum: (len as u64 / 65536) + 2,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        };
        memories.memory(memory).memory(memory);
        m.section(&memories);
        m.section(&DataCountSection { count: 3 });
        let mut data = DataSection::new();
        let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        data.active(0, &ConstExpr::i32_const(16), bytes.iter().copied());
        data.active(
            1,
            &ConstExpr::i32_const(8),
            b"second memory".iter().copied(),
        );
        data.passive(b"passive".iter().copied());
        m.section(&data);
        m.finish()
    }

    #[test]
    fn a_large_data_section_streams_without_being_held() {
        let module = module_with_large_data(3 << 20);
        wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
            .validate_all(&module)
            .unwrap();
        let whole = crate::inspect(&module, "test.wasm").unwrap();
        for piece in [4096, 65536, 1 << 20] {
            let mut s = StreamingInspector::new("test.wasm");
            for chunk in module.chunks(piece) {
                s.feed(chunk).unwrap();
            }
            let high_water = s.high_water();
            let (inspection, _) = s.finish(wharf_oci::Digest::sha256_of(&module)).unwrap();
            assert_eq!(
                format!("{inspection:?}"),
                format!("{whole:?}"),
                "pieces of {piece}"
            );
            assert!(
                high_water <= piece + 64 * 1024,
                "held {high_water} bytes at once with pieces of {piece}"
            );
        }
        // inside a component: a reactor module (one exported memory, 2 MiB of data)
        // componentized with the WASI adapter
        let mut m = wasm_encoder::Module::new();
        let mut memories = wasm_encoder::MemorySection::new();
        memories.memory(wasm_encoder::MemoryType {
            minimum: 40,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        m.section(&memories);
        let mut exports = wasm_encoder::ExportSection::new();
        exports.export("memory", wasm_encoder::ExportKind::Memory, 0);
        m.section(&exports);
        let mut data = wasm_encoder::DataSection::new();
        data.active(
            0,
            &wasm_encoder::ConstExpr::i32_const(0),
            (0..2 << 20).map(|i: u32| (i % 253) as u8),
        );
        m.section(&data);
        let component = crate::componentize(
            &m.finish(),
            "big.wasm",
            &crate::ComponentizeOptions::default(),
        )
        .unwrap()
        .bytes;
        let whole = crate::inspect(&component, "big component").unwrap();
        let mut s = StreamingInspector::new("big component");
        for chunk in component.chunks(65536) {
            s.feed(chunk).unwrap();
        }
        assert!(s.high_water() < 512 * 1024, "held {}", s.high_water());
        let (streamed, wit) = s.finish(whole.digest.clone()).unwrap();
        assert_eq!(format!("{streamed:?}"), format!("{whole:?}"));
        assert_eq!(wit, crate::component_wit(&component, "big component").ok());
        assert!(wit.is_some());
    }

    #[test]
    fn broken_large_data_sections_are_refused() {
        let module = module_with_large_data(2 << 20);
        // cut inside the large segment
        let err = streamed(&module[..module.len() / 2], 65536).unwrap_err();
        assert!(
            err.to_string().contains("ends inside its data section"),
            "{err}"
        );
        // the first segment claims more bytes than the section holds
        let at = module
            .windows(4)
            .position(|w| w == [0x00, 0x41, 0x10, 0x0b])
            .expect("the first segment's header")
            + 4;
        let mut longer = module.clone();
        longer[at..at + 3].copy_from_slice(&[0xff, 0xff, 0xff]); // 3 of the length's bytes
        assert!(streamed(&longer, 65536).is_err());
        // unknown segment flags
        let mut flags = module.clone();
        flags[at - 4] = 7;
        let err = streamed(&flags, 65536).unwrap_err();
        assert!(err.to_string().contains("flags"), "{err}");
    }

    #[test]
    fn padding_is_exactly_as_long_as_asked_in_custom_sections() {
        let lengths = (3..400).chain(16_380..16_400).chain(65_530..65_700).chain([
            131_072 + 130,
            1 << 20,
            (1 << 20) + 16_386,
        ]);
        for len in lengths {
            let pieces: Vec<Vec<u8>> = super::padding(len).collect();
            assert_eq!(pieces.iter().map(Vec::len).sum::<usize>(), len, "{len}");
            for p in pieces {
                let mut r = wasmparser::BinaryReader::new(&p, 0);
                assert_eq!(r.read_u8().unwrap(), 0);
                let size = r.read_var_u32().unwrap() as usize;
                assert_eq!(size, r.bytes_remaining(), "a piece of {len}");
                assert_eq!(r.read_var_u32().unwrap(), 0, "empty name");
            }
        }
    }
}
