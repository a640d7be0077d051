//! User–item interactions stored twice: CSR by user (for histories and fold-in) and CSC by item.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{ItemIdx, UserIdx};

/// Whether values are ratings on a scale or implicit weights (counts, clicks, dwell).
///
/// The kind decides how duplicate `(user, item)` pairs are resolved:
/// - [`Feedback::Explicit`]: the rating with the **latest timestamp** wins (a user who re-rates a film changed
///   their mind); among equal timestamps, or without timestamps, the one **later in the input** wins.
/// - [`Feedback::Implicit`]: values are **summed** (two clicks weigh 2) and the latest timestamp is kept.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Feedback {
    /// Ratings on a scale (MovieLens stars, Netflix stars, Goodreads stars).
    #[default]
    Explicit,
    /// Implicit weights (clicks, plays, purchases, to-read marks).
    Implicit,
}

/// One interaction with dense indices.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    /// The user.
    pub user: UserIdx,
    /// The item.
    pub item: ItemIdx,
    /// Rating or implicit weight.
    pub value: f32,
    /// Unix seconds, when the source has them.
    pub time: Option<i64>,
}

/// Column-wise interaction rows in input order, before sorting and deduplication.
///
/// Readers fill one `Triplets` per block of input and hand the blocks to [`Interactions::from_blocks`], which
/// frees each block as soon as it has been placed, so peak memory stays near one copy of the data.
#[derive(Clone, Debug, Default)]
pub struct Triplets {
    /// User of each row.
    pub users: Vec<u32>,
    /// Item of each row.
    pub items: Vec<u32>,
    /// Value of each row.
    pub values: Vec<f32>,
    /// Timestamp of each row; empty when the source has no timestamps.
    pub times: Vec<i64>,
}

impl Triplets {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.users.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
    /// Appends one row. `time` must be given for every row or for none.
    pub fn push(&mut self, user: u32, item: u32, value: f32, time: Option<i64>) {
        self.users.push(user);
        self.items.push(item);
        self.values.push(value);
        if let Some(t) = time {
            self.times.push(t);
        }
    }
    /// Releases spare capacity (blocks are kept for a while; capacity would be wasted memory).
    pub fn shrink(&mut self) {
        self.users.shrink_to_fit();
        self.items.shrink_to_fit();
        self.values.shrink_to_fit();
        self.times.shrink_to_fit();
    }
}

/// Interactions as a sparse user × item matrix, stored as CSR by user and CSC by item.
///
/// Rows are sorted by item, with at most one entry per `(user, item)` pair (see [`Feedback`] for the
/// duplicate rule). The CSC part stores, per item, its users in increasing order and the position of each
/// entry in the CSR arrays, so values and timestamps are stored once.
///
/// ```
/// use tastebud_core::{Feedback, Interactions, ItemIdx, UserIdx};
/// let x = Interactions::from_triplets(2, 3, &[(0, 2, 4.0), (0, 1, 3.0), (1, 2, 5.0), (0, 2, 1.0)],
///                                    Feedback::Explicit)?;
/// assert_eq!(x.nnz(), 3);
/// assert_eq!(x.user_items(UserIdx(0)), &[ItemIdx(1), ItemIdx(2)]);
/// assert_eq!(x.user_values(UserIdx(0)), &[3.0, 1.0]); // the later duplicate wins
/// assert_eq!(x.item_users(ItemIdx(2)), &[UserIdx(0), UserIdx(1)]);
/// # Ok::<(), tastebud_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interactions {
    n_users: usize,
    n_items: usize,
    kind: Feedback,
    row_ptr: Vec<usize>,
    items: Vec<ItemIdx>,
    values: Vec<f32>,
    times: Option<Vec<i64>>,
    col_ptr: Vec<usize>,
    col_users: Vec<UserIdx>,
    col_pos: Vec<u32>,
}

impl Interactions {
    /// An empty matrix of the given shape.
    pub fn empty(n_users: usize, n_items: usize, kind: Feedback) -> Self {
        Self::from_sorted_rows(
            n_users,
            n_items,
            kind,
            vec![0; n_users + 1],
            vec![],
            vec![],
            None,
        )
    }

