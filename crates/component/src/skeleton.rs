//! The type skeleton of a component: the same component with every core function body
//! replaced by `unreachable` and every data segment emptied. Its types, imports, exports
//! and instantiations are the original's, so it decodes to the same WIT, while it is about
//! as large as its type information rather than its code: decoding a 100 MiB component's
//! WIT from its skeleton copies and validates kilobytes instead of the whole binary.

use wasm_encoder::reencode::{Error, Reencode, ReencodeComponent};

/// Reencodes what it is given, with bodies and data dropped.
struct Skeleton;

impl Reencode for Skeleton {
    type Error = std::convert::Infallible;

    fn parse_function_body(
        &mut self,
        code: &mut wasm_encoder::CodeSection,
        _func: wasmparser::FunctionBody<'_>,
    ) -> Result<(), Error<Self::Error>> {
        let mut f = wasm_encoder::Function::new([]);
        f.instructions().unreachable().end();
        code.function(&f);
        Ok(())
    }

    fn parse_data(
        &mut self,
        data: &mut wasm_encoder::DataSection,
        datum: wasmparser::Data<'_>,
    ) -> Result<(), Error<Self::Error>> {
        match datum.kind {
            wasmparser::DataKind::Active {
                memory_index,
                offset_expr,
            } => {
                let offset = self.const_expr(offset_expr)?;
                data.active(self.memory_index(memory_index)?, &offset, []);
            }
            wasmparser::DataKind::Passive => {
                data.passive([]);
            }
        }
        Ok(())
    }

    fn parse_custom_section(
        &mut self,
        module: &mut wasm_encoder::Module,
        section: wasmparser::CustomSectionReader<'_>,
    ) -> Result<(), Error<Self::Error>> {
        // core modules' custom sections (names, debug information) say nothing about the
        // component's type; component-level ones are kept by the component reencoder
        let _ = (module, section);
        Ok(())
    }
}

impl ReencodeComponent for Skeleton {}

/// The skeleton of component `bytes` (which must be a valid component), or `None` when it
/// cannot be reencoded (the caller then decodes the original).
pub(crate) fn of(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut component = wasm_encoder::Component::new();
    Skeleton
        .parse_component(&mut component, wasmparser::Parser::new(0), bytes)
        .ok()?;
    Some(component.finish())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_skeleton_is_a_valid_smaller_component() {
        let module = wat::parse_str(
            r#"(module
                (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
                (memory (export "memory") 1)
                (data (i32.const 0) "a lot of data that the skeleton does not need")
                (func (export "_start") i32.const 0 call 0))"#,
        )
        .unwrap();
        let component =
            crate::componentize(&module, "t.wasm", &crate::ComponentizeOptions::default())
                .unwrap()
                .bytes;
        let skeleton = super::of(&component).expect("reencodes");
        assert!(
            skeleton.len() < component.len(),
            "{} vs {}",
            skeleton.len(),
            component.len()
        );
        wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
            .validate_all(&skeleton)
            .unwrap();
        assert!(
            !skeleton.windows(20).any(|w| w == b"a lot of data that t"),
            "data segments are emptied"
        );
    }
}
