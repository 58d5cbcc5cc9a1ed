//! Practitioners and rooms: who and what each consultation type needs, when
//! each of them works, and which are free at a start. Pure: the slots they
//! already hold and their time off are passed in.
//!
//! A booking of a type that needs resources holds one practitioner (of the
//! type's list) for its duration and one room (of the type's list) for its
//! duration; the type's buffer is held after it by the room, or by the
//! practitioner when the type needs no room. Every hold is a set of grid
//! slots, as seats are, so the database can refuse a second holder.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime};
use chrono_tz::Tz;

use super::availability::{rfc3339, DayAvailability, SlotAvailability};
use super::{invalid, ClinicCalendar, ConsultationType, InvalidSchedule};
use crate::configuration::{ConsultationTypeSettings, ResourceSettings};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    Practitioner,
    Room,
}

/// One practitioner or room.
#[derive(Debug, Clone)]
pub struct Resource {
    pub code: String,
    pub kind: ResourceKind,
    pub label: String,
    pub label_en: String,
    /// Working ranges per weekday (Monday first); `None`: whenever the
    /// clinic is open (a room with no weekday lists).
    hours: Option<[Vec<(NaiveTime, NaiveTime)>; 7]>,
    days_off: BTreeSet<NaiveDate>,
}

impl Resource {
    /// Whether it works through `from..to` (clinic times) of `date`.
    pub fn works(&self, date: NaiveDate, from: NaiveTime, to: NaiveTime) -> bool {
        if self.days_off.contains(&date) {
            return false;
        }
        match &self.hours {
            None => true,
            Some(week) => week[date.weekday().num_days_from_monday() as usize]
                .iter()
                .any(|(start, end)| *start <= from && to <= *end),
        }
    }
}

/// What a consultation type needs beyond the calendar.
#[derive(Debug, Clone, Default)]
pub struct TypeNeeds {
    /// Indices into the resources, in configuration order.
    pub practitioners: Vec<usize>,
    pub rooms: Vec<usize>,
    pub buffer_minutes: u32,
    pub daily_limit: Option<u32>,
}

impl TypeNeeds {
    /// How many more bookings of it a day with `booked` of them takes.
    pub fn left(&self, booked: u32) -> u32 {
        self.daily_limit
            .map_or(u32::MAX, |limit| limit.saturating_sub(booked))
    }

    /// Whether its bookings hold practitioners or rooms instead of seats.
    pub fn uses_resources(&self) -> bool {
        !self.practitioners.is_empty() || !self.rooms.is_empty()
    }
}

/// What the resources hold in a stretch of time: the grid slots claimed by
/// bookings, and their time off (staff closures with a resource).
#[derive(Debug, Clone, Default)]
pub struct Busy {
    pub held: HashMap<String, HashSet<NaiveDateTime>>,
    pub off: HashMap<String, Vec<(NaiveDateTime, NaiveDateTime)>>,
}

impl Busy {
    pub fn hold(&mut self, code: &str, slot: NaiveDateTime) {
        self.held.entry(code.to_string()).or_default().insert(slot);
    }

    pub fn time_off(&mut self, code: &str, from: NaiveDateTime, to: NaiveDateTime) {
        self.off
            .entry(code.to_string())
            .or_default()
            .push((from, to));
    }

    /// Whether `code` is neither claimed in any of `slots` nor off during
    /// `from..to` (UTC).
    fn is_free(
        &self,
        code: &str,
        slots: &[NaiveDateTime],
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> bool {
        let claimed = self
            .held
            .get(code)
            .is_some_and(|held| slots.iter().any(|slot| held.contains(slot)));
        let off = self
            .off
            .get(code)
            .is_some_and(|off| off.iter().any(|(start, end)| *start < to && *end > from));
        !claimed && !off
    }
}

/// Who and what one booking would hold, with the slots each holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub resource: usize,
    pub slots: Vec<NaiveDateTime>,
}

