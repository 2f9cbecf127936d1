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
    pub fn finish(mut self, digest: Digest) -> Result<(Inspection, Option<String>)> {
        self.parse(true)?;
        if !self.done {
            return Err(self.invalid("the binary ends early"));
        }
        let (_, reduced) = self.levels.pop().unwrap_or_default();
        let mut inspection = crate::inspect::inspect_known(&reduced, &self.what, Some(digest))?;
        inspection.size = self.size;
        let wit = match inspection.kind {
            WasmKind::CoreModule => None,
            _ => crate::wit::component_wit(&reduced, &self.what).ok(),
        };
        Ok((inspection, wit))
    }

    fn invalid(&self, reason: impl Into<String>) -> ComponentError {
        ComponentError::Invalid {
            what: self.what.clone(),
            reason: reason.into(),
        }
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
        while !self.done {
            let data = &self.buf[self.start..];
            let (consumed, payload) = match self.parser.parse(data, eof) {
                Ok(Chunk::NeedMoreData(_)) => break,
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
            self.start += consumed;
        }
        // drop what was parsed; what is left is part of one section
        self.buf.drain(..self.start);
        self.base += self.start;
        self.start = 0;
        Ok(())
    }
}

/// Append a section with id `id` and content `content` to `out`.
fn section(out: &mut Vec<u8>, id: u8, content: &[u8]) {
    out.push(id);
    (content.len() as u32).encode(out);
    out.extend_from_slice(content);
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
}
