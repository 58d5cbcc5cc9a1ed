//! The clinic's calendar: opening hours, closed days, national holidays, the
//! slot grid, consultation types, minimum notice and the booking window.
//!
//! Everything here is pure: the current time is passed in, and every rule is
//! read in the clinic's time zone whatever the server's own zone is.

pub mod availability;
pub mod closures;
mod holidays;
pub mod resources;

use std::collections::BTreeSet;

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc,
    Weekday,
};
use chrono_tz::Tz;

pub use holidays::{national_holiday, published_covers};

use crate::configuration::ScheduleSettings;

/// A kind of consultation the clinic offers, with how long it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsultationType {
    pub code: String,
    pub label: String,
    pub label_en: String,
    pub duration_minutes: u32,
    /// Hours before the start after which a patient can no longer cancel
    /// or move a booking of this type online.
    pub change_deadline_hours: u32,
}

impl ConsultationType {
    /// The last moment a patient may cancel or move a booking of this type
    /// starting at `start` themselves: `change_deadline_hours` before it.
    pub fn change_deadline(&self, start: DateTime<Tz>) -> DateTime<Tz> {
        start - Duration::hours(self.change_deadline_hours.into())
    }

    /// Whether a patient may still cancel or move it themselves at `now`
    /// (strictly before the deadline; staff are not bound by it).
    pub fn patient_may_change(&self, start: DateTime<Tz>, now: DateTime<Utc>) -> bool {
        now < self.change_deadline(start)
    }
}

/// Why a day has no consultations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedReason {
    ClosedWeekday,
    ClosedDate,
    NationalHoliday,
}

impl ClosedReason {
    pub fn code(self) -> &'static str {
        match self {
            ClosedReason::ClosedWeekday => "closed_weekday",
            ClosedReason::ClosedDate => "closed_date",
            ClosedReason::NationalHoliday => "national_holiday",
        }
    }
}

/// Why a requested start cannot be booked, whatever the slot's occupancy.
/// Each maps to the error code of the API contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartRejection {
    ClosedDay,
    OutsideHours,
    NotSlotAligned,
    TooSoon,
    TooFarAhead,
}

impl StartRejection {
    pub fn code(self) -> &'static str {
        match self {
            StartRejection::ClosedDay => "closed_day",
            StartRejection::OutsideHours => "outside_hours",
            StartRejection::NotSlotAligned => "not_slot_aligned",
            StartRejection::TooSoon => "too_soon",
            StartRejection::TooFarAhead => "too_far_ahead",
        }
    }
}

/// A schedule setting that cannot work; start-up stops with this message.
#[derive(Debug, thiserror::Error)]
#[error("invalid schedule setting {key}: {reason}")]
pub struct InvalidSchedule {
    pub key: &'static str,
    pub reason: String,
}

fn invalid(key: &'static str, reason: impl Into<String>) -> InvalidSchedule {
    InvalidSchedule {
        key,
        reason: reason.into(),
    }
}

#[derive(Debug, Clone)]
pub struct ClinicCalendar {
    tz: Tz,
    open: NaiveTime,
    close: NaiveTime,
    closed_weekdays: Vec<Weekday>,
    closed_dates: BTreeSet<NaiveDate>,
    closed_on_national_holidays: bool,
    slot_minutes: u32,
    capacity_per_slot: u32,
    min_notice: Duration,
    booking_window_days: i64,
    types: Vec<ConsultationType>,
    default_type: usize,
}

const WEEKDAYS: [(&str, Weekday); 7] = [
    ("monday", Weekday::Mon),
    ("tuesday", Weekday::Tue),
    ("wednesday", Weekday::Wed),
    ("thursday", Weekday::Thu),
    ("friday", Weekday::Fri),
    ("saturday", Weekday::Sat),
    ("sunday", Weekday::Sun),
];

pub fn weekday_name(day: Weekday) -> &'static str {
    WEEKDAYS
        .iter()
        .find(|(_, d)| *d == day)
        .map(|(name, _)| *name)
        .unwrap_or("monday")
}