/// Every practitioner and room, and what each type needs of them.
#[derive(Debug, Clone, Default)]
pub struct Resources {
    list: Vec<Resource>,
    needs: HashMap<String, TypeNeeds>,
}

const WEEKDAY_KEYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

fn valid_code(code: &str) -> bool {
    !code.is_empty()
        && code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

impl Resources {
    /// Reads `[[resources]]` and the types' needs, refusing what cannot
    /// work: unknown or duplicate codes, a code of the wrong kind, hours
    /// outside the clinic's or off its slot grid, a buffer off the grid.
    pub fn from_settings(
        resources: &[ResourceSettings],
        types: &[ConsultationTypeSettings],
        calendar: &ClinicCalendar,
    ) -> Result<Self, InvalidSchedule> {
        let step = i64::from(calendar.slot_minutes());
        let (open, close) = (calendar.open_time(), calendar.close_time());
        let on_grid = |time: NaiveTime| (time - open).num_minutes() % step == 0;
        let mut list: Vec<Resource> = Vec::new();
        for settings in resources {
            let code = settings.code.trim();
            if !valid_code(code) {
                return Err(invalid(
                    "resources",
                    format!("code {code:?} must be lower-case letters, digits and hyphens"),
                ));
            }
            if list.iter().any(|known| known.code == code) {
                return Err(invalid("resources", format!("code {code:?} appears twice")));
            }
            let kind = match settings.kind.trim() {
                "practitioner" => ResourceKind::Practitioner,
                "room" => ResourceKind::Room,
                other => {
                    return Err(invalid(
                        "resources",
                        format!("{code}: kind {other:?} must be \"practitioner\" or \"room\""),
                    ))
                }
            };
            let mut week: [Vec<(NaiveTime, NaiveTime)>; 7] = Default::default();
            let mut any_listed = false;
            for (day, ranges) in settings.weekdays().into_iter().enumerate() {
                let Some(ranges) = ranges else { continue };
                any_listed = true;
                for raw in ranges {
                    let range = parse_range(raw).ok_or_else(|| {
                        invalid(
                            "resources",
                            format!(
                                "{code}.{}: {raw:?} is not a range as \"HH:MM-HH:MM\"",
                                WEEKDAY_KEYS[day]
                            ),
                        )
                    })?;
                    if range.0 < open || range.1 > close {
                        return Err(invalid(
                            "resources",
                            format!(
                                "{code}.{}: {raw:?} is outside the clinic's hours {}-{}",
                                WEEKDAY_KEYS[day],
                                open.format("%H:%M"),
                                close.format("%H:%M")
                            ),
                        ));
                    }
                    if !on_grid(range.0) || !on_grid(range.1) {
                        return Err(invalid(
                            "resources",
                            format!(
                                "{code}.{}: {raw:?} is off the {step}-minute slot grid",
                                WEEKDAY_KEYS[day]
                            ),
                        ));
                    }
                    if week[day]
                        .iter()
                        .any(|(start, end)| *start < range.1 && range.0 < *end)
                    {
                        return Err(invalid(
                            "resources",
                            format!(
                                "{code}.{}: {raw:?} overlaps another range",
                                WEEKDAY_KEYS[day]
                            ),
                        ));
                    }
                    week[day].push(range);
                }
                week[day].sort();
            }
            if !any_listed && kind == ResourceKind::Practitioner {
                return Err(invalid(
                    "resources",
                    format!("{code}: a practitioner needs the weekdays they work, e.g. monday = [\"10:00-18:30\"]"),
                ));
            }
            let days_off = settings
                .days_off
                .iter()
                .filter(|raw| !raw.trim().is_empty())
                .map(|raw| {
                    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| {
                        invalid(
                            "resources",
                            format!("{code}.days_off: {raw:?} is not a date as YYYY-MM-DD"),
                        )
                    })
                })
                .collect::<Result<BTreeSet<_>, _>>()?;
            list.push(Resource {
                code: code.to_string(),
                kind,
                label: settings.label.clone(),
                label_en: settings
                    .label_en
                    .clone()
                    .unwrap_or_else(|| settings.label.clone()),
                hours: any_listed.then_some(week),
                days_off,
            });
        }
        let mut needs = HashMap::new();
        for kind in types {
            let type_code = kind.code.trim();
            let pick = |codes: &[String], wanted: ResourceKind, key: &str| {
                let mut picked: Vec<usize> = Vec::new();
                for raw in codes {
                    let code = raw.trim();
                    let index = list
                        .iter()
                        .position(|resource| resource.code == code)
                        .ok_or_else(|| {
                            invalid(
                                "schedule.consultation_types",
                                format!("{type_code}.{key}: unknown resource {code:?}"),
                            )
                        })?;
                    if list[index].kind != wanted {
                        return Err(invalid(
                            "schedule.consultation_types",
                            format!("{type_code}.{key}: {code:?} is not a {key:?} resource"),
                        ));
                    }
                    if !picked.contains(&index) {
                        picked.push(index);
                    }
                }
                Ok(picked)
            };
            let type_needs = TypeNeeds {
                practitioners: pick(
                    &kind.practitioners,
                    ResourceKind::Practitioner,
                    "practitioners",
                )?,
                rooms: pick(&kind.rooms, ResourceKind::Room, "rooms")?,
                buffer_minutes: kind.buffer_minutes,
                daily_limit: kind.daily_limit,
            };
            if i64::from(kind.buffer_minutes) % step != 0 {
                return Err(invalid(
                    "schedule.consultation_types",
                    format!(
                        "{type_code}: buffer_minutes {} is not a whole number of {step}-minute slots",
                        kind.buffer_minutes
                    ),
                ));
            }
            if kind.buffer_minutes > 0 && !type_needs.uses_resources() {
                return Err(invalid(
                    "schedule.consultation_types",
                    format!(
                        "{type_code}: buffer_minutes needs practitioners or rooms to keep free"
                    ),
                ));
            }
            if kind.daily_limit == Some(0) {
                return Err(invalid(
                    "schedule.consultation_types",
                    format!("{type_code}: daily_limit must be at least 1 (leave it out for none)"),
                ));
            }
            if type_needs.uses_resources() || type_needs.daily_limit.is_some() {
                needs.insert(type_code.to_string(), type_needs);
            }
        }
        Ok(Resources { list, needs })
    }

    pub fn all(&self) -> &[Resource] {
        &self.list
    }

    pub fn get(&self, index: usize) -> Option<&Resource> {
        self.list.get(index)
    }

    pub fn find(&self, code: &str) -> Option<(usize, &Resource)> {
        self.list
            .iter()
            .enumerate()
            .find(|(_, resource)| resource.code == code)
    }

    pub fn practitioners(&self) -> impl Iterator<Item = &Resource> {
        self.list
            .iter()
            .filter(|resource| resource.kind == ResourceKind::Practitioner)
    }

    /// The practitioner with this code (a room's code names none).
    pub fn practitioner(&self, code: &str) -> Option<&Resource> {
        self.practitioners().find(|resource| resource.code == code)
    }

    /// What `type_code` needs (`None`: only a seat, as before resources).
    pub fn needs(&self, type_code: &str) -> Option<&TypeNeeds> {
        self.needs.get(type_code)
    }

    /// The codes of the types `code` may take, in the types' order.
    pub fn types_of<'a>(&self, code: &str, types: &'a [ConsultationType]) -> Vec<&'a str> {
        let Some((index, _)) = self.find(code) else {
            return Vec::new();
        };
        types
            .iter()
            .filter(|kind| {
                self.needs(&kind.code)
                    .is_some_and(|needs| needs.practitioners.contains(&index))
            })
            .map(|kind| kind.code.as_str())
            .collect()
    }

    /// The grid slots a booking of `kind` at `start` holds on its
    /// practitioner and on its room (the buffer goes to the room, or to
    /// the practitioner when there is no room).
    pub fn hold_slots(
        &self,
        calendar: &ClinicCalendar,
        kind: &ConsultationType,
        needs: &TypeNeeds,
        start: DateTime<Tz>,
    ) -> (Vec<NaiveDateTime>, Vec<NaiveDateTime>) {
        let step = calendar.slot_minutes();
        let count = |minutes: u32| minutes / step;
        let slots = |n: u32| -> Vec<NaiveDateTime> {
            (0..n)
                .map(|i| (start + Duration::minutes(i64::from(i * step))).naive_utc())
                .collect()
        };
        let with_buffer = slots(count(kind.duration_minutes + needs.buffer_minutes));
        let without = slots(count(kind.duration_minutes));
        if needs.rooms.is_empty() {
            (with_buffer, Vec::new())
        } else {
            (without, with_buffer)
        }
    }

    fn free_of(
        &self,
        candidates: &[usize],
        calendar: &ClinicCalendar,
        kind: &ConsultationType,
        start: DateTime<Tz>,
        slots: &[NaiveDateTime],
        busy: &Busy,
    ) -> Vec<usize> {
        let end = calendar.end_of(start, kind);
        let (from, to) = (
            slots.first().copied().unwrap_or(start.naive_utc()),
            slots
                .last()
                .map(|last| *last + Duration::minutes(calendar.slot_minutes().into()))
                .unwrap_or(end.naive_utc()),
        );
        candidates
            .iter()
            .copied()
            .filter(|index| {
                let resource = &self.list[*index];
                end.date_naive() == start.date_naive()
                    && resource.works(start.date_naive(), start.time(), end.time())
                    && busy.is_free(&resource.code, slots, from, to)
            })
            .collect()
    }

    /// The type's practitioners free at `start` (configuration order),
    /// and its rooms free then; either list is empty when the type needs
    /// none of that kind.
    pub fn free_at(
        &self,
        calendar: &ClinicCalendar,
        kind: &ConsultationType,
        needs: &TypeNeeds,
        start: DateTime<Tz>,
        busy: &Busy,
    ) -> (Vec<usize>, Vec<usize>) {
        let (practitioner_slots, room_slots) = self.hold_slots(calendar, kind, needs, start);
        (
            self.free_of(
                &needs.practitioners,
                calendar,
                kind,
                start,
                &practitioner_slots,
                busy,
            ),
            self.free_of(&needs.rooms, calendar, kind, start, &room_slots, busy),
        )
    }

    /// How many more bookings of `kind` fit at `start` and which of its
    /// practitioners are free then: the smaller of free practitioners and
    /// free rooms (the daily limit is the caller's: `TypeNeeds::left`).
    /// `only`: one practitioner's view.
    pub fn slot_state(
        &self,
        calendar: &ClinicCalendar,
        kind: &ConsultationType,
        needs: &TypeNeeds,
        start: DateTime<Tz>,
        busy: &Busy,
        only: Option<usize>,
    ) -> (u32, Vec<String>) {
        let (mut practitioners, rooms) = self.free_at(calendar, kind, needs, start, busy);
        if let Some(only) = only {
            practitioners.retain(|index| *index == only);
        }
        let mut remaining = u32::MAX;
        if !needs.practitioners.is_empty() {
            remaining = remaining.min(practitioners.len() as u32);
        }
        if !needs.rooms.is_empty() {
            remaining = remaining.min(rooms.len() as u32);
        }
        let codes = practitioners
            .iter()
            .map(|index| self.list[*index].code.clone())
            .collect();
        (remaining, codes)
    }
}

