//! What the app reacts to ([`Msg`]) and what it asks to be run ([`Command`]).

use super::*;

/// Everything the app reacts to.
#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    /// Mouse wheel: rows to move, negative is up.
    Scroll(i32),
    Resize(u16, u16),
    Tick(DateTime<Utc>),
    Status(Status),
    Event(Event),
    Listed {
        seq: u64,
        result: Result<LicenseWindow, String>,
    },
    AuditLoaded {
        license: LicenseId,
        result: Result<Vec<AuditEntry>, String>,
    },
    Fetched(Result<License, String>),
    Edited {
        edit: Edit,
        result: Result<Reply, Problem>,
    },
    BulkDone {
        summary: String,
        failures: Vec<String>,
    },
    /// The daemon started a device login (or could not).
    LoginStarted(Result<LoginPrompt, String>),
    /// The daemon went away.
    Disconnected(String),
    /// Whoever drives the app is done with it.
    Quit,
    /// The expiry alerts in effect, as lmd listed them.
    AlertsLoaded(Result<AlertList, String>),
    /// A window of members, as lmd listed them for request `seq`.
    MembersListed {
        seq: u64,
        result: Result<lm_protocol::socket::MemberWindow, String>,
    },
    /// A member with what they hold.
    MemberLoaded(Result<lm_protocol::socket::MemberDetail, String>),
    /// A report of the Insights, as lmd computed it for request `seq`.
    Reported {
        seq: u64,
        result: Result<lm_protocol::insights::Report, String>,
    },
}

/// A request the app wants sent to the daemon; the runtime answers with a [`Msg`].
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    List {
        seq: u64,
        request: ListRequest,
    },
    Audit(LicenseId),
    Fetch(LicenseId),
    Edit {
        edit: Edit,
        request: Request,
    },
    /// Several edits, one after another; answered by one `BulkDone`.
    Bulk {
        summary: String,
        requests: Vec<(String, Request)>,
    },
    /// Ask lmd to start a device login; answered by `LoginStarted`.
    Login,
    /// The expiry alerts in effect; answered by `AlertsLoaded`.
    Alerts,
    /// A window of members; answered by `MembersListed`.
    Members {
        seq: u64,
        request: lm_protocol::socket::MembersRequest,
    },
    /// A member with what they hold; answered by `MemberLoaded`.
    Member(String),
    /// Put the text on the clipboard (OSC 52, which terminals and tmux pass on); no answer.
    Copy(String),
    /// A report; answered by `Reported`.
    Report {
        seq: u64,
        request: lm_protocol::insights::ReportRequest,
    },
}

/// Where a login started from the TUI stands.
#[derive(Debug, Clone, PartialEq)]
pub enum LoginState {
    Starting,
    /// Waiting for the user to approve in a browser.
    Waiting(LoginPrompt),
}

/// Which single edit a reply belongs to.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    Create,
    Update,
    Remove {
        ids: Vec<LicenseId>,
        name: String,
    },
    Restore,
    /// An assignment or unassignment, described for the status bar.
    Assign(String),
    /// A change of a member, described for the status bar.
    Member(String),
    /// A one-time link (an invitation, a password reset), titled, to show once made.
    Link(String),
    /// What offboarding would release, to confirm.
    OffboardPreview,
    Offboard,
}

/// The expiry alerts in effect, the first of `total` of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertList {
    pub alerts: Vec<ExpiryAlert>,
    pub total: usize,
}
