//! The staff API under `/api/v1/staff`: every route needs a staff token
//! (`StaffAuth`), one module per resource.

mod audit;
pub mod auth;
mod bookings;
mod calendar;
mod closures;
pub mod page;
pub mod patch;
pub mod privacy;

use actix_web::web;

pub use auth::StaffAuth;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/bookings", web::get().to(bookings::list))
        .route("/bookings/{reference}", web::get().to(bookings::show))
        .route("/bookings/{reference}", web::patch().to(bookings::update))
        .route("/closures", web::post().to(closures::create))
        .route("/closures", web::get().to(closures::list))
        .route("/closures/{id}", web::get().to(closures::show))
        .route("/closures/{id}", web::delete().to(closures::delete))
        .route("/calendar.ics", web::get().to(calendar::feed))
        .route("/audit", web::get().to(audit::list))
        .route(
            "/bookings/{reference}/personal-data",
            web::delete().to(privacy::erase_booking),
        )
        .route(
            "/inquiries/{reference}/personal-data",
            web::delete().to(privacy::erase_inquiry),
        );
}
