#!/usr/bin/env bash
# Provision the real syslog receivers used by the interop integration tests:
#   * rsyslog (+ rsyslog-gnutls for RFC 5425 TLS, rsyslog-relp for imrelp), installed as
#     Debian packages;
#   * syslog-ng (syslog-ng-core), which conflicts with rsyslog as a package, so it
#     is only downloaded and unpacked into target/interop/syslog-ng and run from there:
#       LD_LIBRARY_PATH=$DIR/usr/lib/syslog-ng $DIR/usr/sbin/syslog-ng \
#           --module-path $DIR/usr/lib/syslog-ng/3.38 ...
# and the independent CEF parsers used by tests/interop/cef_parse.py:
#   * liblognorm's lognormalizer (liblognorm-utils, Debian package);
#   * the PyPI package cefp, pinned by version and hash, in a venv at target/interop/cef-venv
#     (run the script with target/interop/cef-venv/bin/python).
# and, in the same venv, the independent webhook signature verifier used by
# tests/interop/verify_webhook.py: the PyPI package standardwebhooks, pinned likewise.
#
# Idempotent and safe to run concurrently (serialised with flock). Needs root
# (or sudo) for apt-get only when something is missing. Never leaves a system
# rsyslogd running. Never removes an installed package: every install is simulated
# first (refuse-removals.sh) and refused if apt-get would remove anything (installing
# rsyslog removes an installed syslog-ng-core, for one).
#
# Exit status: 0 when both receivers, both CEF parsers and standardwebhooks are usable,
# non-zero otherwise.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/../.." && pwd)"
interop_dir="$repo_root/target/interop"
sng_dir="$interop_dir/syslog-ng"
sng_version="3.38"

log() { printf 'provision: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

mkdir -p "$interop_dir"
exec 9>"$interop_dir/.provision.lock"
flock 9

export DEBIAN_FRONTEND=noninteractive

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=(sudo -n); fi
fi

# Packages (and the files that prove they are really there).
rsyslog_pkgs=(rsyslog rsyslog-gnutls rsyslog-relp)
# Runtime libraries of the extracted syslog-ng-core that are not on a minimal system.
sng_lib_pkgs=(libivykis0 libpcre3 libnet1 libwrap0 libjson-c5 libglib2.0-0 libcap2 libssl3 libsystemd0)
# The example configs use the system trust store for TLS sinks; `check` reads it.
sng_lib_pkgs+=(ca-certificates)

pkg_installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = "installed" ]
}

# Temporarily forbid maintainer scripts from starting services (rsyslog's postinst
# would otherwise start a system rsyslogd through invoke-rc.d when there is no
# systemd). An existing policy-rc.d is left alone.
policy_created=0
cleanup_policy() {
    if [ "$policy_created" = 1 ]; then
        "${SUDO[@]}" rm -f /usr/sbin/policy-rc.d || true
    fi
}
trap cleanup_policy EXIT

block_service_starts() {
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\n# temporary, created by siem-relay tests/interop/provision.sh\nexit 101\n' \
            | "${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null
        "${SUDO[@]}" chmod 755 /usr/sbin/policy-rc.d
        policy_created=1
    fi
}