impl ClinicCalendar {
    /// Builds the calendar from settings, refusing any setting that cannot work.
    pub fn from_settings(
        settings: &ScheduleSettings,
        timezone: &str,
    ) -> Result<Self, InvalidSchedule> {
        let tz: Tz = timezone
            .parse()
            .map_err(|_| invalid("clinic.timezone", format!("unknown time zone {timezone:?}")))?;
        let parse_time = |key: &'static str, raw: &str| {
            NaiveTime::parse_from_str(raw.trim(), "%H:%M")
                .map_err(|_| invalid(key, format!("{raw:?} is not a time of day as HH:MM")))
        };
        let open = parse_time("schedule.open", &settings.open)?;
        let close = parse_time("schedule.close", &settings.close)?;
        if close <= open {
            return Err(invalid(
                "schedule.close",
                "closing time must be after opening time",
            ));
        }
        if settings.slot_minutes == 0 || settings.slot_minutes > 24 * 60 {
            return Err(invalid(
                "schedule.slot_minutes",
                "must be between 1 and 1440",
            ));
        }
        if settings.capacity_per_slot == 0 || settings.capacity_per_slot > 1000 {
            return Err(invalid(
                "schedule.capacity_per_slot",
                "must be between 1 and 1000",
            ));
        }
        if settings.min_notice_minutes < 0 {
            return Err(invalid(
                "schedule.min_notice_minutes",
                "must not be negative",
            ));
        }
        if !(1..=3660).contains(&settings.booking_window_days) {
            return Err(invalid(
                "schedule.booking_window_days",
                "must be between 1 and 3660",
            ));
        }
        let closed_weekdays = settings
            .closed_weekdays
            .iter()
            .map(|raw| {
                let name = raw.trim().to_ascii_lowercase();
                WEEKDAYS
                    .iter()
                    .find(|(known, _)| *known == name)
                    .map(|(_, day)| *day)
                    .ok_or_else(|| {
                        invalid(
                            "schedule.closed_weekdays",
                            format!("{raw:?} is not a weekday"),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let closed_dates = settings
            .closed_dates
            .iter()
            .filter(|raw| !raw.trim().is_empty())
            .map(|raw| {
                NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| {
                    invalid(
                        "schedule.closed_dates",
                        format!("{raw:?} is not a date as YYYY-MM-DD"),
                    )
                })
            })
            .collect::<Result<BTreeSet<_>, _>>()?;
        let mut types: Vec<ConsultationType> = Vec::new();
        for kind in &settings.consultation_types {
            let code = kind.code.trim();
            if code.is_empty()
                || !code
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                return Err(invalid(
                    "schedule.consultation_types",
                    format!("code {code:?} must be lower-case letters, digits and hyphens"),
                ));
            }
            if types.iter().any(|known| known.code == code) {
                return Err(invalid(
                    "schedule.consultation_types",
                    format!("code {code:?} appears twice"),
                ));
            }
            if kind.duration_minutes == 0 || kind.duration_minutes % settings.slot_minutes != 0 {
                return Err(invalid(
                    "schedule.consultation_types",
                    format!(
                        "{code}: duration {} is not a whole number of {}-minute slots",
                        kind.duration_minutes, settings.slot_minutes
                    ),
                ));
            }
            if open + Duration::minutes(kind.duration_minutes.into()) > close {
                return Err(invalid(
                    "schedule.consultation_types",
                    format!("{code}: a consultation this long does not fit in the opening hours"),
                ));
            }
            types.push(ConsultationType {
                code: code.to_string(),
                label: kind.label.clone(),
                label_en: kind.label_en.clone().unwrap_or_else(|| kind.label.clone()),
                duration_minutes: kind.duration_minutes,
                change_deadline_hours: kind
                    .change_deadline_hours
                    .unwrap_or(settings.patient_change_deadline_hours),
            });
        }
        if types.is_empty() {
            return Err(invalid(
                "schedule.consultation_types",
                "at least one type is needed",
            ));
        }
        let default_type = types
            .iter()
            .position(|kind| kind.code == settings.default_type.trim())
            .ok_or_else(|| {
                invalid(
                    "schedule.default_type",
                    format!(
                        "{:?} is not one of the consultation types",
                        settings.default_type
                    ),
                )
            })?;
        Ok(ClinicCalendar {
            tz,
            open,
            close,
            closed_weekdays,
            closed_dates,
            closed_on_national_holidays: settings.closed_on_national_holidays,
            slot_minutes: settings.slot_minutes,
            capacity_per_slot: settings.capacity_per_slot,
            min_notice: Duration::minutes(settings.min_notice_minutes),
            booking_window_days: settings.booking_window_days,
            types,
            default_type,
        })
    }

    pub fn timezone(&self) -> Tz {
        self.tz
    }
    pub fn open_time(&self) -> NaiveTime {
        self.open
    }
    pub fn close_time(&self) -> NaiveTime {
        self.close
    }
    pub fn slot_minutes(&self) -> u32 {
        self.slot_minutes
    }
    pub fn capacity_per_slot(&self) -> u32 {
        self.capacity_per_slot
    }
    pub fn booking_window_days(&self) -> i64 {
        self.booking_window_days
    }
    pub fn closed_weekdays(&self) -> &[Weekday] {
        &self.closed_weekdays
    }
    pub fn consultation_types(&self) -> &[ConsultationType] {
        &self.types
    }
    pub fn default_type(&self) -> &ConsultationType {
        &self.types[self.default_type]
    }
    pub fn consultation_type(&self, code: &str) -> Option<&ConsultationType> {
        self.types.iter().find(|kind| kind.code == code)
    }

    /// The clinic's calendar date at `now`.
    pub fn today(&self, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.tz).date_naive()
    }

    /// A stored UTC instant as clinic time.
    pub fn local(&self, utc: NaiveDateTime) -> DateTime<Tz> {
        self.tz.from_utc_datetime(&utc)
    }

    /// Clinic time at `date` and `time`.
    pub fn at(&self, date: NaiveDate, time: NaiveTime) -> Option<DateTime<Tz>> {
        self.tz.from_local_datetime(&date.and_time(time)).earliest()
    }

    /// Reads a requested start: RFC 3339 with any offset (converted), or a
    /// local date and time without offset (an HTML `datetime-local` value),
    /// read as clinic time.
    pub fn parse_start(&self, raw: &str) -> Option<DateTime<Tz>> {
        self.parse_any_start(raw.trim())
            // Far-off years are typing mistakes (or probes), and keeping to
            // sane years keeps date arithmetic away from chrono's limits.
            .filter(|start| (1900..=2999).contains(&start.year()))
    }

    fn parse_any_start(&self, raw: &str) -> Option<DateTime<Tz>> {
        if let Ok(with_offset) = DateTime::parse_from_rfc3339(raw) {
            return Some(with_offset.with_timezone(&self.tz));
        }
        if let Ok(with_offset) = DateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M%:z") {
            return Some(with_offset.with_timezone(&self.tz));
        }
        [
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%d %H:%M",
            "%Y-%m-%d %H:%M:%S",
        ]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(raw, format).ok())
        .and_then(|naive| self.tz.from_local_datetime(&naive).earliest())
    }

    /// Why the clinic is closed on `date`, if it is.
    pub fn closed_reason(&self, date: NaiveDate) -> Option<ClosedReason> {
        if self.closed_dates.contains(&date) {
            Some(ClosedReason::ClosedDate)
        } else if self.closed_weekdays.contains(&date.weekday()) {
            Some(ClosedReason::ClosedWeekday)
        } else if self.closed_on_national_holidays && national_holiday(date).is_some() {
            Some(ClosedReason::NationalHoliday)
        } else {
            None
        }
    }

    fn duration(kind: &ConsultationType) -> Duration {
        Duration::minutes(kind.duration_minutes.into())
    }

    /// Every start on the slot grid of `date` at which a consultation of
    /// `kind` ends by closing time (whether or not the day is open).
    pub fn slot_starts(&self, date: NaiveDate, kind: &ConsultationType) -> Vec<DateTime<Tz>> {
        let step = Duration::minutes(self.slot_minutes.into());
        let mut starts = Vec::new();
        let mut time = self.open;
        while time + Self::duration(kind) <= self.close && time >= self.open {
            if let Some(start) = self.at(date, time) {
                starts.push(start);
            }
            let next = time + step;
            if next <= time {
                break; // wrapped past midnight
            }
            time = next;
        }
        starts
    }

    /// Every start of the slot grid on `date`, from opening to the last slot
    /// that ends by closing (whether or not the day is open).
    pub fn grid_starts(&self, date: NaiveDate) -> Vec<DateTime<Tz>> {
        let one_slot = ConsultationType {
            code: String::new(),
            label: String::new(),
            label_en: String::new(),
            duration_minutes: self.slot_minutes,
            change_deadline_hours: 0,
        };
        self.slot_starts(date, &one_slot)
    }

    /// The start of every grid slot a consultation of `kind` at `start`
    /// occupies, as UTC instants (the keys capacity is counted by).
    pub fn covered_slots(
        &self,
        start: DateTime<Tz>,
        kind: &ConsultationType,
    ) -> Vec<NaiveDateTime> {
        (0..kind.duration_minutes / self.slot_minutes)
            .map(|i| (start + Duration::minutes(i64::from(i * self.slot_minutes))).naive_utc())
            .collect()
    }

    /// Whether `start` is far enough from `now`: not in the past, not inside
    /// `notice`, not beyond the booking window.
    fn check_timing(
        &self,
        start: DateTime<Tz>,
        now: DateTime<Utc>,
        notice: Duration,
    ) -> Result<(), StartRejection> {
        if start.with_timezone(&Utc) < now + notice {
            return Err(StartRejection::TooSoon);
        }
        if start.date_naive() > self.today(now) + Duration::days(self.booking_window_days) {
            return Err(StartRejection::TooFarAhead);
        }
        Ok(())
    }

    /// Whether a consultation of `kind` may take place at `start` at all: on
    /// an open day, inside opening hours from start to end, on the slot grid.
    fn check_calendar(
        &self,
        start: DateTime<Tz>,
        kind: &ConsultationType,
    ) -> Result<(), StartRejection> {
        if self.closed_reason(start.date_naive()).is_some() {
            return Err(StartRejection::ClosedDay);
        }
        let time = start.time();
        let end = start + Self::duration(kind);
        if time < self.open || end.date_naive() != start.date_naive() || end.time() > self.close {
            return Err(StartRejection::OutsideHours);
        }
        let minutes_from_open = (time - self.open).num_minutes();
        if time.second() != 0
            || time.nanosecond() != 0
            || minutes_from_open % i64::from(self.slot_minutes) != 0
        {
            return Err(StartRejection::NotSlotAligned);
        }
        Ok(())
    }

    /// The clinic's rule for a start a patient asks for, whatever the slot's
    /// occupancy: at least the minimum notice ahead but inside the booking
    /// window, on an open day, inside opening hours, on the slot grid.
    pub fn check_start(
        &self,
        start: DateTime<Tz>,
        kind: &ConsultationType,
        now: DateTime<Utc>,
    ) -> Result<(), StartRejection> {
        self.check_timing(start, now, self.min_notice)?;
        self.check_calendar(start, kind)
    }

    /// The same rule for staff, who may book at short notice (but not in the
    /// past).
    pub fn check_start_ignoring_notice(
        &self,
        start: DateTime<Tz>,
        kind: &ConsultationType,
        now: DateTime<Utc>,
    ) -> Result<(), StartRejection> {
        self.check_timing(start, now, Duration::zero())?;
        self.check_calendar(start, kind)
    }

    /// Whether a patient could book `start` now, as far as timing goes.
    pub fn bookable_in_time(&self, start: DateTime<Tz>, now: DateTime<Utc>) -> bool {
        self.check_timing(start, now, self.min_notice).is_ok()
    }

    /// Whether staff could book `start` now, as far as timing goes (no
    /// minimum notice; not in the past).
    pub fn bookable_by_staff_in_time(&self, start: DateTime<Tz>, now: DateTime<Utc>) -> bool {
        self.check_timing(start, now, Duration::zero()).is_ok()
    }

    /// The end of a consultation of `kind` starting at `start`.
    pub fn end_of(&self, start: DateTime<Tz>, kind: &ConsultationType) -> DateTime<Tz> {
        start + Self::duration(kind)
    }
}

