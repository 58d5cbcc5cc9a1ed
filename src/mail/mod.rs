//! Email: messages are rendered and written to the outbox in the same
//! transaction as the booking or inquiry that caused them (`outbox`), and a
//! background worker delivers them over SMTP or into `.eml` files
//! (`worker`, `transport`). A request never waits for a mail server.

pub mod handoff;
pub mod hourly_cap;
pub mod messages;
pub mod smtp;
pub mod transport;
pub mod waitlist;
pub mod worker;

/// Replaces anything that looks like an email address, so that error texts
/// from a mail server can be stored and logged (servers like to quote the
/// recipient: `550 5.1.1 <taro@example.jp>: user unknown`).
pub fn redact_addresses(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            if word.contains('@') {
                "[address]"
            } else {
                word
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .take(500)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_removed_from_server_errors() {
        assert_eq!(
            redact_addresses("permanent error (550): 5.1.1 <taro@example.jp>: user unknown"),
            "permanent error (550): 5.1.1 [address] user unknown"
        );
    }
}
