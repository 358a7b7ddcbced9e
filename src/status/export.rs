//! The static export: the whole site (HTML, JSON, feeds, stylesheet; relative links) as
//! files, the same bytes the server sends. `out` becomes a symlink to a fresh directory,
//! swapped by one `rename`, so a reader sees the old export or the new one, never a mix.

use std::path::{Path, PathBuf};

use super::api::{Doc, render};
use super::{Snapshot, StatusError, StatusState, feeds, html};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Read(#[from] StatusError),
    #[error("writing the status export at {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Every file of the site: its path relative to the root (as served under `/`) and bytes.
pub fn site(state: &StatusState, snap: &Snapshot) -> Vec<(String, Vec<u8>)> {
    let mut files = vec![
        (
            "index.html".to_string(),
            html::index(state, snap).into_bytes(),
        ),
        ("style.css".to_string(), html::STYLE.as_bytes().to_vec()),
        (
            "history.atom".to_string(),
            feeds::atom(state, snap).into_bytes(),
        ),
        (
            "history.rss".to_string(),
            feeds::rss(state, snap).into_bytes(),
        ),
    ];
    for (path, doc) in [
        ("api/v2/summary.json", Doc::Summary),
        ("api/v2/status.json", Doc::Status),
        ("api/v2/components.json", Doc::Components),
        ("api/v2/incidents.json", Doc::Incidents),
        ("api/v2/incidents/unresolved.json", Doc::Unresolved),
        ("api/v2/scheduled-maintenances.json", Doc::Maintenances),
        (
            "api/v2/scheduled-maintenances/upcoming.json",
            Doc::Maintenances,
        ),
        (
            "api/v2/scheduled-maintenances/active.json",
            Doc::Maintenances,
        ),
    ] {
        files.push((path.to_string(), render(state, snap, doc)));
    }
    for p in &snap.incidents {
        files.push((
            html::incident_path(p),
            html::incident(state, p).into_bytes(),
        ));
    }
    files
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes the site to `out` (a symlink to the newest complete copy, next to it).
pub async fn export(state: &StatusState, out: &Path) -> Result<(), ExportError> {
    let snap = Snapshot::read(state).await?;
    let files = site(state, &snap);
    let out = out.to_path_buf();
    tokio::task::spawn_blocking(move || write_site(&files, &out))
        .await
        .map_err(|e| ExportError::Write {
            path: PathBuf::new(),
            source: std::io::Error::other(e),
        })?
}

fn write_site(files: &[(String, Vec<u8>)], out: &Path) -> Result<(), ExportError> {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "status".into());
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let stamp = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    let version = parent.join(format!(".{name}.{stamp}"));
    for (rel, bytes) in files {
        let path = version.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        std::fs::write(&path, bytes).map_err(io(&path))?;
    }
    let previous = std::fs::read_link(out).ok();
    if out.exists() && previous.is_none() {
        // A plain directory from before: moved aside once (the only non-atomic step).
        let aside = parent.join(format!(".{name}.old-{stamp}"));
        std::fs::rename(out, &aside).map_err(io(out))?;
    }
    let link = parent.join(format!(".{name}.link-{stamp}"));
    let target = PathBuf::from(format!(".{name}.{stamp}"));
    std::os::unix::fs::symlink(&target, &link).map_err(io(&link))?;
    std::fs::rename(&link, out).map_err(io(out))?;
    // The copy before stays (a reader may still be in it); older ones go.
    let keep: Vec<PathBuf> = [Some(version.clone()), previous.map(|p| parent.join(p))]
        .into_iter()
        .flatten()
        .collect();
    let prefix = format!(".{name}.");
    if let Ok(entries) = std::fs::read_dir(parent) {
        for e in entries.flatten() {
            let path = e.path();
            let ours = e.file_name().to_string_lossy().starts_with(&prefix);
            if ours && !keep.contains(&path) && path.is_dir() {
                let _ = std::fs::remove_dir_all(&path);
            }
        }
    }
    Ok(())
}
