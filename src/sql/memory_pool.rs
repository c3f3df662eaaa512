//! The memory pool behind `--memory-limit`: DataFusion's fair spill pool, with
//! parts kept back so that spilling and non-spilling consumers cannot starve
//! each other.
//!
//! Under DataFusion's `FairSpillPool` the 10M-event benchmark log failed now
//! and then with "Resources exhausted" (3 of 11 runs at the default 384 MiB,
//! 2 of 4 at 256 MB; BENCHMARKS.md). Two sort partitions and their merges
//! share the pool: a sort that spills frees its merge reservation and merges
//! its runs under a new reservation that cannot spill, while the other
//! partition's sort grows into the freed bytes; and a sort's final merge of its
//! spill files reserves buffers for as many files as the pool lets it, leaving
//! the other partition's sort less than one batch.
//!
//! Here each non-spilling consumer may hold at most one share of the pool
//! less a floor of a quarter kept for the spilling ones: (size − floor) / (n + 1)
//! for n non-spilling consumers registered. The spilling consumers share what
//! the others could hold at most, and never more than half the pool. So one
//! partition's merge of spill files, which takes as many files as memory
//! lets it, leaves room to the other's and to the merge of the partitions
//! above them: every non-spilling consumer can always grow to its share. A
//! merge that gets less merges fewer files at a time, as it is built to.
//! (`sql::session` also makes a spilling sort sort in place, with no fixed
//! merge reservation.) DataFusion has no setting for this, hence a pool of our
//! own.
//!
//! An earlier version bounded a non-spilling consumer by the number of
//! *spilling* ones; when the sorts had finished, the two partitions' merges
//! took the whole pool and the merge above them failed to get its first batch
//! (1 run of 12 at 10M events, "Failed to allocate … for
//! SortPreservingMergeExec[0] with 0 bytes already allocated").

use std::sync::Mutex;

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};

/// The spilling consumers together never hold more than half the pool: a sort
/// that spills merged its in-memory runs holding their keys in row form, about
/// half as much as the sort held (41 MB beside 85 MB on the benchmark log),
/// for two partitions at once: with an eighth or a third kept back, that still
/// failed at 256 MB (BENCHMARKS.md, "Small memory limits").
const HEADROOM_DIVISOR: usize = 2;
/// The part of the pool only spilling consumers may use: a quarter.
const FLOOR_DIVISOR: usize = 4;

/// A fair spill pool that keeps a share for every non-spilling consumer and a
/// floor of a quarter for the spilling ones.
#[derive(Debug)]
pub struct HeadroomPool {
    size: usize,
    headroom: usize,
    floor: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    spillers: usize,
    /// Non-spilling consumers registered.
    others: usize,
    spillable: usize,
    unspillable: usize,
}

impl State {
    /// The number of consumers like `consumer` registered.
    fn count(&mut self, consumer: &MemoryConsumer) -> &mut usize {
        if consumer.can_spill() {
            &mut self.spillers
        } else {
            &mut self.others
        }
    }

    /// The bytes held by the consumers like `consumer`: spilling or not.
    fn held(&mut self, consumer: &MemoryConsumer) -> &mut usize {
        if consumer.can_spill() {
            &mut self.spillable
        } else {
            &mut self.unspillable
        }
    }
}

impl HeadroomPool {
    /// A pool of `size` bytes.
    pub fn new(size: usize) -> Self {
        Self {
            size,
            headroom: size / HEADROOM_DIVISOR,
            floor: size / FLOOR_DIVISOR,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The counters stay consistent even if a holder panicked.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::fmt::Display for HeadroomPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "fair pool of {} bytes, {} kept for non-spilling and {} for spilling consumers",
            self.size, self.headroom, self.floor
        )
    }
}

