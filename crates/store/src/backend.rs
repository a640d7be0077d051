//! The storage traits on the embedded redb [`Store`], and [`DirDocuments`]: documents as files in a
//! folder, each replaced atomically (write, fsync, rename, fsync the folder).

use std::path::{Path, PathBuf};

use crate::error::{Result, StoreError};
use crate::event::Event;
use crate::model::{Appended, BatchMeta, Deleted, ItemFlags, ListItem, Stored};
use crate::privacy::{Consent, Forgotten};
use crate::store::Store;
use crate::traits::{
    ConsentStore, Documents, EventLog, FlagStore, ForgottenUsers, ListStore, UserData,
};

impl EventLog for Store {
    fn append(&self, events: Vec<Event>) -> Result<Vec<Appended>> {
        Store::append(self, events)
    }
    fn user_events(&self, user: &str) -> Result<Vec<Stored>> {
        Store::user_events(self, user)
    }
    fn user_last_seq(&self, user: &str) -> Result<Option<u64>> {
        Store::user_last_seq(self, user)
    }
    fn last_seq(&self) -> Result<u64> {
        Store::last_seq(self)
    }
    fn scan(&self, after_seq: u64, limit: usize) -> Result<Vec<Stored>> {
        Store::scan(self, after_seq, limit)
    }
    fn event_count(&self) -> Result<u64> {
        Store::event_count(self)
    }
}

impl ListStore for Store {
    fn put_lists(&self, meta: &BatchMeta, lists: Vec<(String, Vec<ListItem>)>) -> Result<()> {
        Store::put_lists(self, meta, lists)
    }
    fn get_list(&self, user: &str) -> Result<Option<Vec<ListItem>>> {
        Store::get_list(self, user)
    }
    fn batch_meta(&self) -> Result<Option<BatchMeta>> {
        Store::batch_meta(self)
    }
    fn list_count(&self) -> Result<u64> {
        Store::list_count(self)
    }
}

impl FlagStore for Store {
    fn set_item_flags(&self, item: &str, flags: ItemFlags) -> Result<()> {
        Store::set_item_flags(self, item, flags)
    }
    fn item_flags(&self) -> Result<Vec<(String, ItemFlags)>> {
        Store::item_flags(self)
    }
}

impl ForgottenUsers for Store {
    fn forget_user(&self, user: &str, at: i64) -> Result<()> {
        Store::forget_user(self, user, at)
    }
    fn forgotten_at(&self, user: &str) -> Result<Option<i64>> {
        Store::forgotten_at(self, user)
    }
    fn forgotten(&self) -> Result<Forgotten> {
        Store::forgotten(self)
    }
}

impl ConsentStore for Store {
    fn set_consent(&self, user: &str, consent: &Consent) -> Result<()> {
        Store::set_consent(self, user, consent)
    }
    fn consent(&self, user: &str) -> Result<Option<Consent>> {
        Store::consent(self, user)
    }
    fn consents(&self) -> Result<Vec<(String, Consent)>> {
        Store::consents(self)
    }
}

impl UserData for Store {
    fn erase_user(&self, user: &str) -> Result<Deleted> {
        Store::delete_user(self, user)
    }
}

/// Documents as files `DIR/NAME` (e.g. `experiments.json` in the data folder).
#[derive(Clone, Debug)]
pub struct DirDocuments {
    dir: PathBuf,
}

impl DirDocuments {
    /// Documents in `dir` (created at the first write).
    pub fn new(dir: &Path) -> DirDocuments {
        DirDocuments {
            dir: dir.to_path_buf(),
        }
    }

    /// Where the document `name` lives.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Documents for DirDocuments {
    fn get_document(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(name);
        match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::Db(format!("reading {}: {e}", path.display()))),
        }
    }

    fn put_document(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.path(name);
        let err = |e: std::io::Error| StoreError::Db(format!("writing {}: {e}", path.display()));
        std::fs::create_dir_all(&self.dir).map_err(err)?;
        tastebud_core::fsio::write_atomic(&path, |w| w.write_all(bytes)).map_err(err)
    }
}