apt_install() {
    local missing=()
    local p
    for p in "$@"; do
        pkg_installed "$p" || missing+=("$p")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    log "installing: ${missing[*]}"
    # Never remove a package the user has (apt-get would, to resolve a conflict): simulate
    # first and refuse. Status 2: no package lists yet, so update and simulate again.
    local refused=0
    bash "$script_dir/refuse-removals.sh" "${missing[@]}" || refused=$?
    if [ "$refused" = 2 ]; then
        log "apt-get cannot plan the install; running apt-get update"
        "${SUDO[@]}" apt-get update -q -o DPkg::Lock::Timeout=300 >"$interop_dir/apt-update.log" 2>&1 \
            || { cat "$interop_dir/apt-update.log" >&2; die "apt-get update failed"; }
        refused=0
        bash "$script_dir/refuse-removals.sh" "${missing[@]}" || refused=$?
    fi
    [ "$refused" = 0 ] || exit 1
    block_service_starts
    local opts=(-y -q --no-install-recommends -o DPkg::Lock::Timeout=300
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    if ! "${SUDO[@]}" apt-get install "${opts[@]}" "${missing[@]}" >"$interop_dir/apt-install.log" 2>&1; then
        log "apt-get install failed; running apt-get update and retrying"
        "${SUDO[@]}" apt-get update -q -o DPkg::Lock::Timeout=300 >"$interop_dir/apt-update.log" 2>&1 \
            || { cat "$interop_dir/apt-update.log" >&2; die "apt-get update failed"; }
        # New package lists can plan differently: ask again.
        bash "$script_dir/refuse-removals.sh" "${missing[@]}" || exit 1
        "${SUDO[@]}" apt-get install "${opts[@]}" "${missing[@]}" >"$interop_dir/apt-install.log" 2>&1 \
            || { cat "$interop_dir/apt-install.log" >&2; die "apt-get install ${missing[*]} failed"; }
    fi
}

# Pids of rsyslogd processes running the system configuration (no -f: the test
# receivers always pass -f).
system_rsyslogd_pids() {
    local d pid cmd
    for d in /proc/[0-9]*; do
        pid="${d#/proc/}"
        [ "$( { cat "$d/comm"; } 2>/dev/null || true)" = "rsyslogd" ] || continue
        cmd="$( { tr '\0' ' ' <"$d/cmdline"; } 2>/dev/null || true)"
        case " $cmd " in
            *" -f "*) continue ;;
        esac
        echo "$pid"
    done
}

# Stop a system rsyslogd that the package install started (there is no systemd here,
# so it would come from /etc/init.d/rsyslog via invoke-rc.d if policy-rc.d allowed it).
# Only pids that were not there before the install are touched.
stop_new_system_rsyslogd() {
    local before="$1" pid
    for pid in $(system_rsyslogd_pids); do
        case " $before " in
            *" $pid "*) continue ;;
        esac
        log "stopping system rsyslogd (pid $pid) started by the package install"
        "${SUDO[@]}" kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            [ -e "/proc/$pid" ] || break
            sleep 0.1
        done
        [ -e "/proc/$pid" ] && "${SUDO[@]}" kill -9 "$pid" 2>/dev/null || true
    done
    if [ -n "$(system_rsyslogd_pids)" ]; then
        log "WARNING: a system rsyslogd is running (pids: $(system_rsyslogd_pids | tr '\n' ' ')); not started by this script, left alone"
    fi
}

# ---------------------------------------------------------------- rsyslog ---
need_rsyslog=0
for p in "${rsyslog_pkgs[@]}"; do pkg_installed "$p" || need_rsyslog=1; done
[ -x /usr/sbin/rsyslogd ] || need_rsyslog=1
[ -e /usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so ] || [ -n "$(find /usr/lib -name lmnsd_gtls.so 2>/dev/null | head -n1)" ] || need_rsyslog=1
[ -n "$(find /usr/lib -name imrelp.so 2>/dev/null | head -n1)" ] || need_rsyslog=1

all_pkgs=("${sng_lib_pkgs[@]}")
[ "$need_rsyslog" = 1 ] && all_pkgs=("${rsyslog_pkgs[@]}" "${all_pkgs[@]}")
rsyslogd_before="$(system_rsyslogd_pids | tr '\n' ' ')"
apt_install "${all_pkgs[@]}"
stop_new_system_rsyslogd "$rsyslogd_before"

[ -x /usr/sbin/rsyslogd ] || die "/usr/sbin/rsyslogd missing after install"
find /usr/lib -name lmnsd_gtls.so 2>/dev/null | grep -q . || die "rsyslog gtls network stream driver (lmnsd_gtls.so) missing"
find /usr/lib -name imrelp.so 2>/dev/null | grep -q . || die "rsyslog RELP input (imrelp.so, package rsyslog-relp) missing"

