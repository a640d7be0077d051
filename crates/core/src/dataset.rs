//! A dataset: interactions with their id maps, optional features and metadata.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::features::FeatureTable;
use crate::ids::{ItemIdx, ItemMap, UserIdx, UserMap};
use crate::interactions::{Feedback, Interactions};

/// Descriptive metadata of a dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct DatasetMeta {
    /// Short name, e.g. `ml-100k`.
    pub name: String,
    /// Where it was read from, for messages.
    pub source: String,
    /// Lines skipped as malformed while loading (with `--skip-bad-lines`).
    pub skipped_lines: u64,
}

/// Interactions plus everything needed to interpret them: id maps, features, metadata.
///
/// ```
/// use tastebud_core::{Dataset, Feedback, Interactions};
/// let x = Interactions::from_triplets(2, 2, &[(0, 0, 5.0), (1, 1, 3.0)], Feedback::Explicit)?;
/// let d = Dataset::from_parts("tiny", x, ["alice", "bob"], ["i1", "i2"])?;
/// assert_eq!(d.user("bob").unwrap().0, 1);
/// assert!(d.item("nope").is_none());
/// # Ok::<(), tastebud_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// Metadata.
    pub meta: DatasetMeta,
    /// External user ids.
    pub users: UserMap,
    /// External item ids.
    pub items: ItemMap,
    /// The interactions.
    pub interactions: Interactions,
    /// Item side information (genres, titles, year, tags...), when the source has it.
    pub item_features: Option<FeatureTable>,
    /// User side information (age, gender, occupation, zip...), when the source has it.
    pub user_features: Option<FeatureTable>,
}

impl Dataset {
    /// Assembles a dataset, checking that the maps and features match the interaction shape.
    pub fn new(
        meta: DatasetMeta,
        users: UserMap,
        items: ItemMap,
        interactions: Interactions,
        item_features: Option<FeatureTable>,
        user_features: Option<FeatureTable>,
    ) -> Result<Self> {
        if users.len() != interactions.n_users() || items.len() != interactions.n_items() {
            return Err(Error::Shape(format!(
                "id maps are {}x{}, interactions are {}x{}",
                users.len(),
                items.len(),
                interactions.n_users(),
                interactions.n_items()
            )));
        }
        if item_features
            .as_ref()
            .is_some_and(|f| f.len() != items.len())
        {
            return Err(Error::Shape("item features do not cover every item".into()));
        }
        if user_features
            .as_ref()
            .is_some_and(|f| f.len() != users.len())
        {
            return Err(Error::Shape("user features do not cover every user".into()));
        }
        Ok(Dataset {
            meta,
            users,
            items,
            interactions,
            item_features,
            user_features,
        })
    }

    /// A dataset from interactions and external ids in index order, without features.
    pub fn from_parts<U, I>(
        name: &str,
        interactions: Interactions,
        user_ids: impl IntoIterator<Item = U>,
        item_ids: impl IntoIterator<Item = I>,
    ) -> Result<Self>
    where
        U: Into<Box<str>>,
        I: Into<Box<str>>,
    {
        let users = crate::IdMap::from_ids(user_ids).map_err(Error::Shape)?;
        let items = crate::IdMap::from_ids(item_ids).map_err(Error::Shape)?;
        Dataset::new(
            DatasetMeta {
                name: name.into(),
                ..Default::default()
            },
            UserMap(users),
            ItemMap(items),
            interactions,
            None,
            None,
        )
    }

    /// Explicit or implicit.
    pub fn kind(&self) -> Feedback {
        self.interactions.kind()
    }
    /// Number of users.
    pub fn n_users(&self) -> usize {
        self.interactions.n_users()
    }
    /// Number of items.
    pub fn n_items(&self) -> usize {
        self.interactions.n_items()
    }
    /// Index of an external user id.
    pub fn user(&self, id: &str) -> Option<UserIdx> {
        self.users.get(id)
    }
    /// Index of an external item id.
    pub fn item(&self, id: &str) -> Option<ItemIdx> {
        self.items.get(id)
    }
    /// Index of an external user id, or [`Error::UnknownUser`].
    pub fn require_user(&self, id: &str) -> Result<UserIdx> {
        self.user(id)
            .ok_or_else(|| Error::UnknownUser(id.to_string()))
    }
    /// Index of an external item id, or [`Error::UnknownItem`].
    pub fn require_item(&self, id: &str) -> Result<ItemIdx> {
        self.item(id)
            .ok_or_else(|| Error::UnknownItem(id.to_string()))
    }
    /// The item's title, when the dataset has a `title` text feature.
    pub fn item_title(&self, i: ItemIdx) -> Option<&str> {
        self.item_features.as_ref()?.text("title", i.get())
    }
    /// The same dataset with other interactions of the same shape (a split's train part, say).
    pub fn with_interactions(&self, interactions: Interactions) -> Result<Self> {
        Dataset::new(
            self.meta.clone(),
            self.users.clone(),
            self.items.clone(),
            interactions,
            self.item_features.clone(),
            self.user_features.clone(),
        )
    }
}
