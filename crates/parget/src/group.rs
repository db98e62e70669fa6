//! Groups: requests that belong together (a package and its signature, a
//! content unit of several files) and are reported once, when every
//! member is done.

use crate::hooks::Tag;
use crate::report::Report;
use crate::request::Request;

/// What one member's failure does to the rest of its group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GroupPolicy {
    /// The other members are cancelled and the `.part` files they hold
    /// removed: the group is useless without every member. A member that
    /// had not claimed its file yet leaves any `.part` there alone (an
    /// earlier run's, or another writer's). The default.
    #[default]
    CancelOnFailure,
    /// The other members run to their end.
    FinishAll,
}

/// Requests reported together. Members of many groups run interleaved
/// under the downloader's limits; the group's report comes when its last
/// member ends.
///
/// ```
/// use parget::{Group, GroupPolicy, Request};
/// let group = Group::new([
///     Request::new("https://example.com/p.deb", "p.deb")?,
///     Request::new("https://example.com/p.deb.asc", "p.deb.asc")?,
/// ])
/// .with_policy(GroupPolicy::FinishAll);
/// assert_eq!(group.requests().len(), 2);
/// # Ok::<(), parget::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Group {
    requests: Vec<Request>,
    policy: GroupPolicy,
    tag: Option<Tag>,
}

impl Group {
    /// A group of `requests`, with the default policy.
    pub fn new(requests: impl IntoIterator<Item = Request>) -> Group {
        Group {
            requests: requests.into_iter().collect(),
            policy: GroupPolicy::default(),
            tag: None,
        }
    }

    /// Sets what a member's failure does to the others.
    pub fn with_policy(mut self, policy: GroupPolicy) -> Group {
        self.policy = policy;
        self
    }

    /// Attaches `tag`; it comes back on the group's report.
    pub fn with_tag(mut self, tag: Tag) -> Group {
        self.tag = Some(tag);
        self
    }

    /// The members, in order.
    pub fn requests(&self) -> &[Request] {
        &self.requests
    }

    /// The policy.
    pub fn policy(&self) -> GroupPolicy {
        self.policy
    }

    pub(crate) fn into_parts(self) -> (Vec<Request>, GroupPolicy, Option<Tag>) {
        (self.requests, self.policy, self.tag)
    }
}

/// The end of a group: every member's report, in member order.
#[derive(Debug)]
pub struct GroupReport {
    pub(crate) reports: Vec<Report>,
    pub(crate) tag: Option<Tag>,
}

impl GroupReport {
    /// True when every member ended well (downloaded or skipped).
    pub fn is_ok(&self) -> bool {
        self.reports.iter().all(Report::is_ok)
    }

    /// The members' reports, in member order.
    pub fn reports(&self) -> &[Report] {
        &self.reports
    }

    /// Takes the members' reports.
    pub fn into_reports(self) -> Vec<Report> {
        self.reports
    }

    /// The group's tag, if it had one.
    pub fn tag(&self) -> Option<&Tag> {
        self.tag.as_ref()
    }
}