impl ClinicCalendar {
    /// This calendar with `dates` closed as well (staff closures of whole
    /// days), so every rule that reads closed days sees them.
    pub fn with_closed_dates(&self, dates: impl IntoIterator<Item = NaiveDate>) -> Self {
        let mut calendar = self.clone();
        calendar.closed_dates.extend(dates);
        calendar
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configuration::Settings;
    use proptest::prelude::*;

    fn calendar() -> ClinicCalendar {
        let settings = Settings::defaults().unwrap();
        ClinicCalendar::from_settings(&settings.schedule, &settings.clinic.timezone).unwrap()
    }

    fn tokyo(s: &str) -> DateTime<Tz> {
        calendar().parse_start(s).unwrap()
    }

    /// 2026-11-25 (Wednesday) 09:00 in Tokyo.
    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap()
    }

    fn kind(code: &str) -> ConsultationType {
        calendar().consultation_type(code).unwrap().clone()
    }

    #[test]
    fn an_aligned_weekday_slot_in_opening_hours_is_accepted() {
        let cal = calendar();
        assert_eq!(
            cal.check_start(tokyo("2026-12-01T10:00"), &kind("consultation"), now()),
            Ok(())
        );
        assert_eq!(
            cal.check_start(tokyo("2026-12-01T18:00"), &kind("consultation"), now()),
            Ok(())
        );
    }