impl MemoryPool for HeadroomPool {
    fn name(&self) -> &str {
        "fair-with-headroom"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        *self.state().count(consumer) += 1;
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        let mut state = self.state();
        let count = state.count(consumer);
        *count = count.saturating_sub(1);
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        *self.state().held(reservation.consumer()) += additional;
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        let mut state = self.state();
        let held = state.held(reservation.consumer());
        *held = held.saturating_sub(shrink);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        let mut state = self.state();
        let consumer = reservation.consumer();
        // What this reservation may grow by.
        let unspillable_part = self.size - self.floor;
        let share = unspillable_part / (state.others + 1);
        let room = if consumer.can_spill() {
            // What the non-spilling consumers hold or may grow to.
            let kept = self
                .headroom
                .max(share * state.others)
                .max(state.unspillable);
            let shared = self.size.saturating_sub(kept);
            (shared / state.spillers.max(1)).saturating_sub(reservation.size())
        } else {
            let free = self
                .size
                .saturating_sub(state.unspillable + state.spillable);
            let below_floor = unspillable_part.saturating_sub(state.unspillable);
            free.min(below_floor)
                .min(share.saturating_sub(reservation.size()))
        };
        if additional > room {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "Failed to allocate additional {additional} bytes for {} with {} bytes already \
                 allocated for this reservation: {room} bytes available in the {self} \
                 ({} spilling consumers hold {}, {} others {})",
                consumer.name(),
                reservation.size(),
                state.spillers,
                state.spillable,
                state.others,
                state.unspillable,
            )));
        }
        *state.held(consumer) += additional;
        Ok(())
    }

    fn reserved(&self) -> usize {
        let state = self.state();
        state.spillable + state.unspillable
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.size)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool, MemoryReservation};

    use super::HeadroomPool;

    fn consumers(
        pool: &Arc<dyn MemoryPool>,
        names: &[&str],
        spill: bool,
    ) -> Vec<MemoryReservation> {
        names
            .iter()
            .map(|name| {
                MemoryConsumer::new(*name)
                    .with_can_spill(spill)
                    .register(pool)
            })
            .collect()
    }

    #[test]
    fn every_merge_gets_its_share_after_the_others_took_theirs() {
        // The run's sort: two partitions sort (spilling), then merge their spill
        // files, and the merge above them merges the partitions.
        let pool: Arc<dyn MemoryPool> = Arc::new(HeadroomPool::new(800));
        let merges = consumers(&pool, &["merge above", "merge0", "merge1"], false);
        let sorts = consumers(&pool, &["sort0", "sort1"], true);
        // Three non-spilling consumers: a share is (800 - 200) / 4 = 150, and the
        // spillers share what the others may not hold: (800 - 450) / 2 each.
        for sort in &sorts {
            assert!(sort.try_grow(175).is_ok());
            assert!(sort.try_grow(1).is_err());
        }
        // The partitions' merges grow as far as they are let…
        for merge in &merges[1..] {
            assert!(merge.try_grow(150).is_ok());
            assert!(merge.try_grow(1).is_err());
        }
        // …and the merge above still finds its whole share: the pool is full.
        assert!(merges[0].try_grow(150).is_ok());
        assert!(merges[0].try_grow(1).is_err());
        assert_eq!(pool.reserved(), 800);
        // Freed memory comes back.
        merges[1].free();
        sorts[0].free();
        assert_eq!(pool.reserved(), 475);
        assert!(sorts[0].try_grow(175).is_ok());
        assert!(merges[1].try_grow(150).is_ok());
    }

    #[test]
    fn spillers_keep_the_floor_and_never_take_more_than_half() {
        let pool: Arc<dyn MemoryPool> = Arc::new(HeadroomPool::new(800));
        // Alone, a sort takes half the pool, not more.
        let sorts = consumers(&pool, &["sort0"], true);
        assert!(sorts[0].try_grow(400).is_ok());
        assert!(sorts[0].try_grow(1).is_err());
        sorts[0].free();
        // Alone, a merge takes half of what is above the floor: (800 - 200) / 2,
        // the other half being the share of one more.
        let merges = consumers(&pool, &["merge0"], false);
        assert!(merges[0].try_grow(300).is_ok());
        assert!(merges[0].try_grow(1).is_err());
        // With many non-spilling consumers at their share ((800 - 200) / 5),
        // the spillers still hold the rest, more than the floor.
        let more = consumers(&pool, &["merge1", "merge2", "merge3"], false);
        merges[0].free();
        for merge in merges.iter().chain(&more) {
            assert!(merge.try_grow(120).is_ok());
        }
        assert!(sorts[0].try_grow(320).is_ok());
        assert!(sorts[0].try_grow(1).is_err());
        assert_eq!(pool.reserved(), 800);
    }
}
