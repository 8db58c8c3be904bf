//! Consumer groups: committed offsets per topic and partition, and the sharing of a topic's
//! partitions among the group's live members, which may be separate processes.
//!
//! Everything lives under `LOG_DIR/.groups/GROUP/`: `TOPIC.offsets.json` holds the committed
//! offsets (the next offset to read, as in Kafka), rewritten atomically under `TOPIC.lock`.
//! Membership uses file locks, which the system releases when a process dies: each member
//! locks its own file in `TOPIC.members/`, and owns a partition while it holds the lock on
//! `TOPIC.claims/N`. A member takes at most its fair share, gives back what is above it (once
//! it has committed what it read from it), and takes over unowned partitions, so the
//! partitions of a member that exits or is killed go to the others. Shares are those of
//! Kafka's range assignor: with P partitions and M live members, each member gets P/M, and
//! the first P mod M members to have joined one more.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// A group's directory.
fn group_dir(log_dir: &Path, group: &str) -> PathBuf {
    log_dir.join(".groups").join(group)
}

/// Group names follow topic names' rules.
pub fn check_name(group: &str) -> Result<(), String> {
    crate::topic::check_name(group).map_err(|_| {
        format!("{group:?} is not a valid group name (letters, digits, '.', '_', '-'; at most 249)")
    })
}

/// Committed offsets of a group for a topic: partition → next offset to read.
pub fn committed(log_dir: &Path, group: &str, topic: &str) -> io::Result<BTreeMap<u32, u64>> {
    let path = group_dir(log_dir, group).join(format!("{topic}.offsets.json"));
    match fs::read(&path) {
        Ok(bytes) => {
            let map: BTreeMap<String, u64> = serde_json::from_slice(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?;
            Ok(map
                .into_iter()
                .filter_map(|(k, v)| k.parse().ok().map(|p| (p, v)))
                .collect())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e),
    }
}

/// Commits offsets (partition → next offset to read), merged with what other members
/// committed, durably and atomically.
pub fn commit(
    log_dir: &Path,
    group: &str,
    topic: &str,
    offsets: &BTreeMap<u32, u64>,
) -> io::Result<()> {
    let dir = group_dir(log_dir, group);
    fs::create_dir_all(&dir)?;
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(format!("{topic}.lock")))?;
    lock.lock()?;
    let mut all = committed(log_dir, group, topic)?;
    all.extend(offsets.iter().map(|(&p, &o)| (p, o)));
    let text: BTreeMap<String, u64> = all.into_iter().map(|(p, o)| (p.to_string(), o)).collect();
    let mut temp = tempfile::NamedTempFile::new_in(&dir)?;
    io::Write::write_all(
        &mut temp,
        &serde_json::to_vec_pretty(&text).expect("serializes"),
    )?;
    temp.as_file().sync_all()?;
    temp.persist(dir.join(format!("{topic}.offsets.json")))
        .map_err(|e| e.error)?;
    File::open(&dir)?.sync_all()
}

/// Groups that have committed offsets, with their topics.
pub fn list(log_dir: &Path) -> io::Result<BTreeMap<String, Vec<String>>> {
    let mut groups = BTreeMap::new();
    let root = log_dir.join(".groups");
    let entries = match fs::read_dir(&root) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(groups),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let mut topics = Vec::new();
        for file in fs::read_dir(entry.path())? {
            let name = file?.file_name().to_string_lossy().into_owned();
            if let Some(topic) = name.strip_suffix(".offsets.json") {
                topics.push(topic.to_string());
            }
        }
        topics.sort();
        groups.insert(entry.file_name().to_string_lossy().into_owned(), topics);
    }
    Ok(groups)
}

/// Removes every group's offsets for a deleted topic.
pub fn forget_topic(log_dir: &Path, topic: &str) -> io::Result<()> {
    for group in list(log_dir)?.keys() {
        let dir = group_dir(log_dir, group);
        let _ = fs::remove_file(dir.join(format!("{topic}.offsets.json")));
    }
    Ok(())
}

/// Names of the live members of `group_dir`'s group for `topic`, but `except`, in no order;
/// stale membership files are removed.
fn live_members(group_dir: &Path, topic: &str, except: Option<&str>) -> io::Result<Vec<String>> {
    let mut live = Vec::new();
    let members = match fs::read_dir(group_dir.join(format!("{topic}.members"))) {
        Ok(members) => members,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(live),
        Err(e) => return Err(e),
    };
    for entry in members {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if Some(name.as_str()) == except {
            continue;
        }
        // A member still joining locks its file at once: one that stays unlocked for
        // a minute was left by a process that died joining.
        let joining = name.starts_with('.');
        if joining
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_none_or(|age| age < std::time::Duration::from_secs(60))
        {
            continue;
        }
        let Ok(file) = OpenOptions::new().write(true).open(entry.path()) else {
            continue;
        };
        match file.try_lock() {
            Ok(()) => {
                // Nobody holds it: its member is gone.
                let _ = fs::remove_file(entry.path());
            }
            Err(_) if joining => {}
            Err(_) => live.push(name),
        }
    }
    Ok(live)
}

/// How many live members the group has for `topic` (processes reading it now).
pub fn live_member_count(log_dir: &Path, group: &str, topic: &str) -> io::Result<usize> {
    live_members(&group_dir(log_dir, group), topic, None).map(|live| live.len())
}

