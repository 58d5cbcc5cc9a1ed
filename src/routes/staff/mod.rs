//! The staff API under `/api/v1/staff`: every route needs a staff token
//! (`StaffAuth`), one module per resource.

mod audit;
pub mod auth;
mod bookings;
mod calendar;
mod closures;
pub mod inquiries;
pub mod outbox;
pub mod page;
pub mod patch;

use actix_web::web;

use crate::routes::resource;

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
        // `resource` answers other methods with 405 and `Allow`, as the
        // OpenAPI description promises.
        .service(resource("/inquiries", "GET").route(web::get().to(inquiries::list)))
        .service(
            resource("/inquiries/{reference}", "GET, PATCH")
                .route(web::get().to(inquiries::show))
                .route(web::patch().to(inquiries::update)),
        )
        .service(resource("/outbox", "GET").route(web::get().to(outbox::list)));
}
