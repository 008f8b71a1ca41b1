//! `extract`: one site's metadata as JSON, no database.

use std::process::ExitCode;

use scheduler_domain::{DomainName, SiteMetadata};
use scheduler_html_metadata::Page;
use scheduler_http_extractor::HttpExtractor;
use url::Url;

use super::CliError;
use crate::cli::ExtractArgs;
use crate::settings::Settings;

pub(super) async fn run(settings: &Settings, args: ExtractArgs) -> Result<ExitCode, CliError> {
    let metadata = match (args.html, args.url, args.target) {
        (Some(path), Some(url), _) => {
            let url = Url::parse(&url)
                .map_err(|error| CliError::Usage(format!("--url {url:?} is not a URL: {error}")))?;
            let body = std::fs::read(&path).map_err(|error| {
                CliError::Failed(format!("cannot read {}: {error}", path.display()))
            })?;
            scheduler_html_metadata::extract(&Page {
                url: &url,
                body: &body,
                headers: &[],
            })
        }
        (None, _, Some(target)) => fetch(settings, &target).await?,
        _ => {
            return Err(CliError::Usage(
                "give a domain or URL, or --html FILE --url URL".into(),
            ));
        }
    };
    print_json(&metadata)?;
    Ok(ExitCode::SUCCESS)
}

async fn fetch(settings: &Settings, target: &str) -> Result<SiteMetadata, CliError> {
    let url = if target.contains("://") {
        Url::parse(target.trim())
            .map_err(|error| CliError::Usage(format!("{target:?} is not a URL: {error}")))?
    } else {
        let name = DomainName::parse(target).map_err(|error| CliError::Usage(error.to_string()))?;
        Url::parse(&name.home_page_url())
            .map_err(|error| CliError::Usage(format!("{target:?}: {error}")))?
    };
    let extractor = HttpExtractor::new(settings.fetch.clone())?;
    extractor
        .extract_url(&url)
        .await
        .map_err(|error| CliError::Failed(format!("{url}: {error}")))
}

fn print_json(metadata: &SiteMetadata) -> Result<(), CliError> {
    let json = serde_json::to_string_pretty(&metadata.document())
        .map_err(|error| CliError::Failed(format!("cannot render JSON: {error}")))?;
    #[allow(clippy::print_stdout)]
    {
        println!("{json}");
    }
    Ok(())
}
