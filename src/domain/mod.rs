//! The pure core: incidents and their state machine, the command grammar, the business
//! calendar and the SLA policy. No I/O, no async.

pub mod calendar;
pub mod command;
pub mod cron_text;
pub mod escalation;
pub mod holidays;
pub mod incident;
pub mod oncall;
pub mod paging;
pub mod people;
pub mod platform;
pub mod reminder;
pub mod sla;
pub mod status_page;
pub mod text;
pub mod timeline;
pub mod timer;
