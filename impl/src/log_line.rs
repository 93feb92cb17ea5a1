//! The text log's fields and timestamps, written straight into the line: the same
//! bytes as `tracing-subscriber`'s own formatters without colours, at a fraction of
//! their cost (every request writes a line).
//!
//! `tracing-subscriber`'s field formatter wraps each field's name and `=` in colour
//! styles even when colours are off, and its clock formats the time through six
//! `format!` arguments; together that was about a tenth of the instructions of a
//! GET (docs/perf-log.md). The level, the spans and the line around the fields stay
//! `tracing-subscriber`'s.

use std::fmt::{self, Write};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::FormatFields;

/// Formats an event's or a span's fields as `message key=value …`, as
/// `tracing-subscriber`'s `DefaultFields` does with colours off.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainFields;

impl<'writer> FormatFields<'writer> for PlainFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = PlainVisitor {
            writer,
            is_empty: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

/// Writes each field it visits, a space between them.
struct PlainVisitor<'writer> {
    writer: Writer<'writer>,
    is_empty: bool,
    result: fmt::Result,
}

impl PlainVisitor<'_> {
    /// A space before every field but the first.
    fn pad(&mut self) -> fmt::Result {
        if self.is_empty {
            self.is_empty = false;
            Ok(())
        } else {
            self.writer.write_char(' ')
        }
    }

    /// `name=value` (`value` in its debug form), or the message alone, with the
    /// terminal control characters in it escaped.
    fn write_field(&mut self, field: &Field, value: &dyn fmt::Debug) -> fmt::Result {
        let name = field.name();
        // Metadata of events that came from the `log` crate, already in the line.
        if name.starts_with("log.") {
            return Ok(());
        }
        self.pad()?;
        if name == "message" {
            if self.writer.sanitizes_ansi_escapes() {
                write!(EscapingWriter(&mut self.writer), "{value:?}")
            } else {
                write!(self.writer, "{value:?}")
            }
        } else {
            self.writer.write_str(name.strip_prefix("r#").unwrap_or(name))?;
            self.writer.write_char('=')?;
            write!(self.writer, "{value:?}")
        }
    }
}

impl Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.result.is_ok() {
            self.result = if field.name() == "message" {
                self.write_field(field, &format_args!("{value}"))
            } else {
                self.write_field(field, &value)
            };
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.result.is_err() {
            return;
        }
        let sanitize = self.writer.sanitizes_ansi_escapes();
        let error = Escaped(value, sanitize);
        self.result = match value.source() {
            Some(source) => {
                let sources = ErrorSources(source, sanitize);
                let name = field.name();
                self.write_field(field, &format_args!("{error} {name}.sources={sources}"))
            }
            None => self.write_field(field, &format_args!("{error}")),
        };
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_ok() {
            self.result = self.write_field(field, value);
        }
    }
}

/// A value's display form, its terminal control characters escaped when `.1` says so.
struct Escaped<'a>(&'a dyn fmt::Display, bool);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.1 {
            write!(EscapingWriter(f), "{}", self.0)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// An error's sources as a list: `[first, second]`.
struct ErrorSources<'a>(&'a (dyn std::error::Error + 'static), bool);

impl fmt::Display for ErrorSources<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        let mut next = Some(self.0);
        while let Some(error) = next {
            list.entry(&Escaped(error, self.1));
            next = error.source();
        }
        list.finish()
    }
}

/// Passes text on with the characters a terminal could take for a control sequence
/// escaped (ESC, BEL, BS, FF, DEL and the C1 controls), as `tracing-subscriber` does.
struct EscapingWriter<W>(W);

impl<W: Write> Write for EscapingWriter<W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut plain_from = 0;
        for (at, character) in text.char_indices() {
            let escaped = match character {
                '\x1b' => "\\x1b",
                '\x07' => "\\x07",
                '\x08' => "\\x08",
                '\x0c' => "\\x0c",
                '\x7f' => "\\x7f",
                '\u{80}'..='\u{9f}' => "",
                _ => continue,
            };
            self.0.write_str(&text[plain_from..at])?;
            if escaped.is_empty() {
                write!(self.0, "\\u{{{:x}}}", character as u32)?;
            } else {
                self.0.write_str(escaped)?;
            }
            plain_from = at + character.len_utf8();
        }
        self.0.write_str(&text[plain_from..])
    }
}

/// The time now in UTC with microseconds, `2026-12-03T14:31:33.079437Z`, as
/// `tracing-subscriber`'s `SystemTime` clock writes it, digit by digit.
#[derive(Debug, Clone, Copy, Default)]
pub struct UtcMicros;

impl FormatTime for UtcMicros {
    fn format_time(&self, writer: &mut Writer<'_>) -> fmt::Result {
        write_utc_micros(writer, chrono::Utc::now())
    }
}

