//! The `docker ps` STATUS column (`GET /containers/json` field `Status`) and Docker's human durations.
//!
//! The caller passes `now`: this module has no clock.

use jiff::{SignedDuration, Timestamp};

use super::state::{DockerState, Status};

/// Docker's status text (moby daemon/container State.String):
/// `Up 2 seconds`, `Restarting (1) 2 seconds ago`, `Removal In Progress`, `Dead`, `Created`, `Exited (3) 2
/// seconds ago`, and `""` for a container that started and has no finish time. `Paused` adds ` (Paused)`.
pub fn status_text(state: &DockerState, now: Timestamp) -> String {
    let since = |t: Option<Timestamp>| human_duration(t.map_or(SignedDuration::ZERO, |t| now.duration_since(t)));
    match state.status {
        Status::Paused => format!("Up {} (Paused)", since(state.started_at)),
        Status::Restarting => format!("Restarting ({}) {} ago", state.exit_code, since(state.finished_at)),
        Status::Running => format!("Up {}", since(state.started_at)),
        Status::Removing => "Removal In Progress".to_string(),
        Status::Dead => "Dead".to_string(),
        Status::Created | Status::Exited if state.started_at.is_none() => "Created".to_string(),
        Status::Created | Status::Exited if state.finished_at.is_none() => String::new(),
        Status::Created | Status::Exited => {
            format!("Exited ({}) {} ago", state.exit_code, since(state.finished_at))
        }
    }
}

/// go-units HumanDuration, which `docker ps` uses. Thresholds, with whole seconds and minutes truncated and hours
/// rounded to the nearest hour:
/// under 1 s "Less than a second" (also for negative durations, i.e. clock skew); 1 s "1 second"; under 60 s
/// "N seconds"; 1 min "About a minute"; under 60 min "N minutes"; 1 h "About an hour"; under 48 h "N hours";
/// under 14 days "N days"; under 60 days "N weeks" (days / 7); under 730 days "N months" (days / 30); then
/// "N years" (truncated hours / 24 / 365).
pub fn human_duration(d: SignedDuration) -> String {
    let seconds = d.as_secs();
    if seconds < 1 {
        return "Less than a second".to_string();
    }
    if seconds == 1 {
        return "1 second".to_string();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = seconds / 60;
    if minutes == 1 {
        return "About a minute".to_string();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    // Go's Duration.Round(time.Hour): halves round away from zero.
    let hours = (d.as_nanos() + 1_800_000_000_000) / 3_600_000_000_000;
    let hours = i64::try_from(hours).unwrap_or(i64::MAX);
    if hours == 1 {
        "About an hour".to_string()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", seconds / 3600 / 24 / 365)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: i64) -> String {
        human_duration(SignedDuration::from_secs(s))
    }

    #[test]
    fn human_durations_follow_go_units() {
        assert_eq!(human_duration(SignedDuration::from_millis(999)), "Less than a second");
        assert_eq!(secs(-5), "Less than a second");
        assert_eq!(secs(1), "1 second");
        assert_eq!(secs(59), "59 seconds");
        assert_eq!(secs(60), "About a minute");
        assert_eq!(secs(119), "About a minute");
        assert_eq!(secs(120), "2 minutes");
        assert_eq!(secs(3599), "59 minutes");
        assert_eq!(secs(3600), "About an hour");
        assert_eq!(secs(5399), "About an hour");
        assert_eq!(secs(5400), "2 hours");
        assert_eq!(secs(47 * 3600), "47 hours");
        assert_eq!(secs(48 * 3600), "2 days");
        assert_eq!(secs(13 * 86400), "13 days");
        assert_eq!(secs(14 * 86400), "2 weeks");
        assert_eq!(secs(59 * 86400), "8 weeks");
        assert_eq!(secs(60 * 86400), "2 months");
        assert_eq!(secs(729 * 86400), "24 months");
        assert_eq!(secs(730 * 86400), "2 years");
    }

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    #[test]
    fn ps_status_texts() {
        let now = at(100);
        let created = DockerState::created();
        assert_eq!(status_text(&created, now), "Created");

        let running = DockerState { status: Status::Running, started_at: Some(at(98)), ..DockerState::created() };
        assert_eq!(status_text(&running, now), "Up 2 seconds");

        let exited = DockerState {
            status: Status::Exited,
            exit_code: 3,
            started_at: Some(at(0)),
            finished_at: Some(at(98)),
            ..DockerState::created()
        };
        assert_eq!(status_text(&exited, now), "Exited (3) 2 seconds ago");

        let restarting = DockerState { status: Status::Restarting, exit_code: 1, ..exited.clone() };
        assert_eq!(status_text(&restarting, now), "Restarting (1) 2 seconds ago");

        let removing = DockerState { status: Status::Removing, ..exited.clone() };
        assert_eq!(status_text(&removing, now), "Removal In Progress");
        let dead = DockerState { status: Status::Dead, ..exited };
        assert_eq!(status_text(&dead, now), "Dead");
    }
}