    /// Builds from `(user, item, value)` triplets (no timestamps), resolving duplicates by `kind`.
    pub fn from_triplets(
        n_users: usize,
        n_items: usize,
        triplets: &[(u32, u32, f32)],
        kind: Feedback,
    ) -> Result<Self> {
        let mut t = Triplets::default();
        for &(u, i, v) in triplets {
            t.push(u, i, v, None);
        }
        Self::from_blocks(n_users, n_items, vec![t], kind)
    }

    /// Builds from [`Interaction`] records (timestamps all present or all absent).
    pub fn from_records(
        n_users: usize,
        n_items: usize,
        records: &[Interaction],
        kind: Feedback,
    ) -> Result<Self> {
        let mut t = Triplets::default();
        for r in records {
            t.push(r.user.0, r.item.0, r.value, r.time);
        }
        Self::from_blocks(n_users, n_items, vec![t], kind)
    }

    /// Builds from blocks of rows in input order; the order matters only for the explicit duplicate rule.
    ///
    /// Fails when an index is out of range or timestamps are present in some rows and not in others.
    pub fn from_blocks(
        n_users: usize,
        n_items: usize,
        mut blocks: Vec<Triplets>,
        kind: Feedback,
    ) -> Result<Self> {
        let nnz: usize = blocks.iter().map(Triplets::len).sum();
        let with_times = blocks.iter().any(|b| !b.times.is_empty());
        for b in &blocks {
            let n = b.len();
            if b.items.len() != n || b.values.len() != n || (with_times && b.times.len() != n) {
                return Err(Error::Shape(
                    "timestamps must be given for every interaction or for none".into(),
                ));
            }
            if let Some(&u) = b.users.iter().find(|&&u| u as usize >= n_users) {
                return Err(Error::IndexOutOfRange {
                    kind: "user",
                    index: u,
                    len: n_users,
                });
            }
            if let Some(&i) = b.items.iter().find(|&&i| i as usize >= n_items) {
                return Err(Error::IndexOutOfRange {
                    kind: "item",
                    index: i,
                    len: n_items,
                });
            }
        }
        // Stable counting sort by user: rows keep input order, which the explicit rule relies on.
        let mut row_ptr = vec![0usize; n_users + 1];
        for b in &blocks {
            for &u in &b.users {
                row_ptr[u as usize + 1] += 1;
            }
        }
        for u in 0..n_users {
            row_ptr[u + 1] += row_ptr[u];
        }
        let mut next = row_ptr.clone();
        let mut items = vec![ItemIdx(0); nnz];
        let mut values = vec![0f32; nnz];
        let mut times = if with_times {
            Some(vec![0i64; nnz])
        } else {
            None
        };
        for b in blocks.iter_mut() {
            let b = std::mem::take(b);
            for r in 0..b.len() {
                let u = b.users[r] as usize;
                let p = next[u];
                next[u] += 1;
                items[p] = ItemIdx(b.items[r]);
                values[p] = b.values[r];
                if let Some(t) = times.as_mut() {
                    t[p] = b.times[r];
                }
            }
            // `b` dropped here: its memory is returned before the next block is placed.
        }
        drop(blocks);
        drop(next);
        sort_and_dedup_rows(&mut row_ptr, &mut items, &mut values, times.as_mut(), kind);
        Ok(Self::from_sorted_rows(
            n_users, n_items, kind, row_ptr, items, values, times,
        ))
    }

