//! The burst watch by client address: one address making
//! `booking.burst_bookings` bookings within `booking.burst_window_minutes`
//! (under many names and mailboxes: what a script filling the calendar
//! looks like) is told to staff, a log line by reference and a metric.
//! Per instance, in memory; the watch by mailbox, in the booking's
//! transaction, sees every instance's bookings (`workflows::booking`).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use actix_web::{HttpMessage, HttpRequest};

use super::middleware::clients::{ClientKey, ClientTable};
use super::middleware::rate_limit::Client;
use crate::configuration::BookingSettings;

pub struct ClientBursts {
    /// When each client's latest bookings were made, at most
    /// `threshold` of them.
    bookings: ClientTable<ClientKey, VecDeque<Instant>>,
    threshold: usize,
    window: Duration,
}

impl ClientBursts {
    pub fn from_settings(settings: &BookingSettings, max_clients: usize) -> Self {
        ClientBursts {
            bookings: ClientTable::new(max_clients.max(1)),
            threshold: settings.burst_bookings as usize,
            window: Duration::from_secs(u64::from(settings.burst_window_minutes) * 60),
        }
    }

    /// Notes a booking made from `client` at `now`: whether it makes (or
    /// continues) a burst.
    fn note(&self, client: ClientKey, now: Instant) -> bool {
        if self.threshold == 0 {
            return false;
        }
        self.bookings.with(client, VecDeque::new, |made| {
            if made.len() == self.threshold {
                made.pop_front();
            }
            made.push_back(now);
            made.len() == self.threshold
                && made
                    .front()
                    .is_some_and(|first| now.saturating_duration_since(*first) <= self.window)
        })
    }
}

/// After a booking `reference` was made through `req`: tells staff when
/// its client is booking in a burst.
pub fn note_booking(req: &HttpRequest, reference: &str) {
    let Some(bursts) = req.app_data::<actix_web::web::Data<ClientBursts>>() else {
        return;
    };
    let Some(Client(client)) = req.extensions().get::<Client>().copied() else {
        return;
    };
    if bursts.note(client, Instant::now()) {
        tracing::warn!(
            %reference,
            bookings = bursts.threshold,
            window_minutes = bursts.window.as_secs() / 60,
            by = "client",
            "booking burst: one client address booked repeatedly"
        );
        crate::metrics::booking_in_burst("client");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bursts(threshold: u32, minutes: u32) -> ClientBursts {
        let settings = BookingSettings {
            burst_bookings: threshold,
            burst_window_minutes: minutes,
            ..BookingSettings::default()
        };
        ClientBursts::from_settings(&settings, 100)
    }

    fn client(n: u8) -> ClientKey {
        ClientKey::of(std::net::IpAddr::from([192, 0, 2, n]))
    }

    #[test]
    fn the_threshold_th_booking_within_the_window_is_a_burst() {
        let watch = bursts(3, 10);
        let start = Instant::now();
        let at = |minutes: u64| start + Duration::from_secs(minutes * 60);
        assert!(!watch.note(client(1), at(0)));
        assert!(!watch.note(client(1), at(4)));
        assert!(!watch.note(client(2), at(5)), "per client");
        assert!(watch.note(client(1), at(9)));
        assert!(
            watch.note(client(1), at(12)),
            "4, 9 and 12 are within 10 minutes"
        );
        assert!(!watch.note(client(1), at(30)), "slow again");
    }

    #[test]
    fn bookings_spread_out_are_no_burst_and_zero_turns_it_off() {
        let watch = bursts(3, 10);
        let start = Instant::now();
        for n in 0..10 {
            assert!(!watch.note(client(1), start + Duration::from_secs(n * 6 * 60)));
        }
        let off = bursts(0, 10);
        for _ in 0..10 {
            assert!(!off.note(client(1), start));
        }
    }
}