/// What a day's availability of a type with resources is read from.
pub struct ResourceView<'a> {
    pub resources: &'a Resources,
    pub needs: &'a TypeNeeds,
    pub busy: &'a Busy,
    /// Bookings of the type per clinic date (for its daily limit).
    pub booked: &'a HashMap<NaiveDate, u32>,
    /// One practitioner's view.
    pub only: Option<usize>,
}

/// Every day from `from` to `to` inclusive, with every slot of the open
/// ones, for a type with practitioners or rooms: a slot is available when
/// one of them (and a room, if needed) is free for the whole duration and
/// buffer, the daily limit is not reached, and it is not too soon.
pub fn days(
    calendar: &ClinicCalendar,
    kind: &ConsultationType,
    view: &ResourceView,
    from: NaiveDate,
    to: NaiveDate,
    now: DateTime<chrono::Utc>,
) -> Vec<DayAvailability> {
    from.iter_days()
        .take_while(|date| *date <= to)
        .map(|date| match calendar.closed_reason(date) {
            Some(reason) => DayAvailability {
                date: date.to_string(),
                open: false,
                closed_reason: Some(reason.code()),
                slots: Vec::new(),
            },
            None => {
                let left = view
                    .needs
                    .left(view.booked.get(&date).copied().unwrap_or(0));
                DayAvailability {
                    date: date.to_string(),
                    open: true,
                    closed_reason: None,
                    slots: calendar
                        .slot_starts(date, kind)
                        .into_iter()
                        .map(|start| {
                            let (free, codes) = view.resources.slot_state(
                                calendar, kind, view.needs, start, view.busy, view.only,
                            );
                            let remaining = free.min(left);
                            SlotAvailability {
                                start: rfc3339(start),
                                end: rfc3339(calendar.end_of(start, kind)),
                                available: remaining > 0 && calendar.bookable_in_time(start, now),
                                remaining,
                                practitioners: (!view.needs.practitioners.is_empty())
                                    .then_some(codes),
                            }
                        })
                        .collect(),
                }
            }
        })
        .collect()
}

