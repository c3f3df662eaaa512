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
//! Here the spilling consumers share half the pool; the non-spilling ones may
//! use what is free except a floor of a quarter kept for the spilling ones, and
//! no one reservation more than its part of that, so one partition's merge
//! leaves memory to the other's and to the merge of the partitions above them.
//! A merge of spill files that gets less merges fewer files at a time, as it is
//! built to. (`sql::session` also makes a spilling sort sort in place, with no
//! fixed merge reservation.) DataFusion has no setting for this, hence a pool
//! of our own.

use std::sync::Mutex;

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};

/// The part of the pool only non-spilling consumers may use: half. A sort
/// that spills merged its in-memory runs holding their keys in row form, about
/// half as much as the sort held (41 MB beside 85 MB on the benchmark log),
/// for two partitions at once: with an eighth or a third kept back, that still
/// failed at 256 MB. Sorts now sort in place when they spill, and a quarter
/// completed 3 runs of 3 at 256 MB in a last test: too few to change this
/// (BENCHMARKS.md, "Small memory limits").
const HEADROOM_DIVISOR: usize = 2;
/// The part of the pool only spilling consumers may use: a quarter.
const FLOOR_DIVISOR: usize = 4;

/// A fair spill pool whose spilling consumers never take the last half and
/// whose non-spilling consumers never take the last quarter.
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
    spillable: usize,
    unspillable: usize,
}

impl State {
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
        if consumer.can_spill() {
            self.state().spillers += 1;
        }
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        if consumer.can_spill() {
            let mut state = self.state();
            state.spillers = state.spillers.saturating_sub(1);
        }
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
        let room = if consumer.can_spill() {
            let shared = self
                .size
                .saturating_sub(self.headroom.max(state.unspillable));
            (shared / state.spillers.max(1)).saturating_sub(reservation.size())
        } else {
            let free = self
                .size
                .saturating_sub(state.unspillable + state.spillable);
            let below_floor = (self.size - self.floor).saturating_sub(state.unspillable);
            // One merge may not take all of it from another partition's, nor
            // from the merge of the partitions above them: a part each.
            let own_share = ((self.size - self.floor) / (state.spillers + 1))
                .saturating_sub(reservation.size());
            free.min(below_floor).min(own_share)
        };
        if additional > room {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "Failed to allocate additional {additional} bytes for {} with {} bytes already \
                 allocated for this reservation: {room} bytes available in the {self}",
                consumer.name(),
                reservation.size(),
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

    use datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool};

    use super::HeadroomPool;

    #[test]
    fn spilling_consumers_leave_the_headroom_to_the_others() {
        let pool: Arc<dyn MemoryPool> = Arc::new(HeadroomPool::new(800));
        let sorts: Vec<_> = (0..2)
            .map(|i| MemoryConsumer::new(format!("sort{i}")).with_can_spill(true))
            .map(|c| c.register(&pool))
            .collect();
        // Two spillers share 800 - 400: 200 each, and not a byte more.
        for sort in &sorts {
            assert!(sort.try_grow(200).is_ok());
            assert!(sort.try_grow(1).is_err());
        }
        // A merge that cannot spill still finds the headroom…
        let merge = MemoryConsumer::new("merge").register(&pool);
        assert!(merge.try_grow(200).is_ok());
        assert!(merge.try_grow(1).is_err());
        let other = MemoryConsumer::new("other merge").register(&pool);
        assert!(other.try_grow(200).is_ok());
        // …and no more: the pool is full.
        let third = MemoryConsumer::new("third merge").register(&pool);
        assert!(third.try_grow(1).is_err());
        assert_eq!(pool.reserved(), 800);
        // Freed memory comes back.
        merge.free();
        sorts[0].free();
        assert_eq!(pool.reserved(), 400);
        assert!(sorts[0].try_grow(200).is_ok());
    }

    #[test]
    fn non_spilling_consumers_leave_the_floor_to_the_spillers() {
        let pool: Arc<dyn MemoryPool> = Arc::new(HeadroomPool::new(800));
        // Alone, a merge of spill files takes what it can get: 800 - 200.
        let merge = MemoryConsumer::new("merge").register(&pool);
        assert!(merge.try_grow(600).is_ok());
        assert!(merge.try_grow(1).is_err());
        merge.free();
        // Beside two sorts, one merge takes a third of it…
        let sorts: Vec<_> = (0..2)
            .map(|i| MemoryConsumer::new(format!("sort{i}")).with_can_spill(true))
            .map(|c| c.register(&pool))
            .collect();
        assert!(merge.try_grow(200).is_ok());
        assert!(merge.try_grow(1).is_err());
        // …so the other partition's merge and the one above find their part.
        let others: Vec<_> = ["other merge", "merge above"]
            .map(|name| MemoryConsumer::new(name).register(&pool))
            .into_iter()
            .collect();
        for other in &others {
            assert!(other.try_grow(200).is_ok());
        }
        // The sorts still reading share the floor.
        for sort in &sorts {
            assert!(sort.try_grow(100).is_ok());
            assert!(sort.try_grow(1).is_err());
        }
        assert_eq!(pool.reserved(), 800);
    }
}
