//! The words of every email, rendered from the askama templates under
//! `templates/mail/` (plain text, Japanese), and the calendar files that go
//! with them.

use askama::Template;
use chrono::{DateTime, Datelike, NaiveDateTime, Utc, Weekday};

use crate::configuration::Settings;
use crate::db::bookings::BookingRow;
use crate::db::inquiries::InquiryRow;
use crate::domain::InquiryCategory;
use crate::ics::{self, Method};
use crate::schedule::ClinicCalendar;

/// A subject and a plain-text body, ready for the outbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
}

/// What every patient message says about the clinic.
pub struct ClinicInfo {
    pub name: String,
    pub address: String,
    pub phone: String,
    pub hours: String,
    pub website: String,
}

impl ClinicInfo {
    pub fn of(settings: &Settings, calendar: &ClinicCalendar) -> Self {
        let mut closed: Vec<String> = calendar
            .closed_weekdays()
            .iter()
            .map(|day| format!("{}曜日", weekday_kanji(*day)))
            .collect();
        if settings.schedule.closed_on_national_holidays {
            closed.push("祝日".to_string());
        }
        let mut hours = format!(
            "{}〜{}",
            calendar.open_time().format("%H:%M"),
            calendar.close_time().format("%H:%M")
        );
        if !closed.is_empty() {
            hours.push_str(&format!("（休診日：{}）", closed.join("・")));
        }
        ClinicInfo {
            name: settings.clinic.name.clone(),
            address: settings.clinic.address.clone(),
            phone: settings.clinic.phone.clone(),
            hours,
            website: settings.clinic.website.clone(),
        }
    }
}

fn weekday_kanji(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "月",
        Weekday::Tue => "火",
        Weekday::Wed => "水",
        Weekday::Thu => "木",
        Weekday::Fri => "金",
        Weekday::Sat => "土",
        Weekday::Sun => "日",
    }
}

/// A consultation's date and time in clinic time, the way Japanese patients
/// read it: `2026年12月1日(火) 10:00〜10:30`.
pub fn japanese_time_range(
    calendar: &ClinicCalendar,
    start: NaiveDateTime,
    end: NaiveDateTime,
) -> String {
    let start = calendar.local(start);
    let end = calendar.local(end);
    format!(
        "{}年{}月{}日({}) {}〜{}",
        start.year(),
        start.month(),
        start.day(),
        weekday_kanji(start.weekday()),
        start.format("%H:%M"),
        end.format("%H:%M")
    )
}

/// A clinic day: `2026年12月1日(火)`.
pub fn japanese_date(date: chrono::NaiveDate) -> String {
    format!(
        "{}年{}月{}日({})",
        date.year(),
        date.month(),
        date.day(),
        weekday_kanji(date.weekday())
    )
}

/// A moment in clinic time: `2026年11月25日(水) 09:41`.
pub fn japanese_time(calendar: &ClinicCalendar, at: NaiveDateTime) -> String {
    let at = calendar.local(at);
    format!(
        "{}年{}月{}日({}) {}",
        at.year(),
        at.month(),
        at.day(),
        weekday_kanji(at.weekday()),
        at.format("%H:%M")
    )
}

fn type_label(calendar: &ClinicCalendar, row: &BookingRow) -> String {
    calendar
        .consultation_type(&row.type_code)
        .map(|kind| kind.label.clone())
        .unwrap_or_else(|| row.type_code.clone())
}

/// The last moment the patient may change the booking online, in clinic
/// time (the type's change deadline before its start).
fn change_deadline(calendar: &ClinicCalendar, row: &BookingRow) -> String {
    let kind = calendar
        .consultation_type(&row.type_code)
        .unwrap_or_else(|| calendar.default_type());
    let deadline = kind.change_deadline(calendar.local(row.start_at));
    japanese_time(calendar, deadline.naive_utc())
}

