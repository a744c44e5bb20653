//! Walking a list page by page, with a cursor that can be stored and resumed from.

use std::marker::PhantomData;

use stripe_events::EventObject;

use crate::client::{object_page, typed_page, RawPage, StripeClient};
use crate::error::Error;
use crate::list::{CreatedRange, ListKind, Listable, Page};

/// Reads a list one page at a time. After each page, [`cursor`](Self::cursor) is where the
/// next one starts: store it as a checkpoint and pass it to
/// [`StripeClient::pager`] to resume after a crash.
#[derive(Debug)]
pub struct Pager<T> {
    client: StripeClient,
    kind: ListKind,
    created: CreatedRange,
    cursor: Option<String>,
    done: bool,
    pages: u64,
    _items: PhantomData<fn() -> T>,
}

impl<T> Pager<T> {
    pub(crate) fn new(
        client: StripeClient,
        kind: ListKind,
        created: CreatedRange,
        resume: Option<String>,
    ) -> Pager<T> {
        Pager {
            client,
            kind,
            created,
            cursor: resume,
            done: false,
            pages: 0,
            _items: PhantomData,
        }
    }

    /// The `starting_after` of the next page (`None` before the first page of a fresh walk,
    /// and once the list is exhausted).
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    /// Whether the last page has been read.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Pages read so far by this pager.
    pub fn pages_read(&self) -> u64 {
        self.pages
    }

    /// The kind being listed.
    pub fn kind(&self) -> ListKind {
        self.kind
    }

    async fn next_raw(&mut self) -> Result<Option<RawPage>, Error> {
        if self.done {
            return Ok(None);
        }
        let raw = self
            .client
            .fetch_page(self.kind, self.created, self.cursor.as_deref())
            .await?;
        self.pages += 1;
        Ok(Some(raw))
    }

    fn advance<U>(&mut self, page: &Page<U>) -> Result<(), Error> {
        if page.next_cursor.is_some() && page.next_cursor == self.cursor {
            return Err(Error::Decode {
                endpoint: self.kind.path().to_owned(),
                request_id: crate::error::RequestId(page.request_id.clone()),
                detail: "the page ends where it started, so paging would never end".into(),
            });
        }
        self.done = !page.has_more;
        self.cursor = page.next_cursor.clone();
        Ok(())
    }
}

impl<T: Listable> Pager<T> {
    /// The next page, or `None` once the list is exhausted. On an error the cursor stays
    /// where it was, so calling again retries the same page.
    pub async fn next_page(&mut self) -> Result<Option<Page<T>>, Error> {
        let Some(raw) = self.next_raw().await? else {
            return Ok(None);
        };
        let page = typed_page::<T>(self.kind, raw)?;
        self.advance(&page)?;
        Ok(Some(page))
    }

    /// Every remaining object (for small lists; a backfill should go page by page).
    pub async fn collect_all(mut self) -> Result<Vec<T>, Error> {
        let mut all = Vec::new();
        while let Some(page) = self.next_page().await? {
            all.extend(page.data);
        }
        Ok(all)
    }
}

impl Pager<EventObject> {
    /// The next page of objects, or `None` once the list is exhausted.
    pub async fn next_objects(&mut self) -> Result<Option<Page<EventObject>>, Error> {
        let Some(raw) = self.next_raw().await? else {
            return Ok(None);
        };
        let page = object_page(self.kind, raw)?;
        self.advance(&page)?;
        Ok(Some(page))
    }
}
