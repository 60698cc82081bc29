/work/main/tests/e2e/target/release/deps/devcg_logic-ccb7b06f6cf45b41.d: /work/main/src/core/logic/host.rs /work/main/src/core/logic/mod.rs /work/main/src/core/logic/counter.rs /work/main/src/core/logic/parse.rs /work/main/src/core/logic/protection.rs /work/main/src/core/logic/sync.rs

/work/main/tests/e2e/target/release/deps/libdevcg_logic-ccb7b06f6cf45b41.rlib: /work/main/src/core/logic/host.rs /work/main/src/core/logic/mod.rs /work/main/src/core/logic/counter.rs /work/main/src/core/logic/parse.rs /work/main/src/core/logic/protection.rs /work/main/src/core/logic/sync.rs

/work/main/tests/e2e/target/release/deps/libdevcg_logic-ccb7b06f6cf45b41.rmeta: /work/main/src/core/logic/host.rs /work/main/src/core/logic/mod.rs /work/main/src/core/logic/counter.rs /work/main/src/core/logic/parse.rs /work/main/src/core/logic/protection.rs /work/main/src/core/logic/sync.rs

/work/main/src/core/logic/host.rs:
/work/main/src/core/logic/mod.rs:
/work/main/src/core/logic/counter.rs:
/work/main/src/core/logic/parse.rs:
/work/main/src/core/logic/protection.rs:
/work/main/src/core/logic/sync.rs:
