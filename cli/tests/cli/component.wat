;; A component where a core module is expected.
;; RUN: componentize % -o %t/out.wasm
;; RUN: inspect %
;; RUN: run %
(component)