/// The booking's practitioner as the patient reads it: the label, with the
/// English one beside it when it differs (`中村 医師（Dr. Nakamura）`).
fn practitioner_label(settings: &Settings, row: &BookingRow) -> Option<String> {
    let code = row.practitioner.as_deref()?;
    let Some(resource) = settings.resources.iter().find(|r| r.code.trim() == code) else {
        return Some(code.to_string());
    };
    Some(match resource.label_en.as_deref() {
        Some(english) if !english.trim().is_empty() && english != resource.label => {
            format!("{}（{}）", resource.label, english)
        }
        _ => resource.label.clone(),
    })
}

fn first_visit_label(first_visit: Option<bool>) -> Option<&'static str> {
    first_visit.map(|first| if first { "初診" } else { "再診" })
}

fn subject(settings: &Settings, what: &str, reference: &str) -> String {
    format!("【{}】{what}（予約番号 {reference}）", settings.clinic.name)
}

#[derive(Template)]
#[template(path = "mail/booking_confirmed.txt")]
struct BookingConfirmed<'a> {
    clinic: &'a ClinicInfo,
    name: &'a str,
    reference: &'a str,
    type_label: &'a str,
    practitioner: Option<&'a str>,
    when: &'a str,
    first_visit: Option<&'a str>,
    manage_url: Option<&'a str>,
    deadline: &'a str,
    /// Ask for the intake questionnaire through `manage_url`.
    questionnaire_pending: bool,
}

#[derive(Template)]
#[template(path = "mail/booking_rescheduled.txt")]
struct BookingRescheduled<'a> {
    clinic: &'a ClinicInfo,
    name: &'a str,
    reference: &'a str,
    type_label: &'a str,
    practitioner: Option<&'a str>,
    when: &'a str,
    previous_when: Option<&'a str>,
    deadline: &'a str,
}

#[derive(Template)]
#[template(path = "mail/booking_cancelled.txt")]
struct BookingCancelled<'a> {
    clinic: &'a ClinicInfo,
    name: &'a str,
    reference: &'a str,
    type_label: &'a str,
    practitioner: Option<&'a str>,
    when: &'a str,
}

#[derive(Template)]
#[template(path = "mail/booking_reminder.txt")]
struct BookingReminder<'a> {
    clinic: &'a ClinicInfo,
    name: &'a str,
    reference: &'a str,
    type_label: &'a str,
    practitioner: Option<&'a str>,
    when: &'a str,
}

#[derive(Template)]
#[template(path = "mail/clinic_booking.txt")]
struct ClinicBooking<'a> {
    event: &'a str,
    reference: &'a str,
    status: &'a str,
    type_label: &'a str,
    practitioner: Option<&'a str>,
    when: &'a str,
    previous_when: Option<&'a str>,
    name: &'a str,
    name_kana: Option<&'a str>,
    email: &'a str,
    phone: &'a str,
    first_visit: &'a str,
    source: Option<&'a str>,
    message: &'a str,
}

#[derive(Template)]
#[template(path = "mail/inquiry_received.txt")]
struct InquiryReceived<'a> {
    clinic: &'a ClinicInfo,
    reference: &'a str,
    category: &'a str,
}

#[derive(Template)]
#[template(path = "mail/clinic_inquiry.txt")]
struct ClinicInquiry<'a> {
    reference: &'a str,
    received: &'a str,
    category: &'a str,
    name: &'a str,
    email: &'a str,
    phone: &'a str,
    source: Option<&'a str>,
    message: &'a str,
}

/// What happened to a booking, for the patient's and the clinic's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookingChange {
    Booked,
    /// Moved; the old (start, end) in UTC when known.
    Rescheduled(Option<(NaiveDateTime, NaiveDateTime)>),
    Cancelled,
}