    /// Builds the CSC half from rows already sorted and deduplicated.
    fn from_sorted_rows(
        n_users: usize,
        n_items: usize,
        kind: Feedback,
        row_ptr: Vec<usize>,
        items: Vec<ItemIdx>,
        values: Vec<f32>,
        times: Option<Vec<i64>>,
    ) -> Self {
        let nnz = items.len();
        assert!(
            u32::try_from(nnz).is_ok(),
            "more than 2^32 interactions are not supported"
        );
        let mut col_ptr = vec![0usize; n_items + 1];
        for it in &items {
            col_ptr[it.get() + 1] += 1;
        }
        for i in 0..n_items {
            col_ptr[i + 1] += col_ptr[i];
        }
        let mut next = col_ptr.clone();
        let mut col_users = vec![UserIdx(0); nnz];
        let mut col_pos = vec![0u32; nnz];
        for u in 0..n_users {
            let row = row_ptr[u]..row_ptr[u + 1];
            for (p, it) in row.clone().zip(&items[row]) {
                let i = it.get();
                let q = next[i];
                next[i] += 1;
                col_users[q] = UserIdx(u as u32);
                col_pos[q] = p as u32;
            }
        }
        Interactions {
            n_users,
            n_items,
            kind,
            row_ptr,
            items,
            values,
            times,
            col_ptr,
            col_users,
            col_pos,
        }
    }

    /// Checks the structure after decoding from a file: both offset arrays, every index in range, items
    /// sorted within each row, each CSC entry pointing back at its CSR entry, finite values and one
    /// timestamp per interaction. A matrix that passes can be indexed by any in-range user or item without
    /// panicking.
    pub fn validate(&self) -> Result<()> {
        use crate::validate as v;
        let nnz = self.items.len();
        v::ensure(u32::try_from(nnz).is_ok(), || {
            format!("{nnz} interactions (more than 2^32)")
        })?;
        v::offsets("interactions rows", &self.row_ptr, self.n_users, nnz)?;
        v::offsets("interactions columns", &self.col_ptr, self.n_items, nnz)?;
        v::len("interaction values", self.values.len(), nnz)?;
        v::finite_f32("interaction values", &self.values)?;
        if let Some(t) = &self.times {
            v::len("interaction times", t.len(), nnz)?;
        }
        v::len("column users", self.col_users.len(), nnz)?;
        v::len("column positions", self.col_pos.len(), nnz)?;
        for u in 0..self.n_users {
            let row = &self.items[self.row_ptr[u]..self.row_ptr[u + 1]];
            for (k, it) in row.iter().enumerate() {
                v::ensure(it.get() < self.n_items, || {
                    format!(
                        "user {u} has item {} out of range (there are {})",
                        it.0, self.n_items
                    )
                })?;
                v::ensure(k == 0 || row[k - 1] < *it, || {
                    format!("user {u}'s items are not sorted and distinct")
                })?;
            }
        }
        for i in 0..self.n_items {
            for q in self.col_ptr[i]..self.col_ptr[i + 1] {
                let (u, p) = (self.col_users[q].get(), self.col_pos[q] as usize);
                v::ensure(
                    u < self.n_users
                        && p < nnz
                        && (self.row_ptr[u]..self.row_ptr[u + 1]).contains(&p)
                        && self.items[p].get() == i,
                    || format!("item {i}'s column entry {q} does not point at its row entry"),
                )?;
            }
        }
        Ok(())
    }

    /// Number of users (rows), including users with no interactions.
    pub fn n_users(&self) -> usize {
        self.n_users
    }
    /// Number of items (columns), including items with no interactions.
    pub fn n_items(&self) -> usize {
        self.n_items
    }
    /// Number of stored interactions.
    pub fn nnz(&self) -> usize {
        self.items.len()
    }
    /// True when no interaction is stored.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    /// Explicit or implicit.
    pub fn kind(&self) -> Feedback {
        self.kind
    }
    /// True when every interaction has a timestamp.
    pub fn has_times(&self) -> bool {
        self.times.is_some()
    }
    /// `nnz / (n_users * n_items)`, 0 for an empty shape.
    pub fn density(&self) -> f64 {
        let cells = self.n_users as f64 * self.n_items as f64;
        if cells == 0.0 {
            0.0
        } else {
            self.nnz() as f64 / cells
        }
    }

    fn row(&self, u: UserIdx) -> std::ops::Range<usize> {
        self.row_ptr[u.get()]..self.row_ptr[u.get() + 1]
    }
    fn col(&self, i: ItemIdx) -> std::ops::Range<usize> {
        self.col_ptr[i.get()]..self.col_ptr[i.get() + 1]
    }

