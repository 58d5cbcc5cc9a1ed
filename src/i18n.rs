//! The words people read: Japanese by default, English when the client's
//! `Accept-Language` prefers it. Codes stay the same in both.

use actix_web::http::header::{
    from_comma_delimited, AcceptLanguage, HeaderMap, Preference, Quality, QualityItem,
    ACCEPT_LANGUAGE,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Ja,
    En,
}

impl Lang {
    /// The language a client prefers among those we speak, by the q-values
    /// of `Accept-Language`; Japanese when it names neither. Of two equally
    /// weighted, the first listed wins; an entry that does not parse is
    /// left out.
    pub fn from_accept_language(headers: &HeaderMap) -> Lang {
        // What `Header::parse` does with a request, done on its header map.
        let Ok(AcceptLanguage(ranges)) =
            from_comma_delimited(headers.get_all(ACCEPT_LANGUAGE)).map(AcceptLanguage)
        else {
            return Lang::Ja;
        };
        let mut best: Option<(Quality, Lang)> = None;
        for QualityItem { item, quality } in ranges {
            let Preference::Specific(tag) = item else {
                continue;
            };
            let primary = tag.primary_language();
            let lang = if primary.eq_ignore_ascii_case("ja") {
                Lang::Ja
            } else if primary.eq_ignore_ascii_case("en") {
                Lang::En
            } else {
                continue;
            };
            if quality > Quality::ZERO && best.is_none_or(|(q, _)| quality > q) {
                best = Some((quality, lang));
            }
        }
        best.map(|(_, lang)| lang).unwrap_or(Lang::Ja)
    }

    pub fn pick<'a>(self, ja: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Ja => ja,
            Lang::En => en,
        }
    }
}

/// What a field is called on the forms.
pub fn field_label(field: &str, lang: Lang) -> String {
    let (ja, en) = match field {
        "name" => ("お名前", "Name"),
        "name_kana" => ("フリガナ", "Name (kana)"),
        "email" => ("メールアドレス", "Email address"),
        "phone" => ("電話番号", "Phone number"),
        "start" => ("ご希望の日時", "Start time"),
        "type" => ("診療メニュー", "Consultation type"),
        "first_visit" => ("初診・再診", "First visit"),
        "message" => ("ご相談内容", "Message"),
        "consent" => ("同意", "Consent"),
        "category" => ("お問い合わせ種別", "Category"),
        "source" => ("参照元", "Source"),
        "status" => ("状態", "Status"),
        "staff_note" => ("スタッフメモ", "Staff note"),
        "from" => ("開始日", "From"),
        "to" => ("終了日", "To"),
        "date" => ("日付", "Date"),
        "limit" => ("件数", "Limit"),
        "label" => ("名前", "Label"),
        "reason" => ("理由", "Reason"),
        "end" => ("終了日時", "End"),
        other => return other.to_string(),
    };
    lang.pick(ja, en).to_string()
}