    #[test]
    fn sunday_is_a_closed_day() {
        let cal = calendar();
        assert_eq!(
            cal.check_start(tokyo("2026-11-29T10:00"), &kind("consultation"), now()),
            Err(StartRejection::ClosedDay)
        );
        assert_eq!(
            cal.closed_reason(NaiveDate::from_ymd_opt(2026, 11, 29).unwrap()),
            Some(ClosedReason::ClosedWeekday)
        );
    }

    #[test]
    fn a_start_before_opening_or_ending_after_closing_is_outside_hours() {
        let cal = calendar();
        for start in [
            "2026-12-01T09:30",
            "2026-12-01T18:30",
            "2026-12-01T18:15",
            "2026-12-01T23:00",
        ] {
            assert_eq!(
                cal.check_start(tokyo(start), &kind("consultation"), now()),
                Err(StartRejection::OutsideHours),
                "{start}"
            );
        }
    }

    #[test]
    fn a_sixty_minute_treatment_must_end_by_closing() {
        let cal = calendar();
        let stem_cell = kind("stem-cell");
        assert_eq!(
            cal.check_start(tokyo("2026-12-01T17:30"), &stem_cell, now()),
            Ok(())
        );
        assert_eq!(
            cal.check_start(tokyo("2026-12-01T18:00"), &stem_cell, now()),
            Err(StartRejection::OutsideHours)
        );
        assert_eq!(
            cal.covered_slots(tokyo("2026-12-01T17:30"), &stem_cell)
                .len(),
            2
        );
        assert_eq!(
            cal.slot_starts(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(), &stem_cell)
                .len(),
            16
        );
    }