# -------------------------------------------------------------- syslog-ng ---
sng_bin="$sng_dir/usr/sbin/syslog-ng"
sng_mod="$sng_dir/usr/lib/syslog-ng/$sng_version"
sng_ok() {
    [ -x "$sng_bin" ] && [ -e "$sng_mod/libafsocket.so" ] && [ -e "$sng_mod/libjson-plugin.so" ] \
        && [ -e "$sng_mod/libsyslogformat.so" ] && [ -e "$sng_dir/.complete" ]
}
if ! sng_ok; then
    log "downloading and unpacking syslog-ng-core into $sng_dir"
    dl="$(mktemp -d "$interop_dir/dl.XXXXXX")"
    # apt-get download drops privileges to _apt when it can; let it write here.
    chmod 777 "$dl"
    if ! (cd "$dl" && apt-get download -q syslog-ng-core >"$dl/download.log" 2>&1); then
        log "apt-get download failed; running apt-get update and retrying"
        "${SUDO[@]}" apt-get update -q -o DPkg::Lock::Timeout=300 >"$interop_dir/apt-update.log" 2>&1 \
            || { cat "$interop_dir/apt-update.log" >&2; die "apt-get update failed"; }
        (cd "$dl" && apt-get download -q syslog-ng-core >"$dl/download.log" 2>&1) \
            || { cat "$dl/download.log" >&2; rm -rf "$dl"; die "apt-get download syslog-ng-core failed"; }
    fi
    rm -rf "$sng_dir.tmp"
    mkdir -p "$sng_dir.tmp"
    dpkg -x "$dl"/syslog-ng-core_*.deb "$sng_dir.tmp"
    ls "$dl"/syslog-ng-core_*.deb | xargs -n1 basename >"$sng_dir.tmp/.complete"
    rm -rf "$sng_dir" "$dl"
    mv "$sng_dir.tmp" "$sng_dir"
fi
sng_ok || die "syslog-ng tree at $sng_dir is incomplete"
[ -d "$sng_mod" ] || die "syslog-ng module dir $sng_mod missing (package version changed?)"

# Every shared object of the extracted tree must resolve.
unresolved="$(
    for f in "$sng_bin" "$sng_mod"/libafsocket.so "$sng_mod"/libjson-plugin.so "$sng_mod"/libsyslogformat.so; do
        LD_LIBRARY_PATH="$sng_dir/usr/lib/syslog-ng" ldd "$f" 2>/dev/null | grep 'not found' || true
    done | sort -u
)"
[ -z "$unresolved" ] || die "syslog-ng libraries not resolvable: $unresolved"

# Smoke test: syslog-ng must load a configuration with a TLS syslog() source and format-json.
smoke="$(mktemp -d "$interop_dir/smoke.XXXXXX")"
: >"$smoke/k.pem"; : >"$smoke/c.pem" # --syntax-only only checks that they exist
cat >"$smoke/s.conf" <<EOF
@version: $sng_version
options { use-dns(no); };
source s { syslog(ip("127.0.0.1") port(0) transport("tls")
    tls(key-file("$smoke/k.pem") cert-file("$smoke/c.pem") peer-verify(optional-untrusted))); };
destination d { file("$smoke/out" template("\$(format-json --scope rfc5424)\n")); };
log { source(s); destination(d); };
EOF
if ! LD_LIBRARY_PATH="$sng_dir/usr/lib/syslog-ng" "$sng_bin" --module-path "$sng_mod" \
    --cfgfile "$smoke/s.conf" --syntax-only >"$smoke/out.log" 2>&1; then
    cat "$smoke/out.log" >&2
    rm -rf "$smoke"
    die "syslog-ng from $sng_dir cannot load a TLS/format-json configuration"
fi
rm -rf "$smoke"