/// The patient's message about a booking. `manage_url` is only known when
/// the booking is made (the token is stored hashed), so only the
/// confirmation carries it. With `questionnaire_pending` (and a manage
/// link) the confirmation asks the patient to answer the intake
/// questionnaire through the link; no message ever repeats the answers.
pub fn patient_booking(
    settings: &Settings,
    calendar: &ClinicCalendar,
    row: &BookingRow,
    change: BookingChange,
    manage_url: Option<&str>,
    questionnaire_pending: bool,
) -> Result<Rendered, askama::Error> {
    let clinic = ClinicInfo::of(settings, calendar);
    let type_label = type_label(calendar, row);
    let practitioner = practitioner_label(settings, row);
    let when = japanese_time_range(calendar, row.start_at, row.end_at);
    let deadline = change_deadline(calendar, row);
    let (what, body) = match change {
        BookingChange::Booked => (
            "ご予約を承りました",
            BookingConfirmed {
                clinic: &clinic,
                name: &row.name,
                reference: &row.reference,
                type_label: &type_label,
                practitioner: practitioner.as_deref(),
                when: &when,
                first_visit: first_visit_label(row.first_visit),
                manage_url,
                deadline: &deadline,
                questionnaire_pending: questionnaire_pending && manage_url.is_some(),
            }
            .render()?,
        ),
        BookingChange::Rescheduled(previous) => {
            let previous_when =
                previous.map(|(start, end)| japanese_time_range(calendar, start, end));
            (
                "ご予約日時を変更しました",
                BookingRescheduled {
                    clinic: &clinic,
                    name: &row.name,
                    reference: &row.reference,
                    type_label: &type_label,
                    practitioner: practitioner.as_deref(),
                    when: &when,
                    previous_when: previous_when.as_deref(),
                    deadline: &deadline,
                }
                .render()?,
            )
        }
        BookingChange::Cancelled => (
            "ご予約のキャンセルを承りました",
            BookingCancelled {
                clinic: &clinic,
                name: &row.name,
                reference: &row.reference,
                type_label: &type_label,
                practitioner: practitioner.as_deref(),
                when: &when,
            }
            .render()?,
        ),
    };
    Ok(Rendered {
        subject: subject(settings, what, &row.reference),
        body,
    })
}

/// The reminder a patient gets before a confirmed booking.
pub fn booking_reminder(
    settings: &Settings,
    calendar: &ClinicCalendar,
    row: &BookingRow,
) -> Result<Rendered, askama::Error> {
    let clinic = ClinicInfo::of(settings, calendar);
    let type_label = type_label(calendar, row);
    let practitioner = practitioner_label(settings, row);
    let when = japanese_time_range(calendar, row.start_at, row.end_at);
    let body = BookingReminder {
        clinic: &clinic,
        name: &row.name,
        reference: &row.reference,
        type_label: &type_label,
        practitioner: practitioner.as_deref(),
        when: &when,
    }
    .render()?;
    Ok(Rendered {
        subject: subject(settings, "ご予約日時のお知らせ", &row.reference),
        body,
    })
}

/// The clinic inbox's notice of a booking, a move or a cancellation, with
/// everything staff need to prepare or to call the patient back.
pub fn clinic_booking(
    settings: &Settings,
    calendar: &ClinicCalendar,
    row: &BookingRow,
    change: BookingChange,
) -> Result<Rendered, askama::Error> {
    let type_label = type_label(calendar, row);
    let practitioner = practitioner_label(settings, row);
    let when = japanese_time_range(calendar, row.start_at, row.end_at);
    let (event, status, previous) = match change {
        BookingChange::Booked => ("新しいご予約", "予約確定", None),
        BookingChange::Rescheduled(previous) => {
            ("ご予約の日時変更", "予約確定（日時変更）", previous)
        }
        BookingChange::Cancelled => ("ご予約のキャンセル", "キャンセル", None),
    };
    let previous_when = previous.map(|(start, end)| japanese_time_range(calendar, start, end));
    let body = ClinicBooking {
        event,
        reference: &row.reference,
        status,
        type_label: &type_label,
        practitioner: practitioner.as_deref(),
        when: &when,
        previous_when: previous_when.as_deref(),
        name: &row.name,
        name_kana: row.name_kana.as_deref(),
        email: &row.email,
        phone: &row.phone,
        first_visit: first_visit_label(row.first_visit).unwrap_or("未回答"),
        source: row.source.as_deref(),
        message: row.message.as_deref().unwrap_or("（なし）"),
    }
    .render()?;
    let short_when = {
        let start = calendar.local(row.start_at);
        format!(
            "{}/{}({}) {}",
            start.month(),
            start.day(),
            weekday_kanji(start.weekday()),
            start.format("%H:%M")
        )
    };
    Ok(Rendered {
        subject: format!("[{event}] {short_when} {type_label} {}", row.reference),
        body,
    })
}