    /// Items of user `u`, sorted. Panics when `u` is out of range; see [`Self::check_user`].
    pub fn user_items(&self, u: UserIdx) -> &[ItemIdx] {
        &self.items[self.row(u)]
    }
    /// Values of user `u`, aligned with [`Self::user_items`].
    pub fn user_values(&self, u: UserIdx) -> &[f32] {
        &self.values[self.row(u)]
    }
    /// Timestamps of user `u`, aligned with [`Self::user_items`], when present.
    pub fn user_times(&self, u: UserIdx) -> Option<&[i64]> {
        let r = self.row(u);
        self.times.as_ref().map(|t| &t[r])
    }
    /// Number of interactions of user `u`.
    pub fn user_len(&self, u: UserIdx) -> usize {
        self.row(u).len()
    }
    /// The history of user `u` as `(item, value)` pairs, the input models recommend from.
    pub fn history(&self, u: UserIdx) -> Vec<(ItemIdx, f32)> {
        self.user_items(u)
            .iter()
            .copied()
            .zip(self.user_values(u).iter().copied())
            .collect()
    }
    /// The items of user `u` in the order they happened, oldest first (ties in time, and data without
    /// timestamps, in item order: the tie rule of the leave-last-k-out split), the input of the
    /// sequential models.
    ///
    /// ```
    /// use tastebud_core::{Feedback, Interaction, Interactions, ItemIdx, UserIdx};
    /// let rows = [(0, 2, 30), (0, 0, 10), (0, 1, 20)].map(|(u, i, t)| Interaction {
    ///     user: UserIdx(u), item: ItemIdx(i), value: 1.0, time: Some(t) });
    /// let x = Interactions::from_records(1, 3, &rows, Feedback::Implicit)?;
    /// assert_eq!(x.sequence(UserIdx(0)), [ItemIdx(0), ItemIdx(1), ItemIdx(2)]);
    /// # Ok::<(), tastebud_core::Error>(())
    /// ```
    pub fn sequence(&self, u: UserIdx) -> Vec<ItemIdx> {
        let items = self.user_items(u);
        match self.user_times(u) {
            Some(t) => {
                let mut order: Vec<usize> = (0..items.len()).collect();
                order.sort_by_key(|&j| (t[j], j));
                order.into_iter().map(|j| items[j]).collect()
            }
            None => items.to_vec(),
        }
    }
    /// Users of item `i`, sorted.
    pub fn item_users(&self, i: ItemIdx) -> &[UserIdx] {
        &self.col_users[self.col(i)]
    }
    /// Values of item `i`, aligned with [`Self::item_users`].
    pub fn item_values(&self, i: ItemIdx) -> impl ExactSizeIterator<Item = f32> + '_ {
        self.col_pos[self.col(i)]
            .iter()
            .map(|&p| self.values[p as usize])
    }
    /// Number of interactions of item `i`.
    pub fn item_len(&self, i: ItemIdx) -> usize {
        self.col(i).len()
    }
    /// The value stored for `(u, i)`, if any (binary search in the user's row).
    pub fn get(&self, u: UserIdx, i: ItemIdx) -> Option<f32> {
        let r = self.row(u);
        self.items[r.clone()]
            .binary_search(&i)
            .ok()
            .map(|k| self.values[r.start + k])
    }
    /// Checks a user index against the shape.
    pub fn check_user(&self, u: UserIdx) -> Result<()> {
        if u.get() < self.n_users {
            Ok(())
        } else {
            Err(Error::IndexOutOfRange {
                kind: "user",
                index: u.0,
                len: self.n_users,
            })
        }
    }
    /// Checks an item index against the shape.
    pub fn check_item(&self, i: ItemIdx) -> Result<()> {
        if i.get() < self.n_items {
            Ok(())
        } else {
            Err(Error::IndexOutOfRange {
                kind: "item",
                index: i.0,
                len: self.n_items,
            })
        }
    }
    /// Number of interactions per user.
    pub fn user_counts(&self) -> Vec<usize> {
        self.row_ptr.windows(2).map(|w| w[1] - w[0]).collect()
    }
    /// Number of interactions per item.
    pub fn item_counts(&self) -> Vec<usize> {
        self.col_ptr.windows(2).map(|w| w[1] - w[0]).collect()
    }
    /// All stored values in CSR order.
    pub fn values(&self) -> &[f32] {
        &self.values
    }
    /// All timestamps in CSR order, when present.
    pub fn times(&self) -> Option<&[i64]> {
        self.times.as_deref()
    }
    /// The user owning each CSR position, in CSR order.
    pub fn csr_users(&self) -> impl Iterator<Item = UserIdx> + '_ {
        (0..self.n_users).flat_map(move |u| {
            std::iter::repeat_n(UserIdx(u as u32), self.row_ptr[u + 1] - self.row_ptr[u])
        })
    }
    /// Every interaction in CSR order (by user, then item).
    pub fn iter(&self) -> impl Iterator<Item = Interaction> + '_ {
        self.csr_users()
            .enumerate()
            .map(move |(p, user)| Interaction {
                user,
                item: self.items[p],
                value: self.values[p],
                time: self.times.as_ref().map(|t| t[p]),
            })
    }

    /// The same user-item pairs with every value 1.0 and no times, as implicit feedback (the binary input
    /// of libraries such as implicit); the shape is unchanged.
    ///
    /// ```
    /// use tastebud_core::{Feedback, Interactions};
    /// let x = Interactions::from_triplets(2, 3, &[(0, 1, 4.0), (1, 2, 2.5)], Feedback::Explicit).unwrap();
    /// let b = x.binary();
    /// assert_eq!((b.values(), b.kind(), b.n_items()), (&[1.0, 1.0][..], Feedback::Implicit, 3));
    /// ```
    pub fn binary(&self) -> Self {
        let t: Vec<(u32, u32, f32)> = self.iter().map(|r| (r.user.0, r.item.0, 1.0)).collect();
        Self::from_triplets(self.n_users, self.n_items, &t, Feedback::Implicit)
            .expect("the pairs of a valid matrix")
    }

    /// Keeps the interactions whose CSR position satisfies `keep`; the shape is unchanged.
    ///
    /// Positions are those of [`Self::iter`]. This is how splitters cut a dataset: a mask over positions.
    pub fn filter_positions(&self, mut keep: impl FnMut(usize) -> bool) -> Self {
        let mut row_ptr = Vec::with_capacity(self.n_users + 1);
        row_ptr.push(0);
        let mut items = Vec::new();
        let mut values = Vec::new();
        let mut times = self.times.as_ref().map(|_| Vec::new());
        for u in 0..self.n_users {
            for p in self.row_ptr[u]..self.row_ptr[u + 1] {
                if keep(p) {
                    items.push(self.items[p]);
                    values.push(self.values[p]);
                    if let (Some(out), Some(t)) = (times.as_mut(), self.times.as_ref()) {
                        out.push(t[p]);
                    }
                }
            }
            row_ptr.push(items.len());
        }
        Self::from_sorted_rows(
            self.n_users,
            self.n_items,
            self.kind,
            row_ptr,
            items,
            values,
            times,
        )
    }

    /// The same interactions in a larger shape (new users or items with no interactions appended).
    pub fn with_shape(&self, n_users: usize, n_items: usize) -> Result<Self> {
        if n_users < self.n_users || n_items < self.n_items {
            return Err(Error::Shape(format!(
                "cannot shrink {}x{} to {n_users}x{n_items}",
                self.n_users, self.n_items
            )));
        }
        let mut row_ptr = self.row_ptr.clone();
        row_ptr.resize(n_users + 1, self.nnz());
        Ok(Self::from_sorted_rows(
            n_users,
            n_items,
            self.kind,
            row_ptr,
            self.items.clone(),
            self.values.clone(),
            self.times.clone(),
        ))
    }

    /// Bytes held by the arrays (not counting the struct itself).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.row_ptr.len() * size_of::<usize>()
            + self.items.len() * size_of::<ItemIdx>()
            + self.values.len() * 4
            + self.times.as_ref().map_or(0, |t| t.len() * 8)
            + self.col_ptr.len() * size_of::<usize>()
            + self.col_users.len() * 4
            + self.col_pos.len() * 4
    }
}

