//! How much of what was written to a TCP socket the peer has not yet acknowledged.
//!
//! This is what lets stream sinks keep at-least-once delivery across broken connections: bytes
//! the peer's TCP stack acknowledged have reached it; the rest is re-sent after a reconnect.

#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Bytes written to `socket` that the peer has not acknowledged yet (Linux `SIOCOUTQ`, which for
/// TCP is `write_seq - snd_una`: unsent plus sent-but-unacknowledged).
pub fn unacknowledged_bytes(socket: BorrowedFd<'_>) -> io::Result<u64> {
    let mut pending: libc::c_int = 0;
    // SAFETY: `socket` is a live descriptor for the duration of the borrow, and SIOCOUTQ
    // (= TIOCOUTQ) writes exactly one `c_int` through the pointer, which points at `pending`.
    let result = unsafe { libc::ioctl(socket.as_raw_fd(), libc::TIOCOUTQ, &mut pending as *mut libc::c_int) };
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(u64::try_from(pending).unwrap_or(0))
}
