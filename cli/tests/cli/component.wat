;; A component where a core module is expected.
;; RUN: componentize % -o /dev/null
;; RUN: inspect %
;; RUN: run %
(component)
