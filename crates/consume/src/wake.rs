//! Waiting for new records without polling: inotify on the partitions' directories wakes a
//! following consumer as soon as a producer appends (or rolls a segment), and so does the end
//! of whatever read its stdout (`consume --follow | head`), which it would otherwise learn of
//! only when the next record came.

use std::io::ErrorKind;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, TrySendError};
use std::time::Duration;

use inotify::{Inotify, WatchMask};
use sluice_stream::pipe;

/// Where inotify cannot be had (no watches left, another platform): the first and the longest
/// sleep between looks.
const FIRST_NAP: Duration = Duration::from_millis(5);
const LONGEST_NAP: Duration = Duration::from_millis(100);

/// Wakes when something changes in the watched directories or stdout's reader has gone.
pub struct Wake {
    /// One message per burst of changes, from the thread reading inotify events.
    changes: Option<Receiver<()>>,
    nap: Duration,
}

impl Wake {
    /// Watches `dirs` for appended and created files.
    pub fn watch<'a>(dirs: impl IntoIterator<Item = &'a Path>) -> Wake {
        Wake {
            changes: watch(dirs).ok(),
            nap: FIRST_NAP,
        }
    }

    /// Waits until a watched directory changed, at most `timeout`. Without inotify, naps a
    /// little longer each time until [`Wake::reset`].
    pub fn wait(&mut self, timeout: Duration) {
        match &self.changes {
            Some(changes) => {
                if let Err(RecvTimeoutError::Disconnected) = changes.recv_timeout(timeout) {
                    self.changes = None;
                }
            }
            None => {
                std::thread::sleep(self.nap.min(timeout));
                self.nap = (self.nap * 2).min(LONGEST_NAP);
            }
        }
    }

    /// Records were found: the next wait starts short again.
    pub fn reset(&mut self) {
        self.nap = FIRST_NAP;
    }
}

fn watch<'a>(dirs: impl IntoIterator<Item = &'a Path>) -> std::io::Result<Receiver<()>> {
    let mut inotify = Inotify::init()?;
    for dir in dirs {
        inotify.watches().add(
            dir,
            WatchMask::MODIFY | WatchMask::CREATE | WatchMask::MOVED_TO,
        )?;
    }
    let (send, changes) = sync_channel(1);
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        loop {
            match pipe::wait_for_input_or_gone_reader(&inotify, std::io::stdout()) {
                // The waiter looks at stdout when it wakes.
                Ok(true) => {
                    let _ = send.try_send(());
                    return;
                }
                Ok(false) => {}
                Err(_) => return,
            }
            // Inotify does not block (it was opened so): take every event there is.
            loop {
                match inotify.read_events(&mut buffer) {
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => return,
                }
            }
            // A change already waiting to be seen covers this one too.
            if let Err(TrySendError::Disconnected(())) = send.try_send(()) {
                return;
            }
        }
    });
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn an_append_wakes_a_waiter_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut wake = Wake::watch([dir.path()]);
        assert!(wake.changes.is_some(), "inotify is available on Linux");
        let path = dir.path().join("00.log");
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            std::fs::write(path, b"record").unwrap();
        });
        let start = Instant::now();
        wake.wait(Duration::from_secs(10));
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        writer.join().unwrap();
        // The write's CREATE and MODIFY events may reach the watcher thread one after the other:
        // let them settle. Then nothing changes, and the wait ends at its timeout.
        let settle = Duration::from_millis(200);
        while let Some(Ok(())) = wake.changes.as_ref().map(|c| c.recv_timeout(settle)) {}
        let start = Instant::now();
        wake.wait(Duration::from_millis(100));
        assert!(start.elapsed() >= Duration::from_millis(90));
    }
}