/// The order in which free practitioners are offered a booking nobody was
/// named for: the fewest bookings that day first, then configuration order.
pub fn assignment_order(free: &[usize], booked_that_day: impl Fn(usize) -> u32) -> Vec<usize> {
    let mut order = free.to_vec();
    order.sort_by_key(|index| (booked_that_day(*index), *index));
    order
}

fn parse_range(raw: &str) -> Option<(NaiveTime, NaiveTime)> {
    let (from, to) = raw.trim().split_once('-')?;
    let from = NaiveTime::parse_from_str(from.trim(), "%H:%M").ok()?;
    let to = NaiveTime::parse_from_str(to.trim(), "%H:%M").ok()?;
    (from < to).then_some((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configuration::Settings;

    /// Two doctors (one with a lunch break and a day off), a counsellor
    /// and two rooms; stem-cell needs a doctor and a room with a 30-minute
    /// buffer, counselling a counsellor with a 30-minute buffer.
    fn example() -> Settings {
        let mut settings = Settings::defaults().unwrap();
        let toml = r#"
            [[resources]]
            code = "dr-a"
            kind = "practitioner"
            label = "A 医師"
            monday = ["10:00-13:00", "14:00-18:30"]
            tuesday = ["10:00-13:00", "14:00-18:30"]
            days_off = ["2026-12-08"]
            [[resources]]
            code = "dr-b"
            kind = "practitioner"
            label = "B 医師"
            tuesday = ["10:00-18:30"]
            [[resources]]
            code = "counsellor"
            kind = "practitioner"
            label = "カウンセラー"
            tuesday = ["10:00-18:30"]
            [[resources]]
            code = "room-1"
            kind = "room"
            label = "処置室1"
            [[resources]]
            code = "room-2"
            kind = "room"
            label = "処置室2"
        "#;
        #[derive(serde::Deserialize)]
        struct Only {
            resources: Vec<ResourceSettings>,
        }
        let only: Only = toml::from_str(toml).unwrap();
        settings.resources = only.resources;
        for kind in &mut settings.schedule.consultation_types {
            if kind.code == "stem-cell" {
                kind.practitioners = vec!["dr-a".into(), "dr-b".into()];
                kind.rooms = vec!["room-1".into(), "room-2".into()];
                kind.buffer_minutes = 30;
                kind.daily_limit = Some(4);
            }
            if kind.code == "consultation" {
                kind.practitioners = vec!["counsellor".into()];
                kind.buffer_minutes = 30;
            }
        }
        settings
    }

    fn build(settings: &Settings) -> Result<(ClinicCalendar, Resources), InvalidSchedule> {
        let calendar = ClinicCalendar::from_settings(&settings.schedule, "Asia/Tokyo")?;
        let resources = Resources::from_settings(
            &settings.resources,
            &settings.schedule.consultation_types,
            &calendar,
        )?;
        Ok((calendar, resources))
    }

    fn at(calendar: &ClinicCalendar, raw: &str) -> DateTime<Tz> {
        calendar.parse_start(raw).unwrap()
    }

    fn codes(resources: &Resources, indices: &[usize]) -> Vec<String> {
        indices
            .iter()
            .map(|i| resources.get(*i).unwrap().code.clone())
            .collect()
    }

    #[test]
    fn the_default_settings_need_no_resources() {
        let (_, resources) = build(&Settings::defaults().unwrap()).unwrap();
        assert!(resources.all().is_empty());
        assert!(resources.needs("stem-cell").is_none());
    }

    #[test]
    fn a_lunch_break_and_a_day_off_make_a_doctor_not_free() {
        let (cal, resources) = build(&example()).unwrap();
        let kind = cal.consultation_type("stem-cell").unwrap().clone();
        let needs = resources.needs("stem-cell").unwrap();
        let busy = Busy::default();
        // Monday 2026-11-30: only dr-a works, not over lunch.
        let free = |raw: &str| {
            let (p, _) = resources.free_at(&cal, &kind, needs, at(&cal, raw), &busy);
            codes(&resources, &p)
        };
        assert_eq!(free("2026-11-30T10:00"), vec!["dr-a"]);
        assert_eq!(
            free("2026-11-30T12:00"),
            vec!["dr-a"],
            "ends as lunch starts"
        );
        assert_eq!(free("2026-11-30T12:30"), Vec::<String>::new());
        assert_eq!(free("2026-11-30T13:00"), Vec::<String>::new());
        assert_eq!(free("2026-11-30T14:00"), vec!["dr-a"]);
        // Tuesday 2026-12-08 is dr-a's day off; dr-b works all day.
        assert_eq!(free("2026-12-08T10:00"), vec!["dr-b"]);
        assert_eq!(free("2026-12-01T12:30"), vec!["dr-b"]);
        // Wednesday: nobody.
        assert_eq!(free("2026-12-02T10:00"), Vec::<String>::new());
    }

    #[test]
    fn the_buffer_keeps_the_room_free_after_a_treatment() {
        let (cal, resources) = build(&example()).unwrap();
        let kind = cal.consultation_type("stem-cell").unwrap().clone();
        let needs = resources.needs("stem-cell").unwrap();
        let start = at(&cal, "2026-12-01T10:00");
        let (doctor, room) = resources.hold_slots(&cal, &kind, needs, start);
        assert_eq!(doctor.len(), 2, "the doctor for the hour");
        assert_eq!(room.len(), 3, "the room for the hour and the buffer");
        let mut busy = Busy::default();
        for slot in &room {
            busy.hold("room-1", *slot);
        }
        for slot in &doctor {
            busy.hold("dr-a", *slot);
        }
        // At 11:00 dr-a is free again but room-1 is being cleaned.
        let (p, r) = resources.free_at(&cal, &kind, needs, at(&cal, "2026-12-01T11:00"), &busy);
        assert_eq!(codes(&resources, &p), vec!["dr-a", "dr-b"]);
        assert_eq!(codes(&resources, &r), vec!["room-2"]);
        let (p, r) = resources.free_at(&cal, &kind, needs, at(&cal, "2026-12-01T11:30"), &busy);
        assert_eq!(codes(&resources, &p), vec!["dr-a", "dr-b"]);
        assert_eq!(codes(&resources, &r), vec!["room-1", "room-2"]);
    }

    #[test]
    fn without_a_room_the_buffer_is_the_practitioners() {
        let (cal, resources) = build(&example()).unwrap();
        let kind = cal.consultation_type("consultation").unwrap().clone();
        let needs = resources.needs("consultation").unwrap();
        let (counsellor, room) =
            resources.hold_slots(&cal, &kind, needs, at(&cal, "2026-12-01T10:00"));
        assert_eq!(counsellor.len(), 2);
        assert!(room.is_empty());
    }

    #[test]
    fn time_off_and_the_daily_limit_count_in_a_slots_state() {
        let (cal, resources) = build(&example()).unwrap();
        let kind = cal.consultation_type("stem-cell").unwrap().clone();
        let needs = resources.needs("stem-cell").unwrap();
        let start = at(&cal, "2026-12-01T15:00");
        let mut busy = Busy::default();
        busy.time_off(
            "dr-b",
            at(&cal, "2026-12-01T14:00").naive_utc(),
            at(&cal, "2026-12-01T16:00").naive_utc(),
        );
        let (remaining, free) = resources.slot_state(&cal, &kind, needs, start, &busy, None);
        assert_eq!((remaining, free), (1, vec!["dr-a".to_string()]));
        assert_eq!(needs.left(3), 1);
        assert_eq!(needs.left(4), 0, "four stem-cell bookings fill the day");
        let (dr_b, _) = resources.find("dr-b").unwrap();
        let (remaining, free) = resources.slot_state(&cal, &kind, needs, start, &busy, Some(dr_b));
        assert_eq!((remaining, free), (0, Vec::<String>::new()));
    }

    #[test]
    fn the_least_booked_practitioner_is_offered_first_and_ties_go_by_order() {
        let counts = [2, 1, 1];
        assert_eq!(assignment_order(&[0, 1, 2], |i| counts[i]), vec![1, 2, 0]);
        assert_eq!(assignment_order(&[0, 2], |_| 0), vec![0, 2]);
    }

    #[test]
    fn bad_resource_settings_are_refused_with_a_clear_reason() {
        type Change = Box<dyn Fn(&mut Settings)>;
        let cases: Vec<(&str, Change)> = vec![
            (
                "appears twice",
                Box::new(|s| s.resources[1].code = "dr-a".into()),
            ),
            ("kind", Box::new(|s| s.resources[0].kind = "nurse".into())),
            (
                "outside the clinic's hours",
                Box::new(|s| s.resources[0].monday = Some(vec!["09:00-12:00".into()])),
            ),
            (
                "slot grid",
                Box::new(|s| s.resources[0].monday = Some(vec!["10:15-12:00".into()])),
            ),
            (
                "not a range",
                Box::new(|s| s.resources[0].monday = Some(vec!["10-12".into()])),
            ),
            (
                "overlaps",
                Box::new(|s| {
                    s.resources[0].monday = Some(vec!["10:00-13:00".into(), "12:00-14:00".into()])
                }),
            ),
            (
                "days_off",
                Box::new(|s| s.resources[0].days_off = vec!["2026-02-30".into()]),
            ),
            (
                "unknown resource \"dr-x\"",
                Box::new(|s| s.schedule.consultation_types[1].practitioners = vec!["dr-x".into()]),
            ),
            (
                "is not a \"rooms\" resource",
                Box::new(|s| s.schedule.consultation_types[1].rooms = vec!["dr-a".into()]),
            ),
            (
                "buffer_minutes 45",
                Box::new(|s| s.schedule.consultation_types[1].buffer_minutes = 45),
            ),
            (
                "buffer_minutes needs",
                Box::new(|s| s.schedule.consultation_types[2].buffer_minutes = 30),
            ),
            (
                "daily_limit",
                Box::new(|s| s.schedule.consultation_types[1].daily_limit = Some(0)),
            ),
            (
                "needs the weekdays",
                Box::new(|s| s.resources[1].tuesday = None),
            ),
        ];
        for (expected, change) in cases {
            let mut settings = example();
            change(&mut settings);
            let error = build(&settings).unwrap_err().to_string();
            assert!(error.contains(expected), "{expected:?} not in {error:?}");
        }
    }
}
