#!/usr/bin/env bash
# Checks the Debian package as an operator would meet it (.ci/run runs this after the tests):
#   1. its file list, from `dpkg -x` into a throwaway root;
#   2. every man page renders (`man -l`, groff warnings are failures) and every completion
#      script parses (`bash -n`; `zsh -n` and `fish -n` where those shells exist);
#   3. a real `dpkg -i` on this machine: the user, the directories and their modes, the
#      conffile's owner and mode, the config checks as the service user, `systemd-analyze verify` of the
#      installed units, nothing enabled or started;
#   4. `dpkg -r` keeps the data directory and the config, `dpkg -P` removes both.
# Step 3 and 4 need root and a machine where siem-relay is not installed already (they
# install and purge it); elsewhere they are skipped with the reason, and with CI set they fail.
# Usage: bash packaging/check-deb.sh [PATH.deb]  (default: the newest target/debian/*.deb)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

fail() { echo "check-deb: FAIL: $*" >&2; exit 1; }
ok() { echo "check-deb: ok: $*"; }

deb="${1:-$(ls -t target/debian/siem-relay_*.deb 2>/dev/null | head -n 1)}"
[ -n "$deb" ] && [ -f "$deb" ] || fail "no package: run bash packaging/build-deb.sh first"
echo "check-deb: $deb ($(stat -c %s "$deb") bytes)"

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT

# 1. The file list.
dpkg-deb -x "$deb" "$root"
expected=(
    usr/bin/siem-relay
    lib/systemd/system/siem-relay.service
    lib/systemd/system/siem-relay.socket
    usr/lib/sysusers.d/siem-relay.conf
    usr/lib/tmpfiles.d/siem-relay.conf
    etc/siem-relay/siem-relay.toml
    usr/share/man/man8/siem-relay.8.gz
    usr/share/man/man8/siem-relay-run.8.gz
    usr/share/man/man8/siem-relay-check.8.gz
    usr/share/man/man8/siem-relay-ctl.8.gz
    usr/share/man/man8/siem-relay-send.8.gz
    usr/share/man/man8/siem-relay-completions.8.gz
    usr/share/man/man5/siem-relay.toml.5.gz
    usr/share/bash-completion/completions/siem-relay
    usr/share/zsh/vendor-completions/_siem-relay
    usr/share/fish/vendor_completions.d/siem-relay.fish
    usr/share/doc/siem-relay/copyright
    usr/share/doc/siem-relay/README.md
    usr/share/doc/siem-relay/CHANGELOG.md
    usr/share/doc/siem-relay/examples/qradar.toml
)
for file in "${expected[@]}"; do
    [ -f "$root/$file" ] || fail "the package lacks /$file"
done
dpkg-deb -I "$deb" conffiles | grep -qx /etc/siem-relay/siem-relay.toml || fail "the config is not a conffile"
ok "file list (${#expected[@]} files checked; $(find "$root" -type f | wc -l) files in all)"
"$root/usr/bin/siem-relay" --version | grep -Eq '^siem-relay [0-9.]+ \(commit [0-9a-f]{12}|unknown\)' \
    || fail "--version does not name the commit"
"$root/usr/bin/siem-relay" check --config "$root/etc/siem-relay/siem-relay.toml" >/dev/null \
    || fail "the packaged default config does not check"
ok "the packaged binary and default config"