# ------------------------------------------------------------ CEF parsers ---
cef_venv="$interop_dir/cef-venv"
cefp_version="0.0.2"
# cefp is published as an sdist only; the hash pins that file.
cefp_req="cefp==$cefp_version --hash=sha256:78727a9fe29e14f28d976b261acc13994cdddb88d3db44b318a834aed0d86fc4"
# The Standard Webhooks reference library (no dependencies); the hash pins its only wheel
# (py3-none-any). A venv made before it was added fails cef_venv_ok and is made anew.
swh_version="1.1.0"
swh_req="standardwebhooks==$swh_version --hash=sha256:9a88d48a1f198be61517fc7ad328cf58ba02b73f0fbd8941d4213e9c0b6c2a61"

apt_install liblognorm-utils
command -v lognormalizer >/dev/null 2>&1 || die "lognormalizer missing after installing liblognorm-utils"

cef_venv_ok() {
    [ -e "$cef_venv/.complete" ] && [ -x "$cef_venv/bin/python" ] \
        && "$cef_venv/bin/python" -c 'import sys, cefp, standardwebhooks.webhooks, importlib.metadata as m
sys.exit(m.version("cefp") != sys.argv[1] or m.version("standardwebhooks") != sys.argv[2])' \
            "$cefp_version" "$swh_version" >/dev/null 2>&1
}
if ! cef_venv_ok; then
    log "creating $cef_venv with cefp $cefp_version and standardwebhooks $swh_version"
    cef_python=""
    for py in python3 /usr/bin/python3; do
        if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import venv, ensurepip' >/dev/null 2>&1; then
            cef_python="$py"
            break
        fi
    done
    if [ -z "$cef_python" ]; then
        apt_install python3-venv
        cef_python=/usr/bin/python3
    fi
    rm -rf "$cef_venv"
    "$cef_python" -m venv "$cef_venv" >"$interop_dir/cef-venv.log" 2>&1 \
        || { cat "$interop_dir/cef-venv.log" >&2; die "cannot create venv $cef_venv with $cef_python"; }
    printf '%s\n' "$cefp_req" "$swh_req" >"$cef_venv/requirements.txt"
    # Build the sdist with the venv's own setuptools when it can build wheels (setuptools 70.1+,
    # or with the wheel package; a venv of a Python outside Debian may have neither): no
    # download of a backend. Otherwise pip fetches one (build isolation).
    build_opts=(--no-build-isolation)
    "$cef_venv/bin/python" -c 'import importlib.util as u, sys
sys.exit(not (u.find_spec("setuptools") and (u.find_spec("wheel") or u.find_spec("setuptools.command.bdist_wheel"))))' \
        >/dev/null 2>&1 || build_opts=()
    "$cef_venv/bin/python" -m pip install -q --no-input --disable-pip-version-check "${build_opts[@]}" \
        --require-hashes -r "$cef_venv/requirements.txt" >>"$interop_dir/cef-venv.log" 2>&1 \
        || { cat "$interop_dir/cef-venv.log" >&2; die "pip install $cefp_req $swh_req failed"; }
    touch "$cef_venv/.complete"
fi
cef_venv_ok || die "cefp $cefp_version or standardwebhooks $swh_version is not importable from $cef_venv"

summary="rsyslogd $(/usr/sbin/rsyslogd -v 2>/dev/null | head -n1 | awk '{print $2}' | tr -d ,), syslog-ng $(cat "$sng_dir/.complete"), lognormalizer $(dpkg-query -W -f='${Version}' liblognorm-utils), cefp $cefp_version, standardwebhooks $swh_version"
log "ok: $summary"
# Tells build.rs that the tools are here (it re-decides whether the interop tests run);
# rewritten only when the summary changes, so that an unchanged run rebuilds nothing.
if [ "$(cat "$interop_dir/.provisioned" 2>/dev/null || true)" != "$summary" ]; then
    printf '%s\n' "$summary" >"$interop_dir/.provisioned.tmp"
    mv "$interop_dir/.provisioned.tmp" "$interop_dir/.provisioned"
fi
