//! The `domains` table as a SeaORM entity.
//!
//! Statements are built from these column identifiers with SeaQuery; rows
//! are never loaded as `Model`s (the Postgres path reads raw rows from
//! simple-protocol queries), so the field types document the Postgres
//! column types. Nothing here leaves the crate.
// The entity macros generate public items (Column, ActiveModel, ...) that
// are reachable only inside this crate.
#![allow(unreachable_pub, missing_debug_implementations)]

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "domains")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub domain: String,
    pub status: Option<String>,
    pub meta_json: Option<Json>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub favicon_url: Option<String>,
    pub logo_url: Option<String>,
    pub language: Option<String>,
    pub is_wordpress: Option<bool>,
    pub wordpress_version: Option<String>,
    pub has_elementor: Option<bool>,
    pub tech_stack: Option<Json>,
    pub email_addresses: Option<Vec<String>>,
    pub phone_numbers: Option<Vec<String>>,
    pub facebook_url: Option<String>,
    pub twitter_url: Option<String>,
    pub linkedin_url: Option<String>,
    pub instagram_url: Option<String>,
    pub youtube_url: Option<String>,
    pub last_error: Option<String>,
    pub created_at: Option<DateTimeUtc>,
    pub updated_at: Option<DateTimeUtc>,
    pub sitemap_analysis_status: Option<String>,
    pub attempts: i32,
    pub locked_by: Option<String>,
    pub locked_until: Option<DateTimeUtc>,
    pub next_attempt_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