# 2. Man pages and completions.
for page in "$root"/usr/share/man/man*/*.gz; do
    warnings="$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)" || fail "man -l $page failed: $warnings"
    [ -z "$warnings" ] || fail "man -l $page: $warnings"
    MANWIDTH=80 man -l "$page" 2>/dev/null | grep -q 'siem-relay' || fail "$page renders empty"
done
ok "every man page renders without a warning"
bash -n "$root/usr/share/bash-completion/completions/siem-relay" || fail "the bash completion does not parse"
if command -v zsh >/dev/null; then zsh -n "$root/usr/share/zsh/vendor-completions/_siem-relay" || fail "zsh completion"; fi
if command -v fish >/dev/null; then fish -n "$root/usr/share/fish/vendor_completions.d/siem-relay.fish" || fail "fish completion"; fi
# The bash completion completes: subcommands after `siem-relay `.
words="$(bash -c 'source "$1"; COMP_WORDS=(siem-relay ""); COMP_CWORD=1; COMP_LINE="siem-relay "; COMP_POINT=${#COMP_LINE};
    _siem__relay siem-relay "" siem-relay; printf "%s\n" "${COMPREPLY[@]}"' _ "$root/usr/share/bash-completion/completions/siem-relay")"
for sub in run check ctl send completions; do
    grep -qx "$sub" <<<"$words" || fail "bash completion does not offer $sub (offered: $(tr '\n' ' ' <<<"$words"))"
done
ok "completion scripts parse; bash offers the subcommands"

# 3. and 4. A real install, remove and purge.
skip_install() {
    if [ -n "${CI:-}" ]; then fail "cannot install for real: $*"; fi
    echo "check-deb: SKIP install/remove/purge: $*"
    exit 0
}
[ "$(id -u)" = 0 ] || skip_install "needs root"
if dpkg-query -W -f '${Status}' siem-relay 2>/dev/null | grep -q 'installed'; then
    skip_install "siem-relay is installed on this machine already, and this check purges it"
fi
[ ! -e /var/lib/siem-relay ] || skip_install "/var/lib/siem-relay exists, and this check purges it"

dpkg -i "$deb" >/dev/null || fail "dpkg -i"
getent passwd siem-relay >/dev/null || fail "postinst did not create the user"
getent group siem-relay >/dev/null || fail "postinst did not create the group"
[ "$(stat -c '%a %U %G' /etc/siem-relay/siem-relay.toml)" = "600 siem-relay root" ] \
    || fail "config mode: $(stat -c '%a %U %G' /etc/siem-relay/siem-relay.toml), expected 600 siem-relay root"
[ "$(stat -c '%a %U' /var/lib/siem-relay/sinks.d)" = "700 siem-relay" ] || fail "sinks.d: $(stat -c '%a %U' /var/lib/siem-relay/sinks.d)"
[ -d /var/log/siem-relay ] || fail "no /var/log/siem-relay"
runuser -u siem-relay -- /usr/bin/siem-relay check --config /etc/siem-relay/siem-relay.toml >/dev/null \
    || fail "the service user cannot check the installed config"
systemd-analyze verify /lib/systemd/system/siem-relay.socket /lib/systemd/system/siem-relay.service \
    || fail "systemd-analyze verify"
for unit in /etc/systemd/system/*.wants/siem-relay.* /etc/systemd/system/sockets.target.wants/siem-relay.*; do
    [ ! -e "$unit" ] || fail "the package enabled $unit"
done
ok "dpkg -i: user, directories, conffile owner-only, units verify, nothing enabled"

echo '# a run-time sink would live here' >/var/lib/siem-relay/sinks.d/kept.toml
echo '# changed by the operator' >>/etc/siem-relay/siem-relay.toml
dpkg -r siem-relay >/dev/null || fail "dpkg -r"
[ ! -e /usr/bin/siem-relay ] || fail "dpkg -r left the binary"
[ -f /var/lib/siem-relay/sinks.d/kept.toml ] || fail "dpkg -r removed the data directory"
grep -q 'changed by the operator' /etc/siem-relay/siem-relay.toml || fail "dpkg -r removed the conffile"
ok "dpkg -r keeps data and config"
dpkg -P siem-relay >/dev/null || fail "dpkg -P"
[ ! -e /var/lib/siem-relay ] || fail "dpkg -P kept /var/lib/siem-relay"
[ ! -e /etc/siem-relay/siem-relay.toml ] || fail "dpkg -P kept the conffile"
ok "dpkg -P removes data and config"
