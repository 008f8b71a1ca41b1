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