/// A live member of a group for one topic: holds its membership lock and the claims on the
/// partitions it owns.
pub struct Member {
    dir: PathBuf,
    topic: String,
    partitions: u32,
    /// The name of this member's file in `TOPIC.members/`.
    id: String,
    _membership: File,
    claims: BTreeMap<u32, File>,
    /// This member's fair share at the last rebalance.
    share: usize,
}

impl Member {
    /// Joins the group (the lock is held until this member is dropped or the process ends).
    pub fn join(log_dir: &Path, group: &str, topic: &str, partitions: u32) -> io::Result<Member> {
        let dir = group_dir(log_dir, group);
        let members = dir.join(format!("{topic}.members"));
        fs::create_dir_all(&members)?;
        fs::create_dir_all(dir.join(format!("{topic}.claims")))?;
        // Named by join time first, so that members rank in the order they joined.
        let id = format!(
            "{:024}-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
            std::process::id(),
        );
        // Locked under a hidden name first: a member's file is never seen unlocked, which
        // others would take for one left by a dead member and remove.
        let joining = members.join(format!(".{id}"));
        let membership = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&joining)?;
        membership.lock()?;
        fs::rename(&joining, members.join(&id))?;
        Ok(Member {
            dir,
            topic: topic.to_string(),
            partitions,
            id,
            _membership: membership,
            claims: BTreeMap::new(),
            share: 0,
        })
    }

    /// Names of the live members now, this one included, sorted; stale membership files
    /// are removed.
    fn live_members(&self) -> io::Result<Vec<String>> {
        let mut live = live_members(&self.dir, &self.topic, Some(&self.id))?;
        live.push(self.id.clone());
        live.sort_unstable();
        Ok(live)
    }

    /// Rebalances: claims unowned partitions up to the fair share, and picks those above it
    /// to give back. Returns the partitions to read now, and those to give back: their readers
    /// must stop, and commit what they read, before [`Member::release`] gives them to others.
    pub fn rebalance(&mut self) -> io::Result<(Vec<u32>, Vec<u32>)> {
        let members = self.live_members()?;
        let rank = members.iter().position(|m| *m == self.id).unwrap_or(0) as u32;
        let count = members.len() as u32;
        let share = (self.partitions / count + u32::from(rank < self.partitions % count)) as usize;
        self.share = share;
        let surplus: Vec<u32> = self
            .claims
            .keys()
            .rev()
            .take(self.claims.len().saturating_sub(share))
            .copied()
            .collect();
        let claims_dir = self.dir.join(format!("{}.claims", self.topic));
        for p in 0..self.partitions {
            if self.claims.len() >= share {
                break;
            }
            if self.claims.contains_key(&p) {
                continue;
            }
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(claims_dir.join(p.to_string()))?;
            if file.try_lock().is_ok() {
                self.claims.insert(p, file);
            }
        }
        let owned = self
            .claims
            .keys()
            .filter(|p| !surplus.contains(p))
            .copied()
            .collect();
        Ok((owned, surplus))
    }

    /// Gives back partitions [`Member::rebalance`] picked, for other members to take.
    pub fn release(&mut self, partitions: &[u32]) {
        for p in partitions {
            self.claims.remove(p);
        }
    }

    /// Whether this member owned less than its fair share at the last rebalance: others still
    /// hold partitions they are to give back when they next rebalance.
    pub fn is_short(&self) -> bool {
        self.claims.len() < self.share
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_merge_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        commit(dir.path(), "g", "t", &BTreeMap::from([(0, 5), (1, 7)])).unwrap();
        commit(dir.path(), "g", "t", &BTreeMap::from([(1, 9)])).unwrap();
        assert_eq!(
            committed(dir.path(), "g", "t").unwrap(),
            BTreeMap::from([(0, 5), (1, 9)])
        );
        assert_eq!(list(dir.path()).unwrap()["g"], vec!["t".to_string()]);
    }

    #[test]
    fn members_share_partitions_and_take_over_from_leavers() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = Member::join(dir.path(), "g", "t", 3).unwrap();
        assert_eq!(a.rebalance().unwrap().0, vec![0, 1, 2]);
        let mut b = Member::join(dir.path(), "g", "t", 3).unwrap();
        assert_eq!(b.rebalance().unwrap().0, Vec::<u32>::new());
        assert!(b.is_short() && !a.is_short());
        let (a_owned, a_released) = a.rebalance().unwrap();
        assert_eq!((a_owned, a_released), (vec![0, 1], vec![2]));
        // Held until given back (after its offsets are committed).
        assert_eq!(b.rebalance().unwrap().0, Vec::<u32>::new());
        a.release(&[2]);
        assert_eq!(b.rebalance().unwrap().0, vec![2]);
        assert!(!b.is_short());
        drop(a);
        assert_eq!(b.rebalance().unwrap().0, vec![0, 1, 2]);
    }

    #[test]
    fn shares_differ_by_one_at_most_as_with_the_range_assignor() {
        let dir = tempfile::tempdir().unwrap();
        let mut members: Vec<Member> = Vec::new();
        for _ in 0..3 {
            members.push(Member::join(dir.path(), "g", "t", 4).unwrap());
            for m in &mut members {
                let (_, surplus) = m.rebalance().unwrap();
                m.release(&surplus);
            }
        }
        let owned: Vec<Vec<u32>> = members
            .iter_mut()
            .map(|m| m.rebalance().unwrap().0)
            .collect();
        assert_eq!(owned, vec![vec![0, 1], vec![2], vec![3]]);
    }
}
