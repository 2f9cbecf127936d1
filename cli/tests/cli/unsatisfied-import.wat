;; An import that neither WIT nor the adapter provides is named.
;; RUN: componentize % -o %t/out.wasm
(module
  (import "env" "host_log" (func (param i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
  (func (export "_start") i32.const 0 call 0)
  (memory (export "memory") 1))