    #[test]
    fn off_grid_starts_are_not_slot_aligned() {
        let cal = calendar();
        for start in [
            "2026-12-01T10:15",
            "2026-12-01T10:00:30",
            "2026-12-01T12:01",
        ] {
            assert_eq!(
                cal.check_start(tokyo(start), &kind("consultation"), now()),
                Err(StartRejection::NotSlotAligned),
                "{start}"
            );
        }
    }

    #[test]
    fn the_past_and_the_minimum_notice_are_too_soon() {
        let cal = calendar();
        // now() is 09:00 Tokyo on 2026-11-25; 10:00 is inside the 60-minute notice.
        assert_eq!(
            cal.check_start(tokyo("2026-11-25T10:00"), &kind("consultation"), now()),
            Ok(())
        );
        let later = now() + Duration::minutes(1);
        assert_eq!(
            cal.check_start(tokyo("2026-11-25T10:00"), &kind("consultation"), later),
            Err(StartRejection::TooSoon)
        );
        assert_eq!(
            cal.check_start(tokyo("2026-11-24T10:00"), &kind("consultation"), now()),
            Err(StartRejection::TooSoon)
        );
    }

    #[test]
    fn the_booking_window_ends_ninety_days_ahead() {
        let cal = calendar();
        // 2026-11-25 + 90 days = 2027-02-23 (a holiday, but holidays are open by default).
        assert_eq!(
            cal.check_start(tokyo("2027-02-23T10:00"), &kind("consultation"), now()),
            Ok(())
        );
        assert_eq!(
            cal.check_start(tokyo("2027-02-24T10:00"), &kind("consultation"), now()),
            Err(StartRejection::TooFarAhead)
        );
    }

