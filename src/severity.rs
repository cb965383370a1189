//! Event severity: the five named levels agents use and the 0-10 numeric scale, one ordered type.

use std::fmt;
use std::str::FromStr;

/// A named severity band, ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Level {
    pub const ALL: [Level; 5] = [Level::Info, Level::Low, Level::Medium, Level::High, Level::Critical];

    pub fn name(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }

    /// The score a named level stands for on the 0-10 scale.
    pub fn score(self) -> u8 {
        match self {
            Level::Info => 0,
            Level::Low => 3,
            Level::Medium => 5,
            Level::High => 8,
            Level::Critical => 10,
        }
    }

    /// The lowest score in this band: `min_severity = "medium"` takes scores 4 and up.
    pub fn min_score(self) -> u8 {
        match self {
            Level::Info => 0,
            Level::Low => 1,
            Level::Medium => 4,
            Level::High => 7,
            Level::Critical => 9,
        }
    }

    /// The band a 0-10 score falls in: 0 info, 1-3 low, 4-6 medium, 7-8 high, 9-10 critical.
    pub fn from_score(score: u8) -> Level {
        match score {
            0 => Level::Info,
            1..=3 => Level::Low,
            4..=6 => Level::Medium,
            7..=8 => Level::High,
            _ => Level::Critical,
        }
    }

    /// RFC 5424 section 6.2.1 severity: critical -> 2 (Critical), high -> 3 (Error),
    /// medium -> 4 (Warning), low -> 5 (Notice), info -> 6 (Informational).
    pub fn syslog_severity(self) -> u8 {
        match self {
            Level::Critical => 2,
            Level::High => 3,
            Level::Medium => 4,
            Level::Low => 5,
            Level::Info => 6,
        }
    }
}

/// An event's severity as the agent wrote it: a named level or a 0-10 score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Severity {
    score: u8,
    /// Whether the agent used a name; output then shows the name rather than the score.
    named: bool,
}

/// Why a severity value was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("severity must be one of critical, high, medium, low, info or an integer 0-10, found {0}")]
pub struct SeverityError(pub String);

impl Severity {
    pub const INFO: Severity = Severity { score: 0, named: true };

    pub fn from_level(level: Level) -> Self {
        Severity { score: level.score(), named: true }
    }

    pub fn from_score(score: u8) -> Result<Self, SeverityError> {
        if score > 10 {
            return Err(SeverityError(score.to_string()));
        }
        Ok(Severity { score, named: false })
    }

    pub fn level(self) -> Level {
        Level::from_score(self.score)
    }

    pub fn score(self) -> u8 {
        self.score
    }
}

impl FromStr for Level {
    type Err = SeverityError;

    /// Names are matched case-insensitively; `informational` and `warning`-style synonyms are not
    /// accepted so that one spelling means one thing everywhere.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Level::ALL
            .into_iter()
            .find(|level| level.name().eq_ignore_ascii_case(text))
            .ok_or_else(|| SeverityError(format!("{text:?}")))
    }
}

impl FromStr for Severity {
    type Err = SeverityError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.parse::<u8>() {
            Ok(score) => Severity::from_score(score),
            Err(_) => text.parse::<Level>().map(Severity::from_level),
        }
    }
}

impl Severity {
    /// The text [`Display`](fmt::Display) writes, without the formatting machinery (encoders
    /// write it for every event): the name, or the score formatted in `digits`.
    pub fn text<'a>(&self, digits: &'a mut itoa::Buffer) -> &'a str {
        if self.named {
            self.level().name()
        } else {
            digits.format(self.score)
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.named {
            f.write_str(self.level().name())
        } else {
            write!(f, "{}", self.score)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_scores_agree_on_bands() {
        for level in Level::ALL {
            assert_eq!(Level::from_score(level.score()), level);
            assert_eq!(level.name().parse::<Level>(), Ok(level));
        }
        let bands: Vec<Level> = (0..=10).map(Level::from_score).collect();
        use Level::*;
        assert_eq!(bands, [Info, Low, Low, Low, Medium, Medium, Medium, High, High, Critical, Critical]);
    }

    #[test]
    fn parses_names_case_insensitively_and_scores_in_range() {
        assert_eq!("HIGH".parse::<Severity>().map(Severity::level), Ok(Level::High));
        assert_eq!("7".parse::<Severity>().map(|s| s.to_string()), Ok("7".to_owned()));
        assert!("11".parse::<Severity>().is_err());
        assert!("urgent".parse::<Severity>().is_err());
        assert!("-1".parse::<Severity>().is_err());
    }
}
