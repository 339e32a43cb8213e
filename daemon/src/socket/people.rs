//! The socket's requests about people and the organization: members are read from the
//! cache (also offline); the managers' edits are forwarded to the server and answered once
//! their change is in the cache, as license edits are.

use super::{Connection, field_problem};
use chrono::Utc;
use lm_protocol::Problem;
use lm_protocol::socket::{
    ChangeMemberRequest, ChangeOrgRequest, InviteRequest, MAX_LIST_LIMIT, MemberRef, MemberWindow,
    MembersRequest, OffboardRequest, Reply, Request, keep_within_frame,
};

impl Connection {
    /// Answers a request about people or the organization.
    pub(super) async fn people(&self, request: Request) -> Result<Reply, Box<Problem>> {
        let cache = &self.shared.cache;
        match request {
            Request::Members(MembersRequest {
                filter,
                offset,
                limit,
            }) => {
                if limit > MAX_LIST_LIMIT {
                    return Err(field_problem(
                        "limit",
                        format!("must be at most {MAX_LIST_LIMIT}"),
                    ));
                }
                let (total, mut items) = cache.members(&filter, offset, limit, Utc::now());
                keep_within_frame(&mut items);
                Ok(Reply::Members(MemberWindow {
                    items,
                    total,
                    offset,
                }))
            }
            Request::Member(MemberRef { name }) => cache
                .member(&name, Utc::now())
                .map(|detail| Reply::Member(Box::new(detail)))
                .ok_or_else(|| no_member(&name)),
            Request::ChangeMember(ChangeMemberRequest { name, patch }) => {
                let changed = self.remote()?.change_member(&name, &patch).await?;
                self.wait_until(|| {
                    cache.member(&name, Utc::now()).is_some_and(|d| {
                        d.member.role == changed.role && d.member.status == changed.status
                    })
                })
                .await;
                cache
                    .member(&name, Utc::now())
                    .map(|detail| Reply::Member(Box::new(detail)))
                    .ok_or_else(|| no_member(&name))
            }
            Request::Offboard(OffboardRequest { name, dry_run }) => {
                let outcome = self.remote()?.offboard(&name, dry_run).await?;
                if !dry_run {
                    self.wait_until(|| {
                        cache.member(&name, Utc::now()).is_none_or(|d| {
                            d.member.status == lm_protocol::MemberStatus::Disabled
                                && d.holdings.is_empty()
                        })
                    })
                    .await;
                }
                Ok(Reply::Offboarding(outcome))
            }
            Request::Invite(InviteRequest { invitation }) => {
                let issued = self.remote()?.invite(&invitation).await?;
                let name = issued.invitation.name.clone();
                self.wait_until(|| cache.member(&name, Utc::now()).is_some())
                    .await;
                Ok(Reply::Link(issued))
            }
            Request::ResetPassword(MemberRef { name }) => {
                Ok(Reply::Link(self.remote()?.reset_password(&name).await?))
            }
            Request::Org(_) => match self.remote() {
                Ok(remote) => match remote.org().await {
                    Ok(org) => {
                        self.shared.set_org(org.clone());
                        Ok(Reply::Org(org))
                    }
                    Err(e) => self.shared.org().map(Reply::Org).ok_or_else(|| e.into()),
                },
                // Offline: the settings as last read.
                Err(problem) => self.shared.org().map(Reply::Org).ok_or(problem),
            },
            Request::ChangeOrg(ChangeOrgRequest { patch }) => {
                let org = self.remote()?.change_org(&patch).await?;
                self.shared.set_org(org.clone());
                Ok(Reply::Org(org))
            }
            other => unreachable!("not a request about people: {other:?}"),
        }
    }
}

fn no_member(name: &str) -> Box<Problem> {
    Box::new(Problem::local(
        lm_protocol::problem::kinds::NOT_FOUND,
        404,
        "Not found",
        format!("no member {name} in the cache"),
    ))
}
