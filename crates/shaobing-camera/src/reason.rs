//! Why a camera run ended, as the fixed codes of the reconnects metric's `reason` label.

/// A run's failure, classified. Receivers map their errors to one of these from the errors'
/// kinds (GStreamer error domains and codes, RTSP status codes), never from message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    Eos,
    Stalled,
    Unreachable,
    Unauthorized,
    NotFound,
    Unsupported,
    NoVideo,
    BadStream,
    StartFailed,
    BusClosed,
    Error,
}

impl Reason {
    #[cfg(test)]
    pub const ALL: [Reason; 11] = [
        Reason::Eos,
        Reason::Stalled,
        Reason::Unreachable,
        Reason::Unauthorized,
        Reason::NotFound,
        Reason::Unsupported,
        Reason::NoVideo,
        Reason::BadStream,
        Reason::StartFailed,
        Reason::BusClosed,
        Reason::Error,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Eos => "eos",
            Reason::Stalled => "stalled",
            Reason::Unreachable => "unreachable",
            Reason::Unauthorized => "unauthorized",
            Reason::NotFound => "not_found",
            Reason::Unsupported => "unsupported",
            Reason::NoVideo => "no_video",
            Reason::BadStream => "bad_stream",
            Reason::StartFailed => "start_failed",
            Reason::BusClosed => "bus_closed",
            Reason::Error => "error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A label the metrics do not know is counted as `other`: every reason must be one of theirs.
    #[test]
    fn every_reason_is_a_label_the_metrics_know() {
        for reason in Reason::ALL {
            assert!(shaobing_metrics::RECONNECT_REASONS.contains(&reason.as_str()), "{reason:?}");
        }
    }
}
