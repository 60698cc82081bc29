/work/main/tests/e2e/target/release/deps/devcg_e2e-db3c630aed62f90a.d: src/main.rs src/cg.rs src/faults.rs src/files.rs src/heaps.rs src/kms.rs src/robust.rs src/transfer.rs src/v4l2.rs

/work/main/tests/e2e/target/release/deps/devcg_e2e-db3c630aed62f90a: src/main.rs src/cg.rs src/faults.rs src/files.rs src/heaps.rs src/kms.rs src/robust.rs src/transfer.rs src/v4l2.rs

src/main.rs:
src/cg.rs:
src/faults.rs:
src/files.rs:
src/heaps.rs:
src/kms.rs:
src/robust.rs:
src/transfer.rs:
src/v4l2.rs:
