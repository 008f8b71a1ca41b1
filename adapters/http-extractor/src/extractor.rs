//! [`HttpExtractor`]: the [`MetadataExtractor`] port. The home page is
//! fetched and extracted; when it has too few e-mails, some of its contact
//! pages are read and their contacts merged; when it does not state the
//! company behind the site, its imprint or legal page is read within the
//! same page budget.

use std::sync::Arc;

use scheduler_domain::metadata::Reached;
use scheduler_domain::{
    CompanyPart, ContactPage, DomainName, ExtractionError, MetadataExtractor, SiteKind,
    SiteMetadata,
};
use scheduler_html_metadata as html;
use tracing::debug;
use url::Url;

use crate::admission::{Admission, Admitted};
use crate::client::HttpClient;
use crate::error::HttpExtractorError;
use crate::failure::challenge_error;
use crate::fetch::{Fetcher, HeldPage};
use crate::page::{BodyFingerprint, FetchedPage};
use crate::parse_pool::ParsePool;
use crate::reach::Reach;
use crate::robots::RobotsTxt;
use crate::settings::FetchSettings;

/// The admission limit's ceiling: the largest `scheduler.concurrency`
/// (the scheduler's own limit bounds the domains that can wait here).
const ADMISSION_CEILING: usize = 16_384;

/// Fetches home pages over HTTPS and extracts their metadata. Cheap to
/// share: one connection pool and one TLS configuration for all fetches.
#[derive(Debug, Clone)]
pub struct HttpExtractor {
    fetcher: Fetcher,
    settings: Arc<FetchSettings>,
    /// One thread per core that parses pages.
    parser: Arc<ParsePool>,
    /// The `robots.txt` rules read in this run (none with `ignore`).
    robots: Arc<RobotsTxt>,
    /// Domains fetched at once, as the parsing threads allow.
    admission: Arc<Admission>,
}

impl HttpExtractor {
    /// Builds the client: TLS roots, resolver, limits and headers.
    ///
    /// # Errors
    ///
    /// [`HttpExtractorError`] when an extra root certificate file cannot be
    /// read or holds no certificate, the user agent is not a valid header
    /// value, or the client cannot be built.
    pub fn new(settings: FetchSettings) -> Result<HttpExtractor, HttpExtractorError> {
        settings.validate()?;
        let http = HttpClient::new(&settings)?;
        let settings = Arc::new(settings);
        let admission = Admission::new(ADMISSION_CEILING);
        let parser = Arc::new(
            ParsePool::new(
                std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
                Arc::clone(&admission),
            )
            .map_err(|error| {
                HttpExtractorError::Client(format!("cannot start the parsing threads: {error}"))
            })?,
        );
        Ok(HttpExtractor {
            fetcher: Fetcher::new(http, Arc::clone(&settings), Arc::clone(&parser)),
            robots: Arc::new(RobotsTxt::new(&settings)),
            settings,
            parser,
            admission,
        })
    }

    /// The settings this extractor runs with.
    pub fn settings(&self) -> &FetchSettings {
        &self.settings
    }

    fn reach(&self) -> Reach<'_> {
        Reach {
            fetcher: &self.fetcher,
            robots: &self.robots,
            settings: &self.settings,
        }
    }

    /// Fetches `url` (an `http://` URL is fetched as `https://`) and
    /// extracts the page's metadata. Only that URL is tried; the port's
    /// [`extract`](MetadataExtractor::extract) tries a domain's other
    /// URLs as a browser would (`www.`, plain http) when it fails.
    ///
    /// # Errors
    ///
    /// The [`ExtractionError`] of the last attempt; see
    /// [`HttpExtractor::fetch`]. `DisallowedByRobots` when
    /// `fetch.robots = "obey"` and the site's `robots.txt` disallows `url`.
    pub async fn extract_url(&self, url: &Url) -> Result<SiteMetadata, ExtractionError> {
        let mut admitted = self.admission.admit().await;
        let (page, reached) = admitted.while_on_network(self.reach().url(url)).await?;
        self.extract_home_page(page, reached, &mut admitted).await
    }

    /// The home page's metadata, and the contact pages' contacts when it
    /// has too few.
    async fn extract_home_page(
        &self,
        (page, bytes_held): HeldPage,
        reached: Reached,
        admitted: &mut Admitted,
    ) -> Result<SiteMetadata, ExtractionError> {
        let home_url = page.final_url.clone();
        let (home, home_fingerprint) = page
            .extract_on(&self.parser, |page| {
                (html::extract_home_page(page), BodyFingerprint::of(page))
            })
            .await?;
        drop(bytes_held);
        let mut metadata = home.metadata;
        if metadata.site_kind == SiteKind::Challenge {
            return Err(challenge_error(&metadata));
        }
        let wants_contacts = metadata.emails.len() < self.settings.contact_pages_when_fewer_than;
        let wants_company = !metadata
            .company
            .as_ref()
            .is_some_and(scheduler_domain::Company::is_stated);
        let plan = pages_to_read(
            self.settings.contact_pages,
            if wants_contacts {
                home.contact_pages
            } else {
                Vec::new()
            },
            if wants_company {
                home.legal_pages
            } else {
                Vec::new()
            },
        );
        let home = HomeSeen {
            url: &home_url,
            fingerprint: home_fingerprint,
        };
        self.read_linked_pages(&mut metadata, home, plan, admitted)
            .await;
        metadata.reached = Some(reached);
        Ok(metadata)
    }

    /// Reads the planned pages, all at once, one attempt each and never off
    /// the site, and merges, in the plan's order, their contacts after the
    /// home page's and their company details where the home page's lack
    /// them. A page that fails is recorded and skipped. At once: a domain
    /// costs the slowest of its pages, not their sum, and the time a domain
    /// spends in flight is what bounds the rate on the internet. The
    /// fetches are the network's wait (`admitted` may be given back during
    /// it); the parsing comes after, for the pages that arrived. A page that
    /// is the home page again (its URL, or its bytes) is not parsed again:
    /// it holds nothing the home page's reading lacks, and its text is no
    /// contact or legal page's.
    async fn read_linked_pages(
        &self,
        metadata: &mut SiteMetadata,
        home: HomeSeen<'_>,
        plan: Vec<(Url, CompanyPart)>,
        admitted: &mut Admitted,
    ) {
        // The home page's country: where its national phone numbers are read.
        let site_country = metadata
            .company
            .as_ref()
            .and_then(|company| company.country.clone());
        let reach = self.reach();
        let fetches = plan
            .iter()
            .map(|(candidate, _)| reach.contact_page(candidate, home.url));
        let fetched = admitted
            .while_on_network(futures::future::join_all(fetches))
            .await;
        let reads = plan
            .into_iter()
            .zip(fetched)
            .map(|((candidate, part), fetched)| {
                let site_country = site_country.clone();
                async move {
                    let outcome = match fetched {
                        Ok((page, _bytes_held_until_parsed)) => {
                            let url = page.final_url.to_string();
                            if page.final_url == *home.url {
                                Ok((url, None))
                            } else {
                                page.extract_on(&self.parser, move |page| {
                                    (BodyFingerprint::of(page) != home.fingerprint).then(|| {
                                        html::extract_linked_page(
                                            page,
                                            part,
                                            site_country.as_deref(),
                                        )
                                    })
                                })
                                .await
                                .map(|linked| (url, linked))
                            }
                        }
                        Err(error) => Err(error),
                    };
                    (candidate, outcome)
                }
            });
        for (candidate, outcome) in futures::future::join_all(reads).await {
            match outcome {
                Ok((url, None)) => {
                    debug!(%url, "contact page not read: {HOME_PAGE_AGAIN}");
                    metadata.contact_pages.push(ContactPage {
                        url,
                        error: Some(HOME_PAGE_AGAIN.to_owned()),
                    });
                }
                Ok((url, Some(linked))) => {
                    metadata.merge_contacts(&url, linked.contacts);
                    if linked.company != scheduler_domain::Company::default() {
                        metadata
                            .company
                            .get_or_insert_with(Default::default)
                            .merge(linked.company);
                    }
                    metadata
                        .contact_pages
                        .push(ContactPage { url, error: None });
                }
                Err(error) => {
                    debug!(url = %candidate, %error, "contact page not read");
                    metadata.contact_pages.push(ContactPage {
                        url: candidate.to_string(),
                        error: Some(error.to_string()),
                    });
                }
            }
        }
    }

    /// Fetches `url` (an `http://` URL is fetched as `https://`), following
    /// up to `max_redirects` redirects and reading at most `max_body_bytes`.
    ///
    /// A transient failure that did not use up the time (a refused or reset
    /// connection, a 5xx, a 429 or 503 with a short `Retry-After`) is tried
    /// again up to `retries` times, but the fetch as a whole, retries and
    /// waits included, never lasts longer than `total_timeout`: a timeout
    /// is not retried here, and a retry whose wait would not end before the
    /// deadline is left to the scheduler's next attempt.
    ///
    /// # Errors
    ///
    /// [`ExtractionError`]: `Dns`, `Connection`, `Tls`, `Timeout`,
    /// `HttpStatus` (4xx, 5xx, a redirect without a usable `Location`),
    /// `NotHtml`, `TooManyRedirects`, `ForbiddenAddress` (the host, or a
    /// redirect, leads to a non-public address), `InvalidDomain` (not an
    /// http or https URL), or `Other` (a protocol error).
    pub async fn fetch(&self, url: &Url) -> Result<FetchedPage, ExtractionError> {
        // The caller holds the page from here: its bytes leave the budget.
        self.fetcher.fetch(url).await.map(|(page, _)| page)
    }
}

impl MetadataExtractor for HttpExtractor {
    async fn extract(&self, domain: &DomainName) -> Result<SiteMetadata, ExtractionError> {
        // Held to the end (the linked pages are fetched and parsed too),
        // unless the network keeps the domain waiting.
        let mut admitted = self.admission.admit().await;
        let (page, reached) = admitted
            .while_on_network(self.reach().home_page(domain))
            .await?;
        self.extract_home_page(page, reached, &mut admitted).await
    }
}

/// What a contact page that is the home page again is recorded with.
const HOME_PAGE_AGAIN: &str = "the home page again, not read twice";

/// The home page as its contact pages are compared with.
#[derive(Debug, Clone, Copy)]
struct HomeSeen<'a> {
    /// Where it was read, after redirects.
    url: &'a Url,
    fingerprint: BodyFingerprint,
}

/// The pages to read beyond the home page, at most `budget`: the contact
/// candidates when the home page lacks e-mails, and the best legal page
/// when it lacks the company (in the place of the weakest contact
/// candidate when the budget is full). Each page says which part of the
/// site it is for the company's sources.
fn pages_to_read(
    budget: usize,
    contact_candidates: Vec<Url>,
    legal_candidates: Vec<Url>,
) -> Vec<(Url, CompanyPart)> {
    let is_legal = |url: &Url| legal_candidates.contains(url);
    let mut plan: Vec<(Url, CompanyPart)> = contact_candidates
        .iter()
        .take(budget)
        .map(|url| {
            let part = if is_legal(url) {
                CompanyPart::Imprint
            } else {
                CompanyPart::ContactPage
            };
            (url.clone(), part)
        })
        .collect();
    let has_legal = plan.iter().any(|(_, part)| *part == CompanyPart::Imprint);
    if !has_legal
        && budget > 0
        && let Some(legal) = legal_candidates.first()
    {
        if plan.len() == budget {
            plan.pop();
        }
        plan.push((legal.clone(), CompanyPart::Imprint));
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(path: &str) -> Url {
        Url::parse(&format!("https://acme.de{path}")).unwrap()
    }

    #[test]
    fn the_legal_page_takes_the_weakest_contact_candidates_place_within_the_budget() {
        let plan = pages_to_read(
            2,
            vec![url("/kontakt"), url("/ueber-uns"), url("/impressum")],
            vec![url("/impressum")],
        );
        assert_eq!(
            plan,
            [
                (url("/kontakt"), CompanyPart::ContactPage),
                (url("/impressum"), CompanyPart::Imprint)
            ]
        );
    }

    #[test]
    fn a_legal_page_among_the_contact_candidates_is_not_read_twice() {
        let plan = pages_to_read(
            2,
            vec![url("/impressum"), url("/kontakt")],
            vec![url("/impressum")],
        );
        assert_eq!(
            plan,
            [
                (url("/impressum"), CompanyPart::Imprint),
                (url("/kontakt"), CompanyPart::ContactPage)
            ]
        );
    }

    #[test]
    fn only_the_legal_page_when_the_contacts_are_there_and_nothing_when_off() {
        assert_eq!(
            pages_to_read(2, Vec::new(), vec![url("/impressum")]),
            [(url("/impressum"), CompanyPart::Imprint)]
        );
        assert_eq!(
            pages_to_read(0, vec![url("/kontakt")], vec![url("/impressum")]),
            []
        );
    }
}
