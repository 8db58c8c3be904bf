//! Pipes between the stages of a pipeline: wider ones, and noticing a reader that has gone.
//!
//! Linux gives a pipe 64 KiB. A writer that fills it sleeps until the reader empties it, so two
//! stages moving hundreds of megabytes wake each other thousands of times a second, and the
//! wake-ups cost more than the copying (`consume | wc -c` took twice as long as with 1 MiB).
//! Each sluice binary asks for a wider pipe on its stdin and stdout; the kernel may refuse
//! (`/proc/sys/fs/pipe-max-size`, or a user's pipe pages spent), which only costs speed.

use std::io;
use std::os::fd::AsFd;

use rustix::event::{PollFd, PollFlags, Timespec};

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

/// Whether `revents`, from polling an output, say that nobody reads it any more: a pipe whose
/// read end is closed (ERR), a hung-up socket or terminal (HUP), or no open file (NVAL). A
/// writer learns this from `poll` at once, even when it has nothing to write.
fn says_reader_gone(revents: PollFlags) -> bool {
    revents.intersects(PollFlags::ERR | PollFlags::HUP | PollFlags::NVAL)
}

/// Whether nobody reads `output` any more; does not wait.
pub fn reader_gone(output: impl AsFd) -> bool {
    let mut fds = [PollFd::new(&output, PollFlags::empty())];
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    rustix::event::poll(&mut fds, Some(&now)).is_ok() && says_reader_gone(fds[0].revents())
}

/// Waits until `input` has something to read or nobody reads `output` any more; returns
/// whether the reader of `output` has gone.
pub fn wait_for_input_or_gone_reader(input: impl AsFd, output: impl AsFd) -> io::Result<bool> {
    let mut fds = [
        PollFd::new(&input, PollFlags::IN),
        PollFd::new(&output, PollFlags::empty()),
    ];
    loop {
        match rustix::event::poll(&mut fds, None) {
            Ok(_) => return Ok(says_reader_gone(fds[1].revents())),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
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

    #[test]
    fn a_pipe_without_a_reader_is_seen_at_once() {
        let (read, write) = rustix::pipe::pipe().expect("pipe");
        assert!(!reader_gone(&write));
        let (input, _writer) = rustix::pipe::pipe().expect("pipe");
        let waiting = std::thread::spawn(move || wait_for_input_or_gone_reader(&input, &write));
        std::thread::sleep(std::time::Duration::from_millis(20));
        drop(read);
        assert!(waiting.join().unwrap().expect("poll"));
        let file = tempfile::tempfile().expect("temporary file");
        assert!(!reader_gone(&file));
    }
}
