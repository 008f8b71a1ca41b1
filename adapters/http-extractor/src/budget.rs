//! The byte budget of page bodies held in memory (`fetch.body_budget_mib`).
//!
//! Waiting on the network costs a socket and a few kilobytes; a page being
//! read or waiting for a parsing thread costs its bytes. So the number of
//! domains in flight can be sized for the internet's latency while the
//! memory their pages take is bounded by this budget, not by
//! `concurrency × max_body_kib`. A read takes its share as the bytes
//! arrive and gives it back once the page has been parsed; a read that
//! finds the budget spent waits for other pages to be parsed.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The unit the budget is counted in: a permit is a kibibyte.
const UNIT: usize = 1024;

/// The budget every fetch of one extractor shares.
#[derive(Debug, Clone)]
pub(crate) struct BodyBudget {
    kibibytes: Arc<Semaphore>,
}

/// One page's share of the budget; dropping it gives the share back.
#[derive(Debug)]
pub(crate) struct BodyAllowance {
    kibibytes: Arc<Semaphore>,
    held: Option<OwnedSemaphorePermit>,
}

impl BodyBudget {
    /// A budget of `bytes` (at least one unit).
    pub(crate) fn new(bytes: usize) -> BodyBudget {
        BodyBudget {
            kibibytes: Arc::new(Semaphore::new(units(bytes).max(1))),
        }
    }

    /// An empty share, grown as the page's bytes arrive.
    pub(crate) fn allowance(&self) -> BodyAllowance {
        BodyAllowance {
            kibibytes: Arc::clone(&self.kibibytes),
            held: None,
        }
    }

    /// What is left of the budget now, in bytes.
    #[cfg(test)]
    fn available(&self) -> usize {
        self.kibibytes.available_permits() * UNIT
    }
}

impl BodyAllowance {
    /// Grows the share to cover `bytes` in all, waiting while the budget
    /// is spent. The share never shrinks before it is dropped.
    pub(crate) async fn cover(&mut self, bytes: usize) {
        let wanted = units(bytes);
        let held = self
            .held
            .as_ref()
            .map_or(0, OwnedSemaphorePermit::num_permits);
        if wanted <= held {
            return;
        }
        let more = u32::try_from(wanted - held).unwrap_or(u32::MAX);
        // The semaphore is never closed, so the only error cannot happen;
        // were it to, the page is read without a share rather than lost.
        if let Ok(permit) = Arc::clone(&self.kibibytes).acquire_many_owned(more).await {
            match &mut self.held {
                Some(held) => held.merge(permit),
                None => self.held = Some(permit),
            }
        }
    }

    /// Gives back what the share holds beyond `bytes`: the unread part of
    /// an announced length that is not arriving at once.
    pub(crate) fn shrink_to(&mut self, bytes: usize) {
        let keep = units(bytes);
        if let Some(held) = &mut self.held
            && held.num_permits() > keep
        {
            // Dropping the split-off part returns it to the budget.
            drop(held.split(held.num_permits() - keep));
        }
    }
}

/// Units needed for `bytes`, rounded up.
fn units(bytes: usize) -> usize {
    bytes.div_ceil(UNIT)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]

    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_share_grows_with_the_page_and_is_given_back_when_dropped() {
        let budget = BodyBudget::new(64 * UNIT);
        let mut page = budget.allowance();
        page.cover(1).await;
        assert_eq!(budget.available(), 63 * UNIT);
        page.cover(10 * UNIT + 1).await;
        assert_eq!(budget.available(), 53 * UNIT);
        // Covering less than held takes nothing more.
        page.cover(5 * UNIT).await;
        assert_eq!(budget.available(), 53 * UNIT);
        drop(page);
        assert_eq!(budget.available(), 64 * UNIT);
    }

    #[tokio::test]
    async fn a_share_shrunk_to_what_was_read_gives_the_rest_back_and_can_grow_again() {
        let budget = BodyBudget::new(64 * UNIT);
        let mut page = budget.allowance();
        page.cover(40 * UNIT).await;
        page.shrink_to(3 * UNIT + 1);
        assert_eq!(budget.available(), 60 * UNIT);
        // Shrinking to more than is held takes nothing.
        page.shrink_to(10 * UNIT);
        assert_eq!(budget.available(), 60 * UNIT);
        page.cover(8 * UNIT).await;
        assert_eq!(budget.available(), 56 * UNIT);
        drop(page);
        assert_eq!(budget.available(), 64 * UNIT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_waits_while_the_budget_is_spent_and_goes_on_when_a_page_is_parsed() {
        let budget = BodyBudget::new(8 * UNIT);
        let mut first = budget.allowance();
        first.cover(6 * UNIT).await;
        let mut second = budget.allowance();
        let waiting = tokio::spawn(async move {
            second.cover(4 * UNIT).await;
            second
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiting.is_finished(), "read past the budget");
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("the read went on once the first page was given back")
            .expect("the task ran");
        assert_eq!(budget.available(), 4 * UNIT);
        drop(second);
        assert_eq!(budget.available(), 8 * UNIT);
    }
}
