//! Interop with real receivers (rsyslog and syslog-ng from Debian): filled in below.