    #[test]
    fn any_offset_is_converted_to_clinic_time() {
        let cal = calendar();
        let utc = cal.parse_start("2026-12-01T01:00:00Z").unwrap();
        assert_eq!(utc.to_rfc3339(), "2026-12-01T10:00:00+09:00");
        let naive = cal.parse_start("2026-12-01T10:00").unwrap();
        assert_eq!(naive, utc);
        assert!(cal.parse_start("tomorrow").is_none());
        assert!(cal.parse_start("2026-02-30T10:00").is_none());
    }

    #[test]
    fn holidays_close_the_clinic_only_when_configured() {
        let mut settings = Settings::defaults().unwrap();
        let holiday = NaiveDate::from_ymd_opt(2026, 5, 6).unwrap();
        let cal = ClinicCalendar::from_settings(&settings.schedule, "Asia/Tokyo").unwrap();
        assert_eq!(cal.closed_reason(holiday), None);
        settings.schedule.closed_on_national_holidays = true;
        let cal = ClinicCalendar::from_settings(&settings.schedule, "Asia/Tokyo").unwrap();
        assert_eq!(
            cal.closed_reason(holiday),
            Some(ClosedReason::NationalHoliday)
        );
    }

    #[test]
    fn configured_closed_dates_close_the_clinic() {
        let mut settings = Settings::defaults().unwrap();
        settings.schedule.closed_dates = vec!["2026-12-30".into()];
        let cal = ClinicCalendar::from_settings(&settings.schedule, "Asia/Tokyo").unwrap();
        assert_eq!(
            cal.closed_reason(NaiveDate::from_ymd_opt(2026, 12, 30).unwrap()),
            Some(ClosedReason::ClosedDate)
        );
    }

