;; A module exporting the preview1 functions is an adapter; wasm-tools 1.263 panics here.
;; RUN: componentize % -o %t/out.wasm
(module
  (func (export "fd_write") (param i32 i32 i32 i32) (result i32) i32.const 0)
  (func (export "environ_get") (param i32 i32) (result i32) i32.const 0)
  (func (export "proc_exit") (param i32))
  (memory (export "memory") 1))
