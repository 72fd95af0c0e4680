//! Package images: where a sandbox finds a package's code. Where the host allows it, each
//! package directory is built into a read-only ext4 image once and mounted, so that a sandbox
//! clones one mount instead of binding a tree; elsewhere the directory itself is bound.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The mounted package images of this server.
#[derive(Debug)]
pub(super) struct Images {
    /// Where images are mounted, when images are available here.
    dir: Option<PathBuf>,
    /// Package directory -> mount point of its image (`None`: no image, bind the directory).
    // Held while an image is built and mounted (tens of milliseconds, off the invocation path
    // when packages are prepared at deployment).
    mounted: Mutex<HashMap<PathBuf, Option<PathBuf>>>,
}

impl Images {
    /// Images mounted under `dir`, if the host can mount them; unmounts what a server that
    /// did not stop cleanly left there.
    pub(super) fn new(dir: PathBuf) -> Images {
        let dir = lamina_sandbox::image::available().then_some(dir);
        if let Some(dir) = &dir {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                lamina_sandbox::image::unmount(&entry.path());
            }
        }
        Images {
            dir,
            mounted: Mutex::new(HashMap::new()),
        }
    }

    /// Where the sandbox finds the package at `task_dir`: its mounted image, built and mounted
    /// on first use, or the directory itself where images are not available.
    pub(super) fn source(&self, task_dir: &Path) -> PathBuf {
        let Some(images) = &self.dir else {
            return task_dir.to_path_buf();
        };
        let mut mounted = self.mounted.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(known) = mounted.get(task_dir) {
            return known.clone().unwrap_or_else(|| task_dir.to_path_buf());
        }
        let image = task_dir.with_extension("ext4");
        let name = task_dir
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        let at = images.join(name);
        let result = (|| {
            if !image.exists() {
                lamina_sandbox::image::build(task_dir, &image)?;
            }
            lamina_sandbox::image::mount(&image, &at)
        })();
        let source = match result {
            Ok(()) => Some(at),
            Err(e) => {
                tracing::warn!(package = %task_dir.display(), error = %e, "no package image; binding the directory");
                None
            }
        };
        mounted.insert(task_dir.to_path_buf(), source.clone());
        source.unwrap_or_else(|| task_dir.to_path_buf())
    }

    /// Unmounts the image of the package at `task_dir`, if it has one.
    pub(super) fn release(&self, task_dir: &Path) {
        let at = self
            .mounted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(task_dir);
        if let Some(Some(at)) = at {
            lamina_sandbox::image::unmount(&at);
        }
    }

    /// Unmounts every image.
    pub(super) fn release_all(&self) {
        let mounted = std::mem::take(&mut *self.mounted.lock().unwrap_or_else(|p| p.into_inner()));
        for at in mounted.into_values().flatten() {
            lamina_sandbox::image::unmount(&at);
        }
    }
}
