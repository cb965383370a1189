#!/usr/bin/env bash
# Usage: refuse-removals.sh PACKAGE...
# Asks apt-get what installing PACKAGE... would do (a simulation: no root needed, nothing
# changes) and refuses if that would remove any installed package: rsyslog and syslog-ng-core
# conflict, for one, and the tests must never remove what the user installed.
#
# Exit status: 0 nothing would be removed; 1 something would (named on stderr); 2 the
# simulation itself failed (e.g. no package lists yet: run apt-get update and ask again).
set -euo pipefail

[ "$#" -gt 0 ] || exit 0
if ! simulation="$(apt-get install -s -q --no-install-recommends "$@" 2>&1)"; then
    printf '%s\n' "$simulation" >&2
    printf 'provision: cannot simulate apt-get install %s\n' "$*" >&2
    exit 2
fi
removals="$(printf '%s\n' "$simulation" | awk '$1 == "Remv" {print $2}' | sort -u | tr '\n' ' ')"
if [ -n "$removals" ]; then
    printf 'provision: ERROR: installing %s would remove installed package(s): %s\n' "$*" "${removals% }" >&2
    printf 'provision: refusing: the tests never remove a package you installed. Install what the tests need yourself (README, Tests), run them in a container, or build with SIEM_RELAY_INTEROP=skip to have the interop tests ignored.\n' >&2
    exit 1
fi
