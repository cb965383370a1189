#!/usr/bin/env bash
# Builds the Debian package into target/debian/: the release binary, then its man pages and
# shell completions generated from the binary's own CLI definition (so they cannot drift from
# it), then `cargo deb --no-build`, which takes the file list from Cargo.toml's
# [package.metadata.deb]. Needs cargo-deb (`cargo install cargo-deb --locked`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo build --release --locked --bin siem-relay
out=target/package
rm -rf "$out" target/debian
mkdir -p "$out/man" "$out/completions"
./target/release/siem-relay manpages "$out/man"
gzip -9n "$out"/man/*
./target/release/siem-relay completions bash >"$out/completions/siem-relay"
./target/release/siem-relay completions zsh >"$out/completions/_siem-relay"
./target/release/siem-relay completions fish >"$out/completions/siem-relay.fish"
# Stripped: the release profile keeps line tables for profiling, which a package does not need.
cargo deb --no-build --locked --strip
ls target/debian/siem-relay_*.deb