fn category_label(row: &InquiryRow) -> &'static str {
    InquiryCategory::parse(&row.category)
        .unwrap_or(InquiryCategory::Other)
        .label()
}

/// The acknowledgement an inquiry's sender gets.
///
/// Rule: it repeats nothing the sender typed (neither the message nor the
/// name). Nobody has shown that the address belongs to the sender, so the
/// form must not become a way to mail chosen text to a stranger, nor to
/// send a patient's health question to a mistyped address.
pub fn inquiry_received(
    settings: &Settings,
    calendar: &ClinicCalendar,
    row: &InquiryRow,
) -> Result<Rendered, askama::Error> {
    let clinic = ClinicInfo::of(settings, calendar);
    let body = InquiryReceived {
        clinic: &clinic,
        reference: &row.reference,
        category: category_label(row),
    }
    .render()?;
    Ok(Rendered {
        subject: format!(
            "【{}】お問い合わせを受け付けました（受付番号 {}）",
            settings.clinic.name, row.reference
        ),
        body,
    })
}

/// The clinic inbox's copy of an inquiry.
pub fn clinic_inquiry(
    calendar: &ClinicCalendar,
    row: &InquiryRow,
) -> Result<Rendered, askama::Error> {
    let received = japanese_time(calendar, row.created_at);
    let body = ClinicInquiry {
        reference: &row.reference,
        received: &received,
        category: category_label(row),
        name: &row.name,
        email: &row.email,
        phone: row.phone.as_deref().unwrap_or("（未入力）"),
        source: row.source.as_deref(),
        message: &row.message,
    }
    .render()?;
    Ok(Rendered {
        subject: format!("[お問い合わせ] {} {}", category_label(row), row.reference),
        body,
    })
}

