;; A minimal WASI command: inspect as a core module, componentize with the command adapter,
;; run (componentized in memory; it exits with 0 through proc_exit).
;; RUN: inspect %
;; RUN: componentize % -o %t/out.wasm
;; RUN: run %
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (func (export "_start") i32.const 0 call $exit)
  (memory (export "memory") 1))
