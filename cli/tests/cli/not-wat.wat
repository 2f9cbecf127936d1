;; Broken text format: the error has line and column.
;; RUN: inspect %
(module (func (export "f") (result i32) i32.const))