/// The calendar file for the patient: the booking as it now stands, with a
/// stable UID and its SEQUENCE, `METHOD:CANCEL` once cancelled.
pub fn patient_calendar(
    settings: &Settings,
    calendar: &ClinicCalendar,
    row: &BookingRow,
    method: Method,
    stamp: DateTime<Utc>,
) -> String {
    let clinic = &settings.clinic;
    let summary = format!("{}（{}）", type_label(calendar, row), clinic.name);
    let description = format!(
        "予約番号: {}\n変更・キャンセル: {}（予約確認メールのリンクからも可能です）",
        row.reference, clinic.phone
    );
    let location = format!("{} {}", clinic.name, clinic.address);
    let event = ics::booking_event(calendar, row, &summary, &description, &location, stamp);
    ics::calendar_object(&clinic.name, method, vec![event])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::BookingStatus;
    use chrono::TimeZone;

    fn settings() -> Settings {
        Settings::defaults().unwrap()
    }

    fn calendar(settings: &Settings) -> ClinicCalendar {
        ClinicCalendar::from_settings(&settings.schedule, "Asia/Tokyo").unwrap()
    }

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    fn booking() -> BookingRow {
        BookingRow {
            reference: "K7QM-3XWD".into(),
            manage_token_hash: String::new(),
            status: BookingStatus::Confirmed,
            type_code: "consultation".into(),
            start_at: at("2026-12-01 01:00"),
            end_at: at("2026-12-01 01:30"),
            name: "山田 太郎".into(),
            name_kana: Some("ヤマダ タロウ".into()),
            email: "taro@example.jp".into(),
            phone: "090-1234-5678".into(),
            first_visit: Some(true),
            message: Some("右膝が痛みます。\n階段がつらいです。".into()),
            source: Some("knee-pain-and-cartilage-regeneration".into()),
            staff_note: None,
            consent_at: at("2026-11-25 00:00"),
            consent_version: "2026-11-01".into(),
            sequence: 0,
            created_at: at("2026-11-25 00:00"),
            updated_at: at("2026-11-25 00:00"),
            cancelled_at: None,
            practitioner: None,
            mailbox_hash: None,
        }
    }

    fn inquiry() -> InquiryRow {
        InquiryRow {
            reference: "P4TR-8HJN".into(),
            status: "received".into(),
            category: "treatment".into(),
            name: "問合 花子".into(),
            email: "hanako@example.jp".into(),
            phone: None,
            message: "幹細胞治療の費用を教えてください。\nよろしくお願いします。".into(),
            source: None,
            staff_note: None,
            consent_at: at("2026-11-25 00:41"),
            consent_version: "2026-11-01".into(),
            created_at: at("2026-11-25 00:41"),
            updated_at: at("2026-11-25 00:41"),
        }
    }

    fn snapshot(rendered: &Rendered) -> String {
        format!("Subject: {}\n\n{}", rendered.subject, rendered.body)
    }

    #[test]
    fn dates_read_the_japanese_way_in_clinic_time() {
        let settings = settings();
        let calendar = calendar(&settings);
        let row = booking();
        assert_eq!(
            japanese_time_range(&calendar, row.start_at, row.end_at),
            "2026年12月1日(火) 10:00〜10:30"
        );
    }

    #[test]
    fn booking_confirmation() {
        let settings = settings();
        let calendar = calendar(&settings);
        let rendered = patient_booking(
            &settings,
            &calendar,
            &booking(),
            BookingChange::Booked,
            Some("http://127.0.0.1:8080/manage/K7QM-3XWD?token=secret"),
            false,
        )
        .unwrap();
        insta::assert_snapshot!(snapshot(&rendered));
    }

    #[test]
    fn booking_confirmation_asking_for_the_questionnaire() {
        let settings = settings();
        let calendar = calendar(&settings);
        let rendered = patient_booking(
            &settings,
            &calendar,
            &booking(),
            BookingChange::Booked,
            Some("http://127.0.0.1:8080/manage/K7QM-3XWD?token=secret"),
            true,
        )
        .unwrap();
        insta::assert_snapshot!(snapshot(&rendered));
    }

    /// The settings with one practitioner, 中村 医師 (Dr. Nakamura).
    fn settings_with_dr_nakamura() -> Settings {
        let mut settings = settings();
        settings.resources = vec![crate::configuration::ResourceSettings {
            code: "dr-nakamura".into(),
            kind: "practitioner".into(),
            label: "中村 医師".into(),
            label_en: Some("Dr. Nakamura".into()),
            monday: None,
            tuesday: Some(vec!["10:00-18:30".into()]),
            wednesday: None,
            thursday: None,
            friday: None,
            saturday: None,
            sunday: None,
            days_off: Vec::new(),
        }];
        settings
    }

    #[test]
    fn booking_confirmation_names_the_practitioner() {
        let settings = settings_with_dr_nakamura();
        let calendar = calendar(&settings);
        let mut row = booking();
        row.practitioner = Some("dr-nakamura".into());
        let rendered = patient_booking(
            &settings,
            &calendar,
            &row,
            BookingChange::Booked,
            Some("http://127.0.0.1:8080/manage/K7QM-3XWD?token=secret"),
            false,
        )
        .unwrap();
        insta::assert_snapshot!(snapshot(&rendered));
        let reminder = booking_reminder(&settings, &calendar, &row).unwrap();
        assert!(reminder.body.contains("担当：中村 医師（Dr. Nakamura）"));
    }

    #[test]
    fn booking_rescheduled() {
        let settings = settings();
        let calendar = calendar(&settings);
        let previous = Some((at("2026-11-30 05:00"), at("2026-11-30 05:30")));
        let rendered = patient_booking(
            &settings,
            &calendar,
            &booking(),
            BookingChange::Rescheduled(previous),
            None,
            false,
        )
        .unwrap();
        insta::assert_snapshot!(snapshot(&rendered));
    }

    #[test]
    fn booking_cancelled() {
        let settings = settings();
        let calendar = calendar(&settings);
        let rendered = patient_booking(
            &settings,
            &calendar,
            &booking(),
            BookingChange::Cancelled,
            None,
            false,
        )
        .unwrap();
        insta::assert_snapshot!(snapshot(&rendered));
    }

    #[test]
    fn booking_reminder_message() {
        let settings = settings();
        let calendar = calendar(&settings);
        let rendered = booking_reminder(&settings, &calendar, &booking()).unwrap();
        insta::assert_snapshot!(snapshot(&rendered));
    }

    #[test]
    fn clinic_notification_of_a_booking() {
        let settings = settings();
        let calendar = calendar(&settings);
        let rendered =
            clinic_booking(&settings, &calendar, &booking(), BookingChange::Booked).unwrap();
        insta::assert_snapshot!(snapshot(&rendered));
    }

    #[test]
    fn clinic_notification_names_the_practitioner() {
        let settings = settings_with_dr_nakamura();
        let calendar = calendar(&settings);
        let mut row = booking();
        row.practitioner = Some("dr-nakamura".into());
        let rendered = clinic_booking(&settings, &calendar, &row, BookingChange::Booked).unwrap();
        assert!(
            rendered.body.contains(
                "診療メニュー：無料カウンセリング・診察\n担当：中村 医師（Dr. Nakamura）\n日時："
            ),
            "{}",
            rendered.body
        );
        let unnamed =
            clinic_booking(&settings, &calendar, &booking(), BookingChange::Booked).unwrap();
        assert!(!unnamed.body.contains("担当："), "{}", unnamed.body);
    }

    #[test]
    fn clinic_notification_of_a_reschedule() {
        let settings = settings();
        let calendar = calendar(&settings);
        let previous = Some((at("2026-11-30 05:00"), at("2026-11-30 05:30")));
        let rendered = clinic_booking(
            &settings,
            &calendar,
            &booking(),
            BookingChange::Rescheduled(previous),
        )
        .unwrap();
        insta::assert_snapshot!(snapshot(&rendered));
    }

    #[test]
    fn clinic_notification_of_a_cancellation() {
        let settings = settings();
        let calendar = calendar(&settings);
        let mut row = booking();
        row.status = BookingStatus::Cancelled;
        let rendered =
            clinic_booking(&settings, &calendar, &row, BookingChange::Cancelled).unwrap();
        insta::assert_snapshot!(snapshot(&rendered));
    }

    #[test]
    fn inquiry_acknowledgement() {
        let settings = settings();
        let calendar = calendar(&settings);
        let rendered = inquiry_received(&settings, &calendar, &inquiry()).unwrap();
        insta::assert_snapshot!(snapshot(&rendered));
    }

    #[test]
    fn the_inquiry_acknowledgement_repeats_nothing_the_sender_typed() {
        let settings = settings();
        let calendar = calendar(&settings);
        let row = inquiry();
        let rendered = inquiry_received(&settings, &calendar, &row).unwrap();
        let text = snapshot(&rendered);
        for line in row.message.lines() {
            assert!(!text.contains(line), "{line:?} in {text}");
        }
        assert!(!text.contains(&row.name), "{text}");
        assert!(text.contains(&row.reference));
        assert!(text.contains("治療について"));
    }

    #[test]
    fn clinic_notification_of_an_inquiry() {
        let settings = settings();
        let calendar = calendar(&settings);
        let rendered = clinic_inquiry(&calendar, &inquiry()).unwrap();
        insta::assert_snapshot!(snapshot(&rendered));
    }

    #[test]
    fn the_calendar_file_parses_with_the_booked_time() {
        let settings = settings();
        let calendar = calendar(&settings);
        let stamp = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap();
        let text = patient_calendar(&settings, &calendar, &booking(), Method::Publish, stamp);
        assert!(text.contains("DTSTART;TZID=Asia/Tokyo:20261201T100000"));
        let parsed: icalendar::Calendar = text.parse().unwrap();
        assert_eq!(parsed.events().count(), 1);
    }
}