/// Sorts each row by item and merges duplicate items by the `kind` rule, compacting in place.
///
/// Rows are processed in parallel in groups of contiguous rows (each group compacts inside its own region),
/// then the groups are moved left into place.
fn sort_and_dedup_rows(
    row_ptr: &mut [usize],
    items: &mut Vec<ItemIdx>,
    values: &mut Vec<f32>,
    mut times: Option<&mut Vec<i64>>,
    kind: Feedback,
) {
    use rayon::prelude::*;
    let n_users = row_ptr.len() - 1;
    let nnz = row_ptr[n_users];
    // Groups of rows holding about nnz / (8 * threads) interactions each.
    let target = (nnz / (8 * rayon::current_num_threads().max(1))).max(4096);
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut a = 0;
    while a < n_users {
        let mut b = a + 1;
        while b < n_users && row_ptr[b] - row_ptr[a] < target {
            b += 1;
        }
        groups.push((a, b));
        a = b;
    }
    let mut empty_times: Vec<i64> = Vec::new();
    let (mut ri, mut rv) = (&mut items[..], &mut values[..]);
    let mut rt: &mut [i64] = match times.as_deref_mut() {
        Some(t) => &mut t[..],
        None => &mut empty_times[..],
    };
    let mut tasks = Vec::with_capacity(groups.len());
    for &(a, b) in &groups {
        let len = row_ptr[b] - row_ptr[a];
        let (gi, r) = std::mem::take(&mut ri).split_at_mut(len);
        ri = r;
        let (gv, r) = std::mem::take(&mut rv).split_at_mut(len);
        rv = r;
        let tlen = if rt.is_empty() { 0 } else { len };
        let (gt, r) = std::mem::take(&mut rt).split_at_mut(tlen);
        rt = r;
        let lens: Vec<usize> = (a..b).map(|u| row_ptr[u + 1] - row_ptr[u]).collect();
        tasks.push((lens, gi, gv, gt));
    }
    let new_lens: Vec<Vec<usize>> = tasks
        .into_par_iter()
        .map(|(lens, gi, gv, gt)| dedup_group(&lens, gi, gv, gt, kind))
        .collect();
    // Move each group's compacted prefix left and rebuild the row pointers.
    let mut write = 0usize;
    for (&(a, b), lens) in groups.iter().zip(&new_lens) {
        let start = row_ptr[a];
        let kept: usize = lens.iter().sum();
        items.copy_within(start..start + kept, write);
        values.copy_within(start..start + kept, write);
        if let Some(t) = times.as_deref_mut() {
            t.copy_within(start..start + kept, write);
        }
        let mut p = write;
        for (u, &l) in (a..b).zip(lens) {
            row_ptr[u] = p;
            p += l;
        }
        write += kept;
    }
    row_ptr[n_users] = write;
    items.truncate(write);
    items.shrink_to_fit();
    values.truncate(write);
    values.shrink_to_fit();
    if let Some(t) = times {
        t.truncate(write);
        t.shrink_to_fit();
    }
}

