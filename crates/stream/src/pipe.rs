//! Wider pipes between the stages of a pipeline.
//!
//! Linux gives a pipe 64 KiB. A writer that fills it sleeps until the reader empties it, so two
//! stages moving hundreds of megabytes wake each other thousands of times a second, and the
//! wake-ups cost more than the copying (`consume | wc -c` took twice as long as with 1 MiB).
//! Each sluice binary asks for a wider pipe on its stdin and stdout; the kernel may refuse
//! (`/proc/sys/fs/pipe-max-size`, or a user's pipe pages spent), which only costs speed.

use std::os::fd::AsFd;

/// The capacity asked for: Linux's default `pipe-max-size`, the most an unprivileged process
/// may set.
const CAPACITY: usize = 1 << 20;

/// Widens the pipe behind `fd` to [`CAPACITY`] if it is a pipe narrower than that; files,
/// terminals and sockets are left as they are, and a refusal is ignored (it is only slower).
pub fn widen(fd: impl AsFd) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if rustix::pipe::fcntl_getpipe_size(&fd).is_ok_and(|size| size < CAPACITY) {
        let _ = rustix::pipe::fcntl_setpipe_size(&fd, CAPACITY);
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = fd;
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn pipes_are_widened_and_files_left_alone() {
        let (read, write) = rustix::pipe::pipe().expect("pipe");
        widen(&write);
        // Both ends share the one buffer.
        let size = rustix::pipe::fcntl_getpipe_size(&read).expect("a pipe's size");
        assert_eq!(size, CAPACITY);
        let file = tempfile::tempfile().expect("temporary file");
        widen(&file);
        assert!(rustix::pipe::fcntl_getpipe_size(&file).is_err());
    }
}
