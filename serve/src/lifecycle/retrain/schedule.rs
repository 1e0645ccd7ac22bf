//! When the server retrains by itself: a five-field cron expression (`minute hour day-of-month
//! month day-of-week`, in UTC) with `*`, numbers, ranges `a-b`, lists `a,b` and steps `*/n` or
//! `a-b/n`. As in cron, when both day fields are restricted a day matching either counts.

use chrono::{DateTime, Datelike, TimeDelta, Timelike, Utc};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    any_day: bool,
    any_weekday: bool,
    text: String,
}

fn field(text: &str, name: &str, lo: u32, hi: u32) -> Result<u64, String> {
    let mut mask = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("{name}: step `{s}` is not a positive number"))?,
            ),
            None => (part, 1),
        };
        let number = |s: &str| {
            s.parse::<u32>()
                .ok()
                .filter(|v| (lo..=hi).contains(v))
                .ok_or_else(|| format!("{name}: `{s}` is not a number from {lo} to {hi}"))
        };
        let (from, to) = match range {
            "*" => (lo, hi),
            r => match r.split_once('-') {
                Some((a, b)) => (number(a)?, number(b)?),
                None if step > 1 => (number(r)?, hi),
                None => (number(r)?, number(r)?),
            },
        };
        if from > to {
            return Err(format!("{name}: range `{range}` runs backwards"));
        }
        for v in (from..=to).step_by(step as usize) {
            mask |= 1 << v;
        }
    }
    Ok(mask)
}

impl std::str::FromStr for Schedule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = parts[..] else {
            return Err(format!(
                "`{text}` has {} fields; a schedule has five: minute hour day-of-month month \
                 day-of-week (e.g. `0 3 * * *`: every day at 03:00 UTC)",
                parts.len()
            ));
        };
        let mut weekdays = field(weekday, "day-of-week", 0, 7)?;
        if weekdays & (1 << 7) != 0 {
            weekdays |= 1; // 7 is Sunday too
        }
        Ok(Self {
            minutes: field(minute, "minute", 0, 59)?,
            hours: field(hour, "hour", 0, 23)?,
            days: field(day, "day-of-month", 1, 31)?,
            months: field(month, "month", 1, 12)?,
            weekdays,
            any_day: day == "*",
            any_weekday: weekday == "*",
            text: text.to_owned(),
        })
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl Schedule {
    fn day_matches(&self, t: DateTime<Utc>) -> bool {
        let day = self.days & (1 << t.day()) != 0;
        let weekday = self.weekdays & (1 << t.weekday().num_days_from_sunday()) != 0;
        let month = self.months & (1 << t.month()) != 0;
        month
            && match (self.any_day, self.any_weekday) {
                (true, true) => true,
                (false, true) => day,
                (true, false) => weekday,
                (false, false) => day || weekday,
            }
    }

    /// The first matching minute strictly after `after`; `None` if none comes within five
    /// years (`0 0 31 2 *`).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut t = after.with_second(0)?.with_nanosecond(0)? + TimeDelta::minutes(1);
        let end = after + TimeDelta::days(5 * 366);
        while t < end {
            if !self.day_matches(t) {
                t = (t + TimeDelta::days(1)).with_hour(0)?.with_minute(0)?;
                continue;
            }
            if self.hours & (1 << t.hour()) == 0 {
                t = (t + TimeDelta::hours(1)).with_minute(0)?;
                continue;
            }
            if self.minutes & (1 << t.minute()) == 0 {
                t += TimeDelta::minutes(1);
                continue;
            }
            return Some(t);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn schedules_name_the_next_minute_they_match() {
        let daily: Schedule = "0 3 * * *".parse().unwrap();
        assert_eq!(
            daily.next_after(at("2026-12-06T07:18:30Z")),
            Some(at("2026-12-07T03:00:00Z"))
        );
        assert_eq!(
            daily.next_after(at("2026-12-06T02:59:59Z")),
            Some(at("2026-12-06T03:00:00Z"))
        );
        let every_five: Schedule = "*/5 * * * *".parse().unwrap();
        assert_eq!(
            every_five.next_after(at("2026-12-06T07:18:00Z")),
            Some(at("2026-12-06T07:20:00Z"))
        );
        // Mondays (1) at 06:30; 2026-12-06 is a Sunday.
        let monday: Schedule = "30 6 * * 1".parse().unwrap();
        assert_eq!(
            monday.next_after(at("2026-12-06T07:00:00Z")),
            Some(at("2026-12-07T06:30:00Z"))
        );
        // Both day fields restricted: the 1st of the month or a Sunday (7 = 0).
        let either: Schedule = "0 0 1 * 7".parse().unwrap();
        assert_eq!(
            either.next_after(at("2026-12-06T01:00:00Z")),
            Some(at("2026-12-13T00:00:00Z"))
        );
        let quarterly: Schedule = "15 2 1 1-12/3 *".parse().unwrap();
        assert_eq!(
            quarterly.next_after(at("2026-12-06T00:00:00Z")),
            Some(at("2027-01-01T02:15:00Z"))
        );
        let never: Schedule = "0 0 31 2 *".parse().unwrap();
        assert_eq!(never.next_after(at("2026-12-06T00:00:00Z")), None);
    }

    #[test]
    fn a_bad_schedule_says_which_field_is_wrong() {
        let err = "0 25 * * *".parse::<Schedule>().unwrap_err();
        assert!(err.contains("hour") && err.contains("25"), "{err}");
        let err = "0 3 * *".parse::<Schedule>().unwrap_err();
        assert!(err.contains("five"), "{err}");
        let err = "*/0 * * * *".parse::<Schedule>().unwrap_err();
        assert!(err.contains("step"), "{err}");
        let err = "0 5-2 * * *".parse::<Schedule>().unwrap_err();
        assert!(err.contains("backwards"), "{err}");
    }
}