/// Sorts and deduplicates the rows of one group (`lens` are the row lengths, the slices the group's region),
/// compacting them to the start of the region; returns the new row lengths. `times` is empty when absent.
fn dedup_group(
    lens: &[usize],
    items: &mut [ItemIdx],
    values: &mut [f32],
    times: &mut [i64],
    kind: Feedback,
) -> Vec<usize> {
    let has_t = !times.is_empty();
    let mut order: Vec<u32> = Vec::new();
    let mut tmp_i: Vec<ItemIdx> = Vec::new();
    let mut tmp_v: Vec<f32> = Vec::new();
    let mut tmp_t: Vec<i64> = Vec::new();
    let mut out = Vec::with_capacity(lens.len());
    let (mut start, mut write) = (0usize, 0usize);
    for &len in lens {
        let end = start + len;
        if items[start..end].windows(2).all(|w| w[0] < w[1]) {
            // Common case (files sorted by user then item, no duplicates): just move the row.
            items.copy_within(start..end, write);
            values.copy_within(start..end, write);
            if has_t {
                times.copy_within(start..end, write);
            }
            out.push(len);
            write += len;
            start = end;
            continue;
        }
        order.clear();
        order.extend(0..len as u32);
        // Sorting (item, input position) keeps duplicates in input order.
        order.sort_unstable_by_key(|&k| (items[start + k as usize], k));
        tmp_i.clear();
        tmp_v.clear();
        tmp_t.clear();
        for &k in &order {
            let p = start + k as usize;
            let (it, v) = (items[p], values[p]);
            let t = has_t.then(|| times[p]);
            if tmp_i.last() == Some(&it) {
                let last = tmp_i.len() - 1;
                match kind {
                    Feedback::Implicit => {
                        tmp_v[last] += v;
                        if let Some(t) = t {
                            tmp_t[last] = tmp_t[last].max(t);
                        }
                    }
                    Feedback::Explicit => {
                        // Later in input wins unless it is strictly older.
                        if t.is_none_or(|t| t >= tmp_t[last]) {
                            tmp_v[last] = v;
                            if let Some(t) = t {
                                tmp_t[last] = t;
                            }
                        }
                    }
                }
            } else {
                tmp_i.push(it);
                tmp_v.push(v);
                if let Some(t) = t {
                    tmp_t.push(t);
                }
            }
        }
        let n = tmp_i.len();
        items[write..write + n].copy_from_slice(&tmp_i);
        values[write..write + n].copy_from_slice(&tmp_v);
        if has_t {
            times[write..write + n].copy_from_slice(&tmp_t);
        }
        out.push(n);
        write += n;
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rec(u: u32, i: u32, v: f32, t: i64) -> Interaction {
        Interaction {
            user: UserIdx(u),
            item: ItemIdx(i),
            value: v,
            time: Some(t),
        }
    }

    #[test]
    fn explicit_keeps_latest_by_time() {
        let x = Interactions::from_records(
            1,
            2,
            &[rec(0, 1, 5.0, 200), rec(0, 1, 2.0, 100), rec(0, 0, 3.0, 50)],
            Feedback::Explicit,
        )
        .unwrap();
        assert_eq!(x.user_values(UserIdx(0)), &[3.0, 5.0]);
        assert_eq!(x.user_times(UserIdx(0)).unwrap(), &[50, 200]);
    }

    #[test]
    fn explicit_tie_on_time_later_in_input_wins() {
        let x = Interactions::from_records(
            1,
            1,
            &[rec(0, 0, 1.0, 7), rec(0, 0, 4.0, 7)],
            Feedback::Explicit,
        )
        .unwrap();
        assert_eq!(x.user_values(UserIdx(0)), &[4.0]);
    }

    #[test]
    fn implicit_sums_and_keeps_latest_time() {
        let x = Interactions::from_records(
            1,
            2,
            &[rec(0, 1, 1.0, 10), rec(0, 1, 2.0, 30), rec(0, 1, 1.0, 20)],
            Feedback::Implicit,
        )
        .unwrap();
        assert_eq!(x.nnz(), 1);
        assert_eq!(x.user_values(UserIdx(0)), &[4.0]);
        assert_eq!(x.user_times(UserIdx(0)).unwrap(), &[30]);
    }

    #[test]
    fn out_of_range_and_mixed_times_are_errors() {
        assert!(matches!(
            Interactions::from_triplets(1, 1, &[(0, 3, 1.0)], Feedback::Implicit),
            Err(Error::IndexOutOfRange { kind: "item", .. })
        ));
        let mut t = Triplets::default();
        t.push(0, 0, 1.0, Some(1));
        t.push(0, 0, 1.0, None);
        assert!(Interactions::from_blocks(1, 1, vec![t], Feedback::Implicit).is_err());
    }

    #[test]
    fn filter_and_reshape_keep_consistency() {
        let x = Interactions::from_triplets(
            2,
            3,
            &[(0, 0, 1.0), (0, 2, 1.0), (1, 1, 1.0)],
            Feedback::Implicit,
        )
        .unwrap();
        let y = x.filter_positions(|p| p != 1);
        assert_eq!(y.nnz(), 2);
        assert_eq!(y.item_len(ItemIdx(2)), 0);
        let z = y.with_shape(4, 5).unwrap();
        assert_eq!((z.n_users(), z.n_items(), z.nnz()), (4, 5, 2));
        assert!(z.user_items(UserIdx(3)).is_empty());
        assert!(y.with_shape(1, 3).is_err());
    }

    /// Large enough for the parallel row sort to use many groups; compared with a naive map.
    #[test]
    fn parallel_dedup_matches_naive_on_many_groups() {
        let (n_users, n_items) = (500u32, 300u32);
        let mut recs = Vec::new();
        let mut state = 12345u64;
        for k in 0..200_000u64 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = ((state >> 33) % n_users as u64) as u32;
            let i = ((state >> 13) % n_items as u64) as u32;
            recs.push(rec(u, i, (k % 5 + 1) as f32, ((state >> 40) % 50) as i64));
        }
        for kind in [Feedback::Explicit, Feedback::Implicit] {
            let x = Interactions::from_records(n_users as usize, n_items as usize, &recs, kind)
                .unwrap();
            let mut naive: std::collections::BTreeMap<(u32, u32), (f32, i64)> = Default::default();
            for r in &recs {
                let t = r.time.unwrap();
                naive
                    .entry((r.user.0, r.item.0))
                    .and_modify(|e| match kind {
                        Feedback::Implicit => {
                            e.0 += r.value;
                            e.1 = e.1.max(t);
                        }
                        Feedback::Explicit => {
                            if t >= e.1 {
                                *e = (r.value, t);
                            }
                        }
                    })
                    .or_insert((r.value, t));
            }
            let got: Vec<_> = x
                .iter()
                .map(|r| ((r.user.0, r.item.0), (r.value, r.time.unwrap())))
                .collect();
            assert_eq!(got, naive.into_iter().collect::<Vec<_>>());
        }
    }

    proptest! {
        /// CSR and CSC agree with a naive map built from the same triplets, for both duplicate rules.
        #[test]
        fn csr_csc_match_naive(raw in proptest::collection::vec((0u32..6, 0u32..8, 1u8..6, 0i64..5), 0..120),
                               implicit in any::<bool>()) {
            let kind = if implicit { Feedback::Implicit } else { Feedback::Explicit };
            let recs: Vec<_> = raw.iter().map(|&(u, i, v, t)| rec(u, i, v as f32, t)).collect();
            let x = Interactions::from_records(6, 8, &recs, kind).unwrap();
            let mut naive: std::collections::BTreeMap<(u32, u32), (f32, i64)> = Default::default();
            for r in &recs {
                let key = (r.user.0, r.item.0);
                let t = r.time.unwrap();
                naive.entry(key).and_modify(|e| match kind {
                    Feedback::Implicit => { e.0 += r.value; e.1 = e.1.max(t); }
                    Feedback::Explicit => if t >= e.1 { *e = (r.value, t); },
                }).or_insert((r.value, t));
            }
            prop_assert_eq!(x.nnz(), naive.len());
            let got: Vec<_> = x.iter().map(|r| ((r.user.0, r.item.0), (r.value, r.time.unwrap()))).collect();
            let want: Vec<_> = naive.into_iter().collect();
            prop_assert_eq!(&got, &want);
            for i in 0..8u32 {
                let users: Vec<u32> = x.item_users(ItemIdx(i)).iter().map(|u| u.0).collect();
                let vals: Vec<f32> = x.item_values(ItemIdx(i)).collect();
                let want_u: Vec<u32> = want.iter().filter(|((_, it), _)| *it == i).map(|((u, _), _)| *u).collect();
                let want_v: Vec<f32> = want.iter().filter(|((_, it), _)| *it == i).map(|(_, (v, _))| *v).collect();
                prop_assert_eq!(users, want_u);
                prop_assert_eq!(vals, want_v);
            }
        }
    }
}