/// The sentence shown for an error code on a field.
pub fn field_message(field: &str, code: &str, lang: Lang) -> String {
    if let Some(id) = field.strip_prefix("answers.") {
        return answer_message(id, code, lang);
    }
    let label = field_label(field, lang);
    let (ja, en): (String, String) = match code {
        "required" => (
            format!("{label}を入力してください。"),
            format!("{label} is required."),
        ),
        "too_long" => (
            format!("{label}が長すぎます。"),
            format!("{label} is too long."),
        ),
        "invalid_email" => (
            "メールアドレスの形式が正しくありません。".into(),
            "Enter a valid email address.".into(),
        ),
        "invalid_phone" => (
            "電話番号の形式が正しくありません（例: 03-3289-0202、090-1234-5678）。".into(),
            "Enter a Japanese phone number, e.g. 03-3289-0202.".into(),
        ),
        "invalid_kana" => (
            "フリガナはカタカナまたはひらがなで入力してください。".into(),
            "Enter the reading of the name in katakana or hiragana.".into(),
        ),
        "consent_required" => (
            "個人情報・健康情報の取り扱いに同意してください。".into(),
            "Please consent to the handling of your personal and health information.".into(),
        ),
        "unknown_type" => (
            "選択された診療メニューはありません。".into(),
            "Unknown consultation type.".into(),
        ),
        "closed_day" => (
            "ご希望の日は休診日です。別の日をお選びください。".into(),
            "The clinic is closed on that day.".into(),
        ),
        "outside_hours" => (
            "診療時間外です。診療時間内に終わる時間をお選びください。".into(),
            "That time is outside opening hours.".into(),
        ),
        "not_slot_aligned" => (
            "予約枠の開始時刻（30分単位）をお選びください。".into(),
            "Choose a start time on the slot grid.".into(),
        ),
        "too_soon" => (
            "ご希望の日時は受付を締め切りました。もう少し先の日時をお選びください。".into(),
            "That time is in the past or too soon to book.".into(),
        ),
        "too_far_ahead" => (
            "ご希望の日時はまだ予約を受け付けていません。".into(),
            "That time is too far ahead to book.".into(),
        ),
        "invalid_practitioner" => (
            "選択された担当者はこの診療メニューを担当していません。".into(),
            "That practitioner does not take this consultation type.".into(),
        ),
        "practitioner_unavailable" => (
            "その担当者はこの時間（準備・片付けの時間を含む）に空いていません。".into(),
            "That practitioner is not free for the whole visit and its buffer.".into(),
        ),
        "invalid_resource" => (
            "その担当者・部屋は登録されていません。一覧からお選びください。".into(),
            "No practitioner or room has that code.".into(),
        ),
        "slot_unavailable" => (
            "ご希望の枠はすでに埋まっています。別の時間をお選びください。".into(),
            "That slot is already taken. Please choose another time.".into(),
        ),
        "too_many_active_bookings" => (
            "このメールアドレスでお取りいただけるご予約の数の上限に達しています。ご予約の変更は確認メールのリンクから、またはお電話でご連絡ください。".into(),
            "This email address already holds as many upcoming bookings as allowed. Change one through its confirmation email, or call the clinic.".into(),
        ),
        "cross_site_request" => (
            "別のサイトのページから送られたため、受け付けられませんでした。当院のページからお送りください。".into(),
            "Sent from another site's page, so it was refused. Please use the clinic's own pages.".into(),
        ),
        "invalid_characters" => (
            format!("{label}に使用できない文字（文字の向きを変える制御文字や、見えない文字）が含まれています。"),
            format!("{label} contains characters that are not allowed (text-direction controls or invisible characters)."),
        ),
        "idempotency_key_reused" => (
            "この Idempotency-Key は別の内容のリクエストで使われています。".into(),
            "This Idempotency-Key was already used for a different request.".into(),
        ),
        "questionnaire_closed" => (
            "ご来院の時刻を過ぎた（またはキャンセルされた）ご予約の問診票は変更できません。お電話でお伝えください。".into(),
            "The questionnaire can no longer be changed: the visit has started or the booking is no longer confirmed. Please call the clinic.".into(),
        ),
        "invalid_status" => (
            "現在の予約状態ではこの操作はできません。".into(),
            "This is not possible in the current status.".into(),
        ),
        "too_late" => (
            "開始時刻を過ぎた予約は変更・キャンセルできません。お電話でご連絡ください。".into(),
            "A booking that has started can no longer be changed online.".into(),
        ),
        "change_deadline_passed" => (
            "変更・キャンセルの受付期限を過ぎています。お電話でご連絡ください。".into(),
            "The deadline for changes has passed. Please call the clinic.".into(),
        ),
        "range_too_long" => (
            "期間は62日以内で指定してください。".into(),
            "The range may span at most 62 days.".into(),
        ),
        "invalid_range" => (
            "終了日は開始日以降の日付にしてください。".into(),
            "The end date must not be before the start date.".into(),
        ),
        "out_of_range" => (
            format!("{label}は今日から10年以内の日付にしてください。"),
            format!("{label} must be within ten years of today."),
        ),
        "offer_expired" => (
            "お取り置きの期限が過ぎたため、このお席はご予約いただけません。".into(),
            "The hold on this place has ended; it can no longer be booked.".into(),
        ),
        "not_failed" => (
            "再送できるのは、送信に失敗したメールだけです。".into(),
            "Only a message that failed can be sent again.".into(),
        ),
        "unknown_field" => (
            format!("{label} は変更できない項目です。"),
            format!("{label} cannot be changed here."),
        ),
        _ => (
            format!("{label}の内容が正しくありません。"),
            format!("{label} is not valid."),
        ),
    };
    match lang {
        Lang::Ja => ja,
        Lang::En => en,
    }
}

/// The sentence shown for an error code on the answer to question `id` of
/// an intake questionnaire, naming the question.
fn answer_message(id: &str, code: &str, lang: Lang) -> String {
    let question = crate::domain::questionnaire::question_anywhere(id);
    let label = question.map_or_else(
        || id.to_string(),
        |question| lang.pick(&question.label, &question.label_en).to_string(),
    );
    let limit = |question: Option<&crate::domain::questionnaire::Question>| {
        question
            .map(|question| {
                let number = |value: Option<f64>| value.map_or_else(String::new, |v| v.to_string());
                (number(question.min), number(question.max))
            })
            .unwrap_or_default()
    };
    let (ja, en) = match code {
        "required" => (
            format!("「{label}」にお答えください。"),
            format!("Please answer \"{label}\"."),
        ),
        "invalid_choice" => (
            format!("「{label}」は選択肢から選んでください。"),
            format!("Choose among the options for \"{label}\"."),
        ),
        "too_long" => {
            let most = question
                .and_then(|question| question.max_length)
                .unwrap_or_default();
            (
                format!("「{label}」は{most}文字以内でお書きください。"),
                format!("\"{label}\" takes at most {most} characters."),
            )
        }
        "out_of_range" => {
            let (min, max) = limit(question);
            (
                format!("「{label}」は{min}〜{max}の数でお答えください。"),
                format!("\"{label}\" takes a number from {min} to {max}."),
            )
        }
        "unknown_field" => (
            format!("「{label}」という質問はありません。"),
            format!("There is no question \"{label}\"."),
        ),
        "invalid_characters" => (
            format!("「{label}」に使えない文字（制御文字・見えない文字）が含まれています。"),
            format!("\"{label}\" contains invisible or control characters."),
        ),
        _ => (
            format!("「{label}」の回答の形式が正しくありません。"),
            format!("The answer to \"{label}\" is not valid."),
        ),
    };
    match lang {
        Lang::Ja => ja,
        Lang::En => en,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn lang(value: &str) -> Lang {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_LANGUAGE, HeaderValue::from_str(value).unwrap());
        Lang::from_accept_language(&headers)
    }

    #[test]
    fn english_is_chosen_only_when_preferred() {
        assert_eq!(lang("en"), Lang::En);
        assert_eq!(lang("en-US,en;q=0.9"), Lang::En);
        assert_eq!(lang("ja,en;q=0.8"), Lang::Ja);
        assert_eq!(lang("en;q=0.5,ja;q=0.9"), Lang::Ja);
        assert_eq!(lang("fr"), Lang::Ja);
        assert_eq!(Lang::from_accept_language(&HeaderMap::new()), Lang::Ja);
    }
}
