//! The staff API under `/api/v1/staff`: every route needs a staff token
//! (`StaffAuth`), one module per resource.

pub(crate) mod audit;
pub mod auth;
pub(crate) mod bookings;
pub(crate) mod calendar;
pub(crate) mod closures;
pub mod console;
pub mod inquiries;
pub mod outbox;
pub mod page;
pub mod patch;
pub mod privacy;
pub mod waitlist;
pub mod webhooks;

use actix_web::web;

use crate::routes::resource;

pub use auth::StaffAuth;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/bookings", "GET").route(web::get().to(bookings::list)))
        .service(
            resource("/bookings/{reference}", "GET, PATCH")
                .route(web::get().to(bookings::show))
                .route(web::patch().to(bookings::update)),
        )
        .service(
            resource("/closures", "GET, POST")
                .route(web::post().to(closures::create))
                .route(web::get().to(closures::list)),
        )
        .service(
            resource("/closures/{id}", "GET, DELETE")
                .route(web::get().to(closures::show))
                .route(web::delete().to(closures::delete)),
        )
        .service(resource("/calendar.ics", "GET").route(web::get().to(calendar::feed)))
        .service(resource("/audit", "GET").route(web::get().to(audit::list)))
        .service(resource("/inquiries", "GET").route(web::get().to(inquiries::list)))
        .service(
            resource("/inquiries/{reference}", "GET, PATCH")
                .route(web::get().to(inquiries::show))
                .route(web::patch().to(inquiries::update)),
        )
        .service(resource("/waitlist", "GET").route(web::get().to(waitlist::list)))
        .service(
            resource("/waitlist/{reference}/personal-data", "DELETE")
                .route(web::delete().to(waitlist::erase)),
        )
        .service(resource("/outbox", "GET").route(web::get().to(outbox::list)))
        .service(resource("/outbox/{id}/retry", "POST").route(web::post().to(outbox::retry)))
        .service(
            resource("/bookings/{reference}/personal-data", "DELETE")
                .route(web::delete().to(privacy::erase_booking)),
        )
        .service(
            resource("/inquiries/{reference}/personal-data", "DELETE")
                .route(web::delete().to(privacy::erase_inquiry)),
        )
        .service(resource("/webhooks/deliveries", "GET").route(web::get().to(webhooks::list)))
        .service(
            resource("/webhooks/deliveries/{id}/retry", "POST")
                .route(web::post().to(webhooks::retry)),
        );
}
