# The recipes people type. `just --list` shows them.

# Run the worker (on the embedded SQLite default unless configured otherwise).
run *ARGS:
    cargo run --release -- worker {{ARGS}}

# Every test of the workspace (Postgres at 127.0.0.1:5432; PgBouncer installed if missing).
test *ARGS:
    bash tests/run {{ARGS}}

# Formatting, lints and docs, as CI checks them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

# The extractor over the corpus of real pages: per-field scores and misses.
eval CORPUS="../shared/corpus":
    cargo run --release -p scheduler-html-metadata --example eval -- {{CORPUS}}

# Throughput of the extractor against a plain parse of the same pages.
bench CORPUS="../shared/corpus":
    cargo bench -p scheduler-html-metadata --bench extract -- {{CORPUS}}

# The worker in service mode end to end: local HTTPS sites serving the corpus,
# a fresh database, one table of figures (`just bench-e2e --help` for options).
bench-e2e *ARGS:
    cargo run --release -p scheduler-bench-e2e -- {{ARGS}}

# What CI runs.
ci:
    bash .ci/run

# The worker's CPU profile during a benchmark run: its samples by part of
# the work (needs `perf`, Debian's package linux-perf).
profile DOMAINS="3000" *ARGS:
    RUSTFLAGS="-C force-frame-pointers=yes" cargo build --profile profiling -p scheduler-bench-e2e {{ARGS}}
    mkdir -p target/profile
    target/profiling/bench-e2e --domains {{DOMAINS}} --perf-record target/profile/worker.perf
    target/profiling/bench-e2e --attribute-profile target/profile/worker.perf

# The worker linked with each allocator, one after the other in one run
# (the C library's, jemalloc, mimalloc): CPU per domain and memory.
bench-allocators DOMAINS="2000":
    cargo build --release -p scheduler-bench-e2e --no-default-features
    cp target/release/bench-e2e target/release/bench-e2e-glibc
    cargo build --release -p scheduler-bench-e2e --no-default-features --features jemalloc
    cp target/release/bench-e2e target/release/bench-e2e-jemalloc
    cargo build --release -p scheduler-bench-e2e --no-default-features --features mimalloc
    cp target/release/bench-e2e target/release/bench-e2e-mimalloc
    cargo build --release -p scheduler-bench-e2e
    target/release/bench-e2e --domains {{DOMAINS}} \
        --worker-program glibc=target/release/bench-e2e-glibc \
        --worker-program jemalloc=target/release/bench-e2e-jemalloc \
        --worker-program mimalloc=target/release/bench-e2e-mimalloc