    #[test]
    fn bad_settings_are_refused_with_the_key_named() {
        let base = Settings::defaults().unwrap().schedule;
        type Change = Box<dyn Fn(&mut ScheduleSettings)>;
        let cases: Vec<(&str, Change)> = vec![
            (
                "schedule.capacity_per_slot",
                Box::new(|s| s.capacity_per_slot = 0),
            ),
            ("schedule.open", Box::new(|s| s.open = "10h".into())),
            ("schedule.close", Box::new(|s| s.close = "09:00".into())),
            (
                "schedule.default_type",
                Box::new(|s| s.default_type = "massage".into()),
            ),
            (
                "schedule.closed_weekdays",
                Box::new(|s| s.closed_weekdays = vec!["funday".into()]),
            ),
            (
                "schedule.closed_dates",
                Box::new(|s| s.closed_dates = vec!["2026-13-01".into()]),
            ),
            (
                "schedule.consultation_types",
                Box::new(|s| s.consultation_types[1].duration_minutes = 45),
            ),
        ];
        for (key, change) in cases {
            let mut settings = base.clone();
            change(&mut settings);
            let err = ClinicCalendar::from_settings(&settings, "Asia/Tokyo").unwrap_err();
            assert_eq!(err.key, key);
        }
        assert!(ClinicCalendar::from_settings(&base, "Mars/Olympus").is_err());
    }

    #[test]
    fn the_server_zone_does_not_change_the_rules() {
        // The instant 2026-12-01T01:00Z is 10:00 in Tokyo wherever the server runs.
        let cal = calendar();
        let start = cal.local(
            Utc.with_ymd_and_hms(2026, 12, 1, 1, 0, 0)
                .unwrap()
                .naive_utc(),
        );
        assert_eq!(start.time(), NaiveTime::from_hms_opt(10, 0, 0).unwrap());
    }

    proptest! {
        #[test]
        fn every_accepted_start_is_an_aligned_open_slot_that_ends_by_closing(
            day in 0i64..120, minutes in 0i64..(24 * 60), type_index in 0usize..4,
        ) {
            let cal = calendar();
            let kind = cal.consultation_types()[type_index].clone();
            let date = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap() + Duration::days(day);
            let start = cal.at(date, NaiveTime::MIN).unwrap() + Duration::minutes(minutes);
            if cal.check_start(start, &kind, now()).is_ok() {
                let end = cal.end_of(start, &kind);
                prop_assert!(start.time() >= cal.open_time());
                prop_assert!(end.time() <= cal.close_time());
                prop_assert_eq!(end.date_naive(), start.date_naive());
                prop_assert!(cal.closed_reason(date).is_none());
                prop_assert!(cal.slot_starts(date, &kind).contains(&start));
                prop_assert_eq!(
                    cal.covered_slots(start, &kind).len() as u32,
                    kind.duration_minutes / cal.slot_minutes()
                );
            }
        }

        #[test]
        fn every_grid_slot_of_an_open_day_in_the_window_is_accepted(
            day in 1i64..90, type_index in 0usize..4,
        ) {
            let cal = calendar();
            let kind = cal.consultation_types()[type_index].clone();
            let date = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap() + Duration::days(day);
            for start in cal.slot_starts(date, &kind) {
                let verdict = cal.check_start(start, &kind, now());
                if cal.closed_reason(date).is_some() {
                    prop_assert_eq!(verdict, Err(StartRejection::ClosedDay));
                } else {
                    prop_assert_eq!(verdict, Ok(()));
                }
            }
        }
    }

    #[test]
    fn a_patient_may_change_until_the_deadline_and_not_from_it() {
        let kind = kind("consultation");
        assert_eq!(kind.change_deadline_hours, 24);
        let start = tokyo("2026-12-02T10:00");
        let deadline = tokyo("2026-12-01T10:00");
        assert_eq!(kind.change_deadline(start), deadline);
        let minute = Duration::minutes(1);
        assert!(kind.patient_may_change(start, (deadline - minute).with_timezone(&Utc)));
        assert!(!kind.patient_may_change(start, deadline.with_timezone(&Utc)));
        assert!(!kind.patient_may_change(start, (deadline + minute).with_timezone(&Utc)));
    }

    #[test]
    fn a_type_may_set_its_own_change_deadline() {
        let kind = kind("stem-cell");
        assert_eq!(kind.change_deadline_hours, 48);
        assert_eq!(
            kind.change_deadline(tokyo("2026-12-03T15:00")),
            tokyo("2026-12-01T15:00")
        );
    }
}
