//! Dropping root: the process that reads the network never runs as root.
//! Started as root, mtad binds its sockets first and then becomes
//! RunAsUser (or DefaultUser), for good: groups, gid, uid, and a check that
//! root cannot be had back.

use cfparser::Config;
use cfparser::options::OptionValue;
use nix::unistd::{Gid, Group, Uid, User};
use std::path::Path;

/// The user and group to run as, from RunAsUser, else DefaultUser.
pub fn run_as(config: &Config) -> Result<(String, Uid, Gid), String> {
    user_from(config, &["RunAsUser", "DefaultUser"])
}

/// DefaultUser: whom aliases' files (and programs) run as, as in
/// sendmail.
pub fn default_user(config: &Config) -> Result<(String, Uid, Gid), String> {
    user_from(config, &["DefaultUser"])
}

/// The first of `options` that names a user, looked up; never root.
fn user_from(config: &Config, options: &[&str]) -> Result<(String, Uid, Gid), String> {
    let spec = options
        .iter()
        .find_map(|name| match config.option(name) {
            Some(OptionValue::User(u)) => Some(u.clone()),
            _ => None,
        })
        .ok_or_else(|| format!("{} names no user to run as", options.join(" or ")))?;
    let user = match spec.user.parse::<u32>() {
        Ok(uid) => User::from_uid(Uid::from_raw(uid)),
        Err(_) => User::from_name(&spec.user),
    }
    .map_err(|e| format!("looking up user {}: {e}", spec.user))?
    .ok_or_else(|| format!("no such user: {}", spec.user))?;
    let gid = match &spec.group {
        None => user.gid,
        Some(g) => match g.parse::<u32>() {
            Ok(n) => Gid::from_raw(n),
            Err(_) => {
                Group::from_name(g)
                    .map_err(|e| format!("looking up group {g}: {e}"))?
                    .ok_or_else(|| format!("no such group: {g}"))?
                    .gid
            }
        },
    };
    if user.uid.is_root() {
        return Err(format!(
            "{} is root: mtad will not serve the network as root",
            spec.user
        ));
    }
    Ok((user.name, user.uid, gid))
}

/// Creates the queue directory for `uid` (mode 0700), or checks the one
/// there, the way sendmail's safe-file checks judge it: a directory (not a
/// symbolic link), owned by the run user, mode 0700, and no directory
/// above it group- or world-writable unless sticky (as /tmp is): whoever
/// may write there could swap the queue for their own. Refuses otherwise,
/// saying why and what to do.
pub fn prepare_queue_dir(dir: &Path, uid: Uid, gid: Gid) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let shown = dir.display();
    let abs = std::path::absolute(dir).map_err(|e| format!("QueueDirectory {shown}: {e}"))?;
    for parent in abs.ancestors().skip(1) {
        let Ok(m) = std::fs::metadata(parent) else {
            continue;
        };
        if m.mode() & 0o022 != 0 && m.mode() & 0o1000 == 0 {
            return Err(format!(
                "QueueDirectory {shown}: {} is group- or world-writable (mode {:04o}) and not sticky: \
                 whoever may write there could replace the queue; fix its mode or choose another QueueDirectory",
                parent.display(),
                m.mode() & 0o7777
            ));
        }
    }
    match std::fs::symlink_metadata(dir) {
        Ok(m) => {
            if m.file_type().is_symlink() {
                return Err(format!(
                    "QueueDirectory {shown} is a symbolic link; name the real directory"
                ));
            }
            if !m.is_dir() {
                return Err(format!("QueueDirectory {shown} is not a directory"));
            }
            if m.uid() != uid.as_raw() {
                let owner = User::from_uid(Uid::from_raw(m.uid()))
                    .ok()
                    .flatten()
                    .map_or_else(|| m.uid().to_string(), |u| u.name);
                return Err(format!(
                    "QueueDirectory {shown} belongs to {owner}, not to the user mtad runs as (uid {uid}): \
                     chown it to that user, or remove it to have it made"
                ));
            }
            if m.mode() & 0o077 != 0 {
                return Err(format!(
                    "QueueDirectory {shown} has mode {:04o}; it must be 0700 (chmod 700 {shown})",
                    m.mode() & 0o7777
                ));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            crate::queue::store::create_dir(dir).map_err(|e| e.to_string())?;
            if nix::unistd::geteuid().is_root() {
                nix::unistd::chown(dir, Some(uid), Some(gid))
                    .map_err(|e| format!("cannot give {shown} to the run user: {e}"))?;
            }
        }
        Err(e) => return Err(format!("QueueDirectory {shown}: {e}")),
    }
    if nix::unistd::geteuid().is_root() {
        for f in ["queue.db", "queue.db-wal", "queue.db-shm"] {
            let p = dir.join(f);
            if p.exists() {
                nix::unistd::chown(&p, Some(uid), Some(gid))
                    .map_err(|e| format!("cannot give {} to the run user: {e}", p.display()))?;
            }
        }
    }
    Ok(())
}

/// Becomes `uid`/`gid` with no other groups, irreversibly.
pub fn drop_to(uid: Uid, gid: Gid) -> Result<(), String> {
    nix::unistd::setgroups(&[gid]).map_err(|e| format!("setgroups: {e}"))?;
    nix::unistd::setresgid(gid, gid, gid).map_err(|e| format!("setresgid: {e}"))?;
    nix::unistd::setresuid(uid, uid, uid).map_err(|e| format!("setresuid: {e}"))?;
    if nix::unistd::setuid(Uid::from_raw(0)).is_ok() || nix::unistd::geteuid().is_root() {
        return Err("still able to become root after dropping privileges".into());
    }
    Ok(())
}