/// Writes `time` as `YYYY-MM-DDTHH:MM:SS.ffffffZ`; a year outside 0..=9999 as
/// `tracing-subscriber` writes it (`+10000`, `-0001`).
fn write_utc_micros(writer: &mut impl Write, time: chrono::DateTime<chrono::Utc>) -> fmt::Result {
    use chrono::{Datelike, Timelike};
    let year = time.year();
    if !(0..=9999).contains(&year) {
        if year > 9999 {
            write!(writer, "+{year}")?;
        } else {
            write!(writer, "{year:05}")?;
        }
    }
    let mut text = *b"0000-00-00T00:00:00.000000Z";
    let mut put = |at: usize, width: usize, mut value: u32| {
        for index in (at..at + width).rev() {
            text[index] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year.unsigned_abs() % 10_000);
    put(5, 2, time.month());
    put(8, 2, time.day());
    put(11, 2, time.hour());
    put(14, 2, time.minute());
    // A leap second is carried in the nanoseconds, as the seconds' 60th.
    let nanos = time.nanosecond();
    put(17, 2, time.second() + nanos / 1_000_000_000);
    put(20, 6, nanos % 1_000_000_000 / 1_000);
    let text = std::str::from_utf8(&text).map_err(|_| fmt::Error)?;
    let skip_year = if (0..=9999).contains(&year) { 0 } else { 4 };
    writer.write_str(&text[skip_year..])
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    /// Collects what a subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;

        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    /// One fixed instant, so two clocks can be compared.
    struct Fixed;

    impl FormatTime for Fixed {
        fn format_time(&self, writer: &mut Writer<'_>) -> fmt::Result {
            writer.write_str("T")
        }
    }

    #[derive(Debug)]
    struct Outer(Inner);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("outer \x1b[31mfailure")
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[derive(Debug)]
    struct Inner;

    impl fmt::Display for Inner {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("inner cause")
        }
    }

    impl std::error::Error for Inner {}

    /// Logs one of each kind of field, in and out of a span.
    fn log_everything() {
        let address = std::net::IpAddr::from([127, 0, 0, 1]);
        tracing::info!(
            request_id = %"0b3f4352-82bf-460f-949e-9db86a277b9c",
            client_request_id = %"",
            client = %address,
            method = %"PATCH",
            path = %"/organizations/o/service-accounts/s/credentials/c",
            status = 200_u16,
            latency_ms = 0.125_f64,
            whole = 2.0_f64,
            "request"
        );
        tracing::warn!(client_id = ?"quoted \"id\"\n\x1b", reason = "wrong_secret", flag = true, "client authentication failed");
        tracing::error!(
            negative = -5_i64,
            big = u64::MAX,
            r#type = "raw name",
            "with \x1b[2J control\u{85} characters"
        );
        let error = Outer(Inner);
        tracing::error!(
            error = &error as &(dyn std::error::Error + 'static),
            "an error with sources"
        );
        let single = Inner;
        tracing::error!(error = &single as &(dyn std::error::Error + 'static), "an error alone");
        tracing::info!(only = "fields, no message");
        tracing::info!("");
        let span = tracing::info_span!("outer span", tenant = "acme", attempt = 3_u32);
        let _entered = span.enter();
        tracing::info!(inside = "a span", "spanned");
    }

    #[test]
    fn fields_are_written_exactly_as_tracing_subscriber_writes_them_without_colours() {
        let expected = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(expected.clone())
            .with_ansi(false)
            .with_target(false)
            .with_timer(Fixed)
            .finish();
        tracing::subscriber::with_default(subscriber, log_everything);

        let plain = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(plain.clone())
            .with_ansi(false)
            .with_target(false)
            .with_timer(Fixed)
            .fmt_fields(PlainFields)
            .finish();
        tracing::subscriber::with_default(subscriber, log_everything);

        let expected = expected.text();
        assert_eq!(expected.lines().count(), 8, "{expected}");
        assert!(expected.contains("\\x1b[2J"), "{expected}");
        assert_eq!(plain.text(), expected);
    }

    #[test]
    fn the_clock_writes_what_tracing_subscribers_clock_writes() {
        use chrono::TimeZone;
        let times = [
            chrono::Utc.with_ymd_and_hms(2026, 12, 3, 14, 31, 33).unwrap() + chrono::Duration::microseconds(79_437),
            chrono::Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap(),
            chrono::Utc.with_ymd_and_hms(2000, 2, 29, 23, 59, 59).unwrap() + chrono::Duration::nanoseconds(999_999_999),
            chrono::Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
        ];
        for time in times {
            let mut written = String::new();
            write_utc_micros(&mut written, time).unwrap();
            let expected = time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
            assert_eq!(written, expected);
        }
        // And the clock reads the same time as tracing-subscriber's.
        let mut now = String::new();
        UtcMicros.format_time(&mut Writer::new(&mut now)).unwrap();
        let mut reference = String::new();
        tracing_subscriber::fmt::time::SystemTime
            .format_time(&mut Writer::new(&mut reference))
            .unwrap();
        let [now, reference] = [now, reference].map(|text| chrono::DateTime::parse_from_rfc3339(&text).unwrap());
        assert!((reference - now).num_seconds().abs() <= 1, "{now} against {reference}");
    }
}
